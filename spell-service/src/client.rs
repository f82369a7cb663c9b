//! The submitting side: [`Client`] publishes packages and cast requests, awaits results and
//! reads lifecycles.

use crate::connect::NatsOptions;
use crate::error::ServiceError;
use crate::job::CastJob;
use crate::lifecycle;
use crate::packages;
use crate::record::{CastResult, CastState, DeadLetter, Lifecycle, UsageEntry};
use crate::streams::{DEAD_STREAM, RESULT_BUCKET, STORED_PREFIX, Streams, USAGE_STREAM};
use async_nats::jetstream::{self, kv, message::PublishMessage};
use futures_util::StreamExt;
use spell_core::Sha256Digest;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// finish). It returns once the result is stored, the cast's for good (the first stored);
    /// the worker then publishes its usage entry and, that stored, makes the lifecycle final
    /// (with `finished_at_ms`), or the request's redelivery does should the worker be lost
    /// first: a result seen here is billed. [`Self::status`] reports the result's final state
    /// from then on.
    /// Dead-lettered casts have a result too, with `state` `dead_letter` and `error`. A cast
    /// that finished but whose result is past the retention is `E-SVC-011`, found by the read
    /// after the first second of silence.
    pub async fn wait(&self, cast_id: &str, timeout: Duration) -> Result<CastResult, ServiceError> {
        let started = Instant::now();
        let waited = async {
            // Subscribed before the check, so a result stored in between still goes by.
            let stored = self.watch(cast_id).await?;
            if let Some(result) = self.result(cast_id).await? {
                return Ok(result);
            }
            self.await_stored(cast_id, stored).await
        };
        self.timed(cast_id, started, timeout, waited).await
    }

    /// Submits and waits for the result. The subscription is made before the submission, so
    /// nothing the cast stores can go by before it; and the lifecycle the submission found (a
    /// final one for a cast done before) is all there is to check: one read fewer than
    /// [`Self::submit`] and then [`Self::wait`].
    pub async fn cast(&self, job: &CastJob, timeout: Duration) -> Result<CastResult, ServiceError> {
        let started = Instant::now();
        let cast_id = job.cast_id();
        let waited = async {
            let stored = self.watch(&cast_id).await?;
            let (_, lifecycle) = self.submit_queued(job).await?;
            if lifecycle.state.is_final() {
                // Done before: nothing to wait for.
                return self.stored_result(&cast_id).await;
            }
            self.await_stored(&cast_id, stored).await
        };
        self.timed(&cast_id, started, timeout, waited).await
    }

    async fn timed(
        &self,
        cast_id: &str,
        started: Instant,
        timeout: Duration,
        waited: impl Future<Output = Result<CastResult, ServiceError>>,
    ) -> Result<CastResult, ServiceError> {
        tokio::time::timeout(timeout, waited)
            .await
            .map_err(|_| ServiceError::Timeout {
                cast_id: cast_id.into(),
                waited_ms: started.elapsed().as_millis() as u64,
            })?
    }

    /// Subscribes to the result the server stores for `cast_id` ([`STORED_PREFIX`]), once the
    /// bucket took it. Subscribed before anything this client sends next, on the same
    /// connection, so before anything a cast it then submits stores. `None` for an id no cast
    /// has (nor a subject to subscribe to).
    async fn watch(&self, cast_id: &str) -> Result<Option<async_nats::Subscriber>, ServiceError> {
        if !is_cast_id(cast_id) {
            return Ok(None);
        }
        self.streams
            .js
            .client()
            .subscribe(format!("{STORED_PREFIX}.{cast_id}"))
            .await
            .map(Some)
            .map_err(|e| ServiceError::transport("stored subscribe", e))
    }

    /// Takes what goes by on the cast's subject until its result does. Results stored while
    /// the connection was down are lost to the subscription, so the result is also read after
    /// each stretch of silence, from a second up to [`MAX_SILENCE`].
    async fn await_stored(
        &self,
        cast_id: &str,
        mut stored: Option<async_nats::Subscriber>,
    ) -> Result<CastResult, ServiceError> {
        let mut silence = Duration::from_secs(1);
        loop {
            let next = async {
                match stored.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            let message = tokio::select! {
                message = next => message,
                _ = tokio::time::sleep(silence) => {
                    // The lifecycle first: a final state is made once its result is stored,
                    // so a result missing after it is gone (expired), never still to come.
                    let finished = lifecycle::get(&self.streams.state, cast_id)
                        .await?
                        .is_some_and(|(l, _)| l.state.is_final());
                    if finished {
                        return self.stored_result(cast_id).await;
                    }
                    if let Some(result) = self.result(cast_id).await? {
                        return Ok(result);
                    }
                    silence = (silence * 2).min(MAX_SILENCE);
                    continue;
                }
            };
            let Some(message) = message else {
                stored = None; // the connection closed: reads alone from here
                continue;
            };
            if let Some(result) = republished_result(&message)
                && result.cast_id == cast_id
            {
                return Ok(result);
            }
        }
    }

    /// The result of a cast whose lifecycle is final (a worker stores it first, so a final
    /// state without one is a result past its retention).
    async fn stored_result(&self, cast_id: &str) -> Result<CastResult, ServiceError> {
        self.result(cast_id)
            .await?
            .ok_or_else(|| ServiceError::ResultExpired(cast_id.into()))
    }

    /// A cast's result, if it has one.
    pub async fn result(&self, cast_id: &str) -> Result<Option<CastResult>, ServiceError> {
        read_result(&self.streams.results, cast_id).await
    }

    /// A cast's lifecycle (`E-SVC-008` when no cast has this id). A cast whose result is
    /// stored is in its result's final state, as [`Self::wait`] sees it, even while the
    /// worker's move to that state is on its way (then without `finished_at_ms`).
    pub async fn status(&self, cast_id: &str) -> Result<Lifecycle, ServiceError> {
        let lifecycle = lifecycle::get(&self.streams.state, cast_id)
            .await?
            .map(|(l, _)| l);
        let result = match &lifecycle {
            Some(l) if l.state.is_final() => None,
            _ => self.result(cast_id).await?,
        };
        match (lifecycle, result) {
            (current, Some(result)) => Ok(Lifecycle::finished_by(current.as_ref(), &result, None)),
            (Some(current), None) => Ok(current),
            (None, None) => Err(ServiceError::UnknownCast(cast_id.into())),
        }
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

/// Whether `id` has the form [`CastJob::cast_id`] gives: 32 lowercase hex digits.
fn is_cast_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The longest a wait goes without reading the result when nothing goes by.
const MAX_SILENCE: Duration = Duration::from_secs(8);

/// A result the result bucket stored, as republished on [`STORED_PREFIX`] (its `Nats-Stream`
/// header names the bucket's stream); `None` for a deletion or anything else.
fn republished_result(message: &async_nats::Message) -> Option<CastResult> {
    let headers = message.headers.as_ref()?;
    if headers.get("KV-Operation").is_some() {
        return None; // a deletion or purge
    }
    if headers.get("Nats-Stream")?.as_str().strip_prefix("KV_")? != RESULT_BUCKET {
        return None;
    }
    serde_json::from_slice(&message.payload).ok()
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
