//! The submitting side: [`Client`] publishes packages and cast requests, awaits results and
//! reads lifecycles.

use crate::connect::NatsOptions;
use crate::error::ServiceError;
use crate::job::CastJob;
use crate::lifecycle;
use crate::packages;
use crate::record::{CastResult, CastState, DeadLetter, Lifecycle, UsageEntry};
use crate::streams::{DEAD_STREAM, RESULT_BUCKET, Streams, USAGE_STREAM};
use async_nats::jetstream::{self, kv, message::PublishMessage};
use futures_util::{FutureExt, StreamExt};
use spell_core::Sha256Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A submission's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The cast's id (from the tenant and the idempotency key).
    pub cast_id: String,
    /// Whether the request stream already had this cast id within its de-duplication window:
    /// this submission made no new cast.
    pub duplicate: bool,
}

/// Submits casts to service-mode workers and reads their results. Cheap to clone.
///
/// ```no_run
/// use spell_service::{CastJob, Client, NatsOptions};
/// use std::time::Duration;
/// # async fn run() -> Result<(), spell_service::ServiceError> {
/// let client = Client::connect(&NatsOptions::new("nats://127.0.0.1:4222")).await?;
/// let (digest, _) = client.publish(&std::fs::read("examples/hello/hello.spell").unwrap()).await?;
/// let job = CastJob::new(digest.to_hex(), "acme", "order-17").arg("world");
/// let submitted = client.submit(&job).await?;
/// let result = client.wait(&submitted.cast_id, Duration::from_secs(10)).await?;
/// println!("{} {}", result.state, String::from_utf8_lossy(&result.stdout));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    /// Shared by the clones: each bucket handle holds its stream's whole configuration.
    pub(crate) streams: Arc<Streams>,
    finals: Arc<FinalStates>,
}

impl Client {
    /// Connects and opens the service's streams (`E-SVC-002` when a worker never created them).
    pub async fn connect(options: &NatsOptions) -> Result<Client, ServiceError> {
        Client::new(options.connect().await?).await
    }

    /// A client over an existing connection.
    pub async fn new(client: async_nats::Client) -> Result<Client, ServiceError> {
        let js = jetstream::new(client);
        Ok(Client {
            streams: Arc::new(Streams::open(&js).await?),
            finals: Arc::default(),
        })
    }

    /// Publishes a package by its digest; `(digest, false)` when it was already published.
    pub async fn publish(&self, package: &[u8]) -> Result<(Sha256Digest, bool), ServiceError> {
        packages::publish(&self.streams, package).await
    }

    /// The digests of every published package (the names in the `spell_packages` object store
    /// that are digests; anything else there is skipped).
    pub async fn packages(&self) -> Result<Vec<Sha256Digest>, ServiceError> {
        packages::list(&self.streams).await
    }

    /// The package published under `digest` (`E-SVC-004` when there is none), refused before
    /// reading when larger than `max_bytes`. The object store checks its SHA-256 while reading.
    pub async fn package(
        &self,
        digest: &Sha256Digest,
        max_bytes: u64,
    ) -> Result<Vec<u8>, ServiceError> {
        packages::fetch(&self.streams, digest, max_bytes).await
    }

    /// Submits a cast. Submitting the same tenant and idempotency key again (a retry after a
    /// lost reply, a concurrent duplicate) names the same cast and makes no second one.
    pub async fn submit(&self, job: &CastJob) -> Result<Submitted, ServiceError> {
        Ok(self.submit_queued(job).await?.0)
    }

    /// Submits, and returns the lifecycle the submission found or wrote.
    async fn submit_queued(&self, job: &CastJob) -> Result<(Submitted, Lifecycle), ServiceError> {
        let payload = job.to_json()?;
        let cast_id = job.cast_id();
        let mut publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(&cast_id);
        if let Some(tp) = &job.traceparent {
            publish = publish.header("traceparent", tp.as_str());
        }
        let queued_at = crate::worker::now_ms();
        let queued = lifecycle::advance(&self.streams.state, &cast_id, Some(None), |current| {
            current.cloned().unwrap_or_else(|| Lifecycle {
                cast_id: cast_id.clone(),
                tenant: job.tenant.clone(),
                spell: job.spell.clone(),
                state: CastState::Queued,
                worker: None,
                attempt: 0,
                queued_at_ms: queued_at,
                started_at_ms: None,
                progress_at_ms: None,
                finished_at_ms: None,
                traceparent: job.traceparent.clone(),
                result_digest: None,
            })
        });
        let published = async {
            self.streams
                .js
                .send_publish(format!("spell.cast.{}", job.tenant), publish)
                .await
                .map_err(|e| ServiceError::transport("request publish", e))?
                .await
                .map_err(|e| ServiceError::transport("request publish", e))
        };
        let (queued, ack) = tokio::join!(queued, published);
        let (lifecycle, _) = queued?;
        let submitted = Submitted {
            cast_id,
            duplicate: ack?.duplicate,
        };
        Ok((submitted, lifecycle))
    }

    /// Waits for a cast's result, at most `timeout` (`E-SVC-007` then; the cast may still
    /// finish). It returns once the cast's lifecycle is final, which a worker writes after
    /// storing the result and together with its usage entry: a result seen here is billed, or
    /// is billed by the request's redelivery should that entry fail to be published.
    /// Dead-lettered casts have a result too, with `state` `dead_letter` and `error`.
    pub async fn wait(&self, cast_id: &str, timeout: Duration) -> Result<CastResult, ServiceError> {
        self.wait_watched(cast_id, timeout, None).await
    }

    /// [`Self::wait`], given a watch set up before the cast could have become final: then the
    /// first check of its lifecycle is not needed.
    async fn wait_watched(
        &self,
        cast_id: &str,
        timeout: Duration,
        mut watched: Option<Watch>,
    ) -> Result<CastResult, ServiceError> {
        let started = Instant::now();
        let waited = async {
            loop {
                let watch = match watched.take() {
                    Some(watch) => watch,
                    None => {
                        // Watching before the check, so a final state written in between
                        // still wakes us.
                        let watch = self.watch(cast_id).await?;
                        if let Some((lifecycle, _)) =
                            lifecycle::get(&self.streams.state, cast_id).await?
                            && lifecycle.state.is_final()
                        {
                            return self.final_result(cast_id, &lifecycle, watch.passing).await;
                        }
                        watch
                    }
                };
                // Woken by a final state, or by the watch ending: then check again.
                if let Ok(Some(lifecycle)) = watch.woken.await {
                    return self.final_result(cast_id, &lifecycle, watch.passing).await;
                }
            }
        };
        let outcome = tokio::time::timeout(timeout, waited).await;
        self.finals.forget(cast_id);
        outcome.map_err(|_| ServiceError::Timeout {
            cast_id: cast_id.into(),
            waited_ms: started.elapsed().as_millis() as u64,
        })?
    }

    /// Sets up a wait for `cast_id`: its final state's wake-up, and a subscription to the
    /// subject its result is stored under, so the stored bytes go by this client as the server
    /// takes them, before the final state (which a worker writes once they are stored) does.
    /// Subscribed before anything this client sends next, on the same connection, so before
    /// any result of a cast it then submits.
    async fn watch(&self, cast_id: &str) -> Result<Watch, ServiceError> {
        let passing = match is_cast_id(cast_id) {
            true => Some(
                self.streams
                    .js
                    .client()
                    .subscribe(format!("$KV.{RESULT_BUCKET}.{cast_id}"))
                    .await
                    .map_err(|e| ServiceError::transport("result subscribe", e))?,
            ),
            // Not a key a result is stored under (nor a subject to subscribe to).
            false => None,
        };
        let woken = self.finals.register(&self.streams.state, cast_id).await?;
        Ok(Watch { woken, passing })
    }

    /// The result of a cast whose lifecycle is final: the one that went by when it names it,
    /// else read back. A result going by may also be one that lost the race to be stored (a
    /// duplicate delivery's), which the final state's digest tells apart.
    async fn final_result(
        &self,
        cast_id: &str,
        done: &Lifecycle,
        passing: Option<async_nats::Subscriber>,
    ) -> Result<CastResult, ServiceError> {
        if let (Some(digest), Some(mut passing)) = (&done.result_digest, passing) {
            // Whatever went by is queued already: it reached this connection before the final
            // state that woke us.
            while let Some(Some(message)) = passing.next().now_or_never() {
                if let Ok(result) = serde_json::from_slice::<CastResult>(&message.payload)
                    && result.digest() == *digest
                {
                    return Ok(result);
                }
            }
        }
        self.result(cast_id)
            .await?
            .ok_or_else(|| ServiceError::transport("result read", "final state without a result"))
    }

    /// Submits and waits for the result. The wait is set up before the submission, so a new
    /// cast's final state cannot come before the watch sees it, nor its result before the
    /// subscription; and the lifecycle the submission found (a final one for a cast done
    /// before) is all there is to check: one read fewer than [`Self::submit`] and then
    /// [`Self::wait`].
    pub async fn cast(&self, job: &CastJob, timeout: Duration) -> Result<CastResult, ServiceError> {
        let cast_id = job.cast_id();
        let watch = self.watch(&cast_id).await?;
        let submitted = self.submit_queued(job).await;
        let submitted = match submitted {
            Ok((s, l)) if !l.state.is_final() => s,
            done => {
                // Failed, or the cast was done before: nothing to wait for.
                drop(watch);
                self.finals.forget(&cast_id);
                let (submitted, lifecycle) = done?;
                return self
                    .final_result(&submitted.cast_id, &lifecycle, None)
                    .await;
            }
        };
        self.wait_watched(&submitted.cast_id, timeout, Some(watch))
            .await
    }

    /// A cast's result, if it has one.
    pub async fn result(&self, cast_id: &str) -> Result<Option<CastResult>, ServiceError> {
        read_result(&self.streams.results, cast_id).await
    }

    /// A cast's lifecycle (`E-SVC-008` when no cast has this id).
    pub async fn status(&self, cast_id: &str) -> Result<Lifecycle, ServiceError> {
        lifecycle::get(&self.streams.state, cast_id)
            .await?
            .map(|(l, _)| l)
            .ok_or_else(|| ServiceError::UnknownCast(cast_id.into()))
    }
}

impl Client {
    /// Every entry of the usage stream, in order: what billing consumers read. The stream holds
    /// exactly one [`crate::Billed::Cast`] entry per cast that ran.
    pub async fn usage_entries(&self) -> Result<Vec<UsageEntry>, ServiceError> {
        read_stream(&self.streams.js, USAGE_STREAM).await
    }

    /// Every entry of the dead-letter stream, in order.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, ServiceError> {
        read_stream(&self.streams.js, DEAD_STREAM).await
    }
}

/// Reads a whole stream of JSON entries (a snapshot up to its last sequence now).
async fn read_stream<T: serde::de::DeserializeOwned>(
    js: &jetstream::Context,
    name: &str,
) -> Result<Vec<T>, ServiceError> {
    let mut stream = js
        .get_stream(name)
        .await
        .map_err(|e| ServiceError::transport("stream open", e))?;
    let state = stream
        .info()
        .await
        .map_err(|e| ServiceError::transport("stream info", e))?
        .state
        .clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    for seq in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue; // deleted
        };
        out.push(
            serde_json::from_slice(&message.payload)
                .map_err(|e| ServiceError::transport("entry decode", e))?,
        );
    }
    Ok(out)
}

/// What a wait listens to (see [`Client::watch`]).
struct Watch {
    /// The final lifecycle, or `None` when the watch ended first.
    woken: oneshot::Receiver<Option<Lifecycle>>,
    /// Messages on the cast's result subject.
    passing: Option<async_nats::Subscriber>,
}

/// Whether `id` has the form [`CastJob::cast_id`] gives: 32 lowercase hex digits.
fn is_cast_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Wakes waiters when their cast's lifecycle becomes final. One watch of the whole `spell_state`
/// bucket per client, started by the first wait, instead of a consumer per waited cast: waiting
/// for thousands of casts costs the server one consumer.
#[derive(Default)]
struct FinalStates {
    waiters: Mutex<Waiters>,
    /// Held while a watch starts, so no registration returns before a watch is live: a final
    /// state written after `register` returns is always seen.
    starting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Waiters {
    watching: bool,
    by_cast: HashMap<String, Vec<oneshot::Sender<Option<Lifecycle>>>>,
}

impl FinalStates {
    /// A receiver told the final lifecycle when `cast_id` reaches it, `None` when the watch
    /// ends.
    async fn register(
        self: &Arc<Self>,
        state: &kv::Store,
        cast_id: &str,
    ) -> Result<oneshot::Receiver<Option<Lifecycle>>, ServiceError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters)
            .by_cast
            .entry(cast_id.to_string())
            .or_default()
            .push(tx);
        let _starting = self.starting.lock().await;
        if !lock(&self.waiters).watching {
            let updates = match state.watch_all().await {
                Ok(u) => u,
                Err(e) => {
                    self.wake_all();
                    return Err(ServiceError::transport("state watch", e));
                }
            };
            lock(&self.waiters).watching = true;
            tokio::spawn(self.clone().run(updates));
        }
        Ok(rx)
    }

    async fn run(self: Arc<Self>, mut updates: kv::Watch) {
        while let Some(Ok(entry)) = updates.next().await {
            let done = (entry.operation == kv::Operation::Put)
                .then(|| serde_json::from_slice::<Lifecycle>(&entry.value).ok())
                .flatten()
                .filter(|l| l.state.is_final());
            if let Some(done) = done
                && let Some(waiters) = lock(&self.waiters).by_cast.remove(&entry.key)
            {
                for w in waiters {
                    let _ = w.send(Some(done.clone()));
                }
            }
        }
        self.wake_all();
    }

    /// Drops `cast_id`'s waiters that stopped waiting (a wait that timed out or failed), and
    /// its entry with them when none is left.
    fn forget(&self, cast_id: &str) {
        let mut w = lock(&self.waiters);
        if let Some(waiters) = w.by_cast.get_mut(cast_id) {
            waiters.retain(|tx| !tx.is_closed());
            if waiters.is_empty() {
                w.by_cast.remove(cast_id);
            }
        }
    }

    /// Ends the watch: every waiter checks again (and the next registration watches anew).
    fn wake_all(&self) {
        let mut w = lock(&self.waiters);
        w.watching = false;
        for (_, waiters) in w.by_cast.drain() {
            for w in waiters {
                let _ = w.send(None);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a stored result.
pub(crate) async fn read_result(
    results: &kv::Store,
    cast_id: &str,
) -> Result<Option<CastResult>, ServiceError> {
    match results
        .get(cast_id)
        .await
        .map_err(|e| ServiceError::transport("result read", e))?
    {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ServiceError::transport("result decode", e)),
        None => Ok(None),
    }
}
