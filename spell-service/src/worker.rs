//! The worker: pulls cast requests from the shared durable consumer, casts them with the
//! worker's own runtime and policy, stores results and bills usage exactly once per cast id.
//!
//! Per request, in this order (each step idempotent by cast id, so a redelivery at any point
//! ends in the same state):
//! 1. a result already stored → answered from the store: its usage entry is published again
//!    (de-duplicated by the usage stream), the lifecycle finished, the request acked; no cast;
//! 2. a previous attempt left `running` (its worker died) → that attempt is billed as a failed
//!    attempt with what is known of it;
//! 3. the package is fetched by digest and loaded under the worker's policy (cached); the
//!    lifecycle moves to `running` with this attempt while the cast runs (with progress acks)
//!    and its result is stored;
//! 4. the result is stored by a KV create: the first stored result is the cast's result, a
//!    later one (a racing duplicate) is billed as a failed attempt;
//! 5. the usage entry is published with the cast id as `Nats-Msg-Id`, then the lifecycle
//!    finished (a final lifecycle is a billed cast: a waiting client has had the result since
//!    step 4); then the request is acked.
//!
//! Requests that can never succeed (malformed, unknown digest, package or request refused by
//! the policy) are dead-lettered at once and terminated; transient failures are naked with a
//! growing delay, and dead-lettered on the last attempt. Requests whose every delivery was lost
//! with its worker are dead-lettered from the server's max-deliveries advisory.

use crate::error::ServiceError;
use crate::job::{CastJob, subject_tenant};
use crate::lifecycle;
use crate::packages;
use crate::record::{Billed, CastResult, CastState, DeadLetter, ErrorInfo, Lifecycle, UsageEntry};
use crate::streams::{CAST_STREAM, ServiceConfig, Streams, WORKER_CONSUMER};
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, kv, message::PublishMessage};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use spell_core::{ErrorCode, HasCode, Policy, Sha256Digest};
use spell_runtime::{
    CancelHandle, CastOutcome, CastRequest, Outcome, RescanReport, Runtime, Spell, UsageRecord,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Cap on stdout and on stderr kept in a stored result: results live in a KV bucket whose
/// values must fit one NATS message.
pub const RESULT_OUTPUT_CAP: usize = 256 << 10;

/// Packages kept loaded per worker.
const SPELL_CACHE_CAPACITY: usize = 64;

/// Builds a [`Worker`]. Defaults: 4 concurrent casts, no per-tenant cap, a 30-second drain
/// bound, heartbeats every 5 seconds, a random worker id, [`ServiceConfig::default`].
pub struct WorkerBuilder {
    client: async_nats::Client,
    runtime: Runtime,
    policy: Policy,
    concurrency: usize,
    tenant_concurrency: Option<usize>,
    drain_timeout: Duration,
    heartbeat: Duration,
    rescan_every: Option<Duration>,
    id: String,
    config: ServiceConfig,
}

impl WorkerBuilder {
    /// Casts at once (the most requests this worker holds unacknowledged). Default 4.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Casts at once per tenant on this worker; further requests of the tenant wait (with
    /// progress acks, so they are not redelivered). Default: no cap beyond `concurrency`.
    pub fn tenant_concurrency(mut self, n: usize) -> Self {
        self.tenant_concurrency = Some(n.max(1));
        self
    }

    /// How long a drain waits for in-flight casts before cancelling them. Default 30 s.
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// How often the worker announces itself on `spell.worker.heartbeat`. Default 5 s.
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = d;
        self
    }

    /// Re-verify the loaded spells this often against the policy's current trust files and OSV
    /// database ([`Worker::rescan`]). Default: only when [`Worker::rescan`] is called.
    pub fn rescan_every(mut self, d: Duration) -> Self {
        self.rescan_every = Some(d);
        self
    }

    /// The worker's id in lifecycles, results and heartbeats. Default: `worker-<random>`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Settings for streams and the consumer this worker creates if missing.
    pub fn config(mut self, config: ServiceConfig) -> Self {
        self.config = config;
        self
    }

    /// The worker.
    pub fn build(self) -> Worker {
        Worker {
            inner: Arc::new(Inner {
                js: jetstream::new(self.client.clone()),
                client: self.client,
                runtime: self.runtime,
                policy: std::sync::RwLock::new(self.policy),
                rescan_every: self.rescan_every,
                concurrency: self.concurrency,
                tenant_concurrency: self.tenant_concurrency,
                drain_timeout: self.drain_timeout,
                heartbeat: self.heartbeat,
                id: self.id,
                config: self.config,
                spells: Mutex::new(lru::LruCache::new(
                    std::num::NonZeroUsize::new(SPELL_CACHE_CAPACITY)
                        .unwrap_or(std::num::NonZeroUsize::MIN),
                )),
                loading: Mutex::default(),
                tenants: Mutex::new(HashMap::new()),
                stats: Stats::default(),
                pulling: AtomicBool::new(false),
            }),
        }
    }
}

/// A service-mode worker. Run as many as needed, in as many processes and machines; they share
/// the queue.
///
/// ```no_run
/// use spell_service::{NatsOptions, Worker};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = NatsOptions::new("nats://127.0.0.1:4222").connect().await?;
/// let policy = spell_core::Policy::from_file("examples/policy.toml".as_ref())?;
/// let worker = Worker::builder(client, spell_runtime::Runtime::new()?, policy).concurrency(8).build();
/// let stats = worker.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// println!("{} casts", stats.casts);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    js: jetstream::Context,
    runtime: Runtime,
    /// Replaced by [`Worker::rescan`] with a new policy.
    policy: std::sync::RwLock<Policy>,
    rescan_every: Option<Duration>,
    concurrency: usize,
    tenant_concurrency: Option<usize>,
    drain_timeout: Duration,
    heartbeat: Duration,
    id: String,
    config: ServiceConfig,
    spells: Mutex<lru::LruCache<Sha256Digest, Spell>>,
    /// The digests being fetched and loaded, each with the lock their requests take turns on:
    /// a first batch of requests for a new spell fetches, verifies and loads it once.
    loading: Mutex<HashMap<Sha256Digest, Arc<tokio::sync::Mutex<()>>>>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    stats: Stats,
    /// Pulling requests: its streams and consumer exist and it is not draining.
    pulling: AtomicBool,
}

#[derive(Default)]
struct Stats {
    casts: AtomicU64,
    answered_from_store: AtomicU64,
    dead_lettered: AtomicU64,
    retried: AtomicU64,
    in_flight: AtomicU64,
}

/// What a worker did, returned when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Casts run to a stored result.
    pub casts: u64,
    /// Requests for a cast already done (redeliveries, resubmissions), answered without casting.
    pub answered_from_store: u64,
    /// Requests dead-lettered.
    pub dead_lettered: u64,
    /// Requests naked for a retry (transient failures, drain).
    pub retried: u64,
}

/// How long [`Worker::ready`] waits for the packages bucket to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a worker is not ready ([`Worker::ready`], the `/readyz` body).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotReady {
    /// It is not pulling requests: it has not started yet, or it is draining.
    #[error("not pulling: starting or draining")]
    NotPulling,
    /// Its NATS connection is down (the client reconnects on its own).
    #[error("not connected to NATS")]
    Disconnected,
    /// The runtime's AOT cache folder cannot take compiled modules.
    #[error("AOT cache folder: {0}")]
    Cache(#[source] std::io::Error),
    /// The packages bucket did not answer.
    #[error("packages bucket `{bucket}`: {0}", bucket = crate::streams::PACKAGE_BUCKET)]
    Packages(String),
}

/// A worker's announcement on `spell.worker.heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The worker's id.
    pub worker: String,
    /// Casts in flight.
    pub in_flight: u64,
    /// Casts run so far.
    pub casts: u64,
    /// Whether it is draining.
    pub draining: bool,
    /// When, in ms since the Unix epoch.
    pub at_ms: u64,
}

/// Why handling a request stopped short of a result.
enum Failure {
    /// It can never succeed: dead-letter it now.
    Terminal(ServiceError),
    /// It may succeed later: retry with a delay.
    Transient(ServiceError),
    /// The worker is draining: hand it back.
    Drained,
    /// A later delivery took the cast over (this one went without acks for the ack wait) and
    /// billed this attempt as lost: leave the request to it.
    Superseded,
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Failure {
        match e {
            ServiceError::Transport { .. } | ServiceError::Timeout { .. } => Failure::Transient(e),
            ServiceError::Runtime(ref r)
                if matches!(
                    r.code(),
                    ErrorCode::Busy | ErrorCode::CastSetup | ErrorCode::RuntimeConfig
                ) =>
            {
                Failure::Transient(e)
            }
            e => Failure::Terminal(e),
        }
    }
}

impl Worker {
    /// A builder for a worker that casts with `runtime` under `policy` (the worker's own: a
    /// request cannot bring a policy).
    pub fn builder(client: async_nats::Client, runtime: Runtime, policy: Policy) -> WorkerBuilder {
        WorkerBuilder {
            client,
            runtime,
            policy,
            concurrency: 4,
            tenant_concurrency: None,
            drain_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            rescan_every: None,
            id: format!("worker-{:016x}", rand::random::<u64>()),
            config: ServiceConfig::default(),
        }
    }

    /// The worker's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Re-verifies every spell this worker loaded against `policy` (if given, it replaces the
    /// worker's policy for later loads too) or the worker's own, with the trust files and OSV
    /// database as they are now ([`Runtime::rescan`]). Revoked spells' next casts are refused
    /// with `E-SIG-008` (and dead-lettered: they cannot succeed under this policy); casts in
    /// flight finish. When anything changed, the report is published as JSON on
    /// `spell.revoked.<worker id>` (`{"worker", "report"}`) for operators and other workers.
    pub async fn rescan(&self, policy: Option<Policy>) -> Result<RescanReport, ServiceError> {
        rescan(&self.inner, policy).await
    }

    /// Whether the worker can take requests: it is pulling (its streams and consumer exist, it
    /// is not draining), its NATS connection is up, the runtime's AOT cache folder (if any) can
    /// take compiled modules ([`Runtime::check_cache`]) and the packages bucket answers (one
    /// JetStream request, bounded by [`READY_TIMEOUT`]). `Err` says which is not.
    pub async fn ready(&self) -> Result<(), NotReady> {
        let inner = &self.inner;
        if !inner.pulling.load(Ordering::Relaxed) {
            return Err(NotReady::NotPulling);
        }
        if inner.client.connection_state() != async_nats::connection::State::Connected {
            return Err(NotReady::Disconnected);
        }
        let runtime = inner.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.check_cache())
            .await
            .map_err(|e| NotReady::Cache(std::io::Error::other(e)))?
            .map_err(NotReady::Cache)?;
        match tokio::time::timeout(
            READY_TIMEOUT,
            inner.js.get_object_store(crate::streams::PACKAGE_BUCKET),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(NotReady::Packages(e.to_string())),
            Err(_) => Err(NotReady::Packages(format!(
                "no answer within {} ms",
                READY_TIMEOUT.as_millis()
            ))),
        }
    }

    /// The runtime's metrics ([`Runtime::metrics`]) followed by the worker's own counters
    /// (`spell_worker_*`), in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut text = self.inner.runtime.metrics();
        text.push_str(&self.inner.stats.encode());
        text
    }

    /// Serves `GET /metrics` ([`Worker::metrics`]), `/healthz` (200 while alive) and `/readyz`
    /// (200 when [`Worker::ready`], else 503 with the reason) over HTTP/1.1 on `listener`, until
    /// the future is dropped or accepting fails.
    pub async fn serve_status(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        crate::status::serve(self.clone(), listener).await
    }

    /// Creates whatever of the service's streams, buckets and consumer is missing ([`Worker::run`]
    /// does it too; call it first to know the worker is set up before it starts pulling).
    pub async fn ensure(&self) -> Result<Streams, ServiceError> {
        self.inner.config.ensure(&self.inner.js).await
    }

    /// The streams, the work queue and its consumer.
    async fn open(
        &self,
    ) -> Result<(Streams, jetstream::stream::Stream, PullConsumer), ServiceError> {
        let (streams, queue) = self.inner.config.ensure_with_queue(&self.inner.js).await?;
        Ok((streams, queue.casts, queue.consumer))
    }

    /// Works until `shutdown` completes, then drains: stops pulling, hands back requests it
    /// received but had not started (nak with a delay), waits up to the drain bound for casts in
    /// flight, cancels the rest (billing them as failed attempts) and hands them back too.
    /// A server that does not answer while the worker opens its streams is waited for (retried
    /// every 500 ms until shutdown), not an error; disconnections later are ridden out the same
    /// way, the client reconnecting by itself.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerStats, ServiceError> {
        let inner = &self.inner;
        tokio::pin!(shutdown);
        // A server restarting as the worker starts is no reason to exit: retry until it answers.
        let (streams, casts, consumer) = loop {
            let opened = tokio::select! {
                _ = &mut shutdown => return Ok(inner.stats.snapshot()),
                opened = self.open() => opened,
            };
            match opened {
                Ok(opened) => break opened,
                Err(e @ ServiceError::Transport { .. }) => {
                    tracing::warn!("opening the work queue failed, retrying: {e}");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(inner.stats.snapshot()),
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
                Err(e) => return Err(e),
            }
        };
        // Shared, not cloned, per request: each bucket handle holds its stream's whole
        // configuration and state (dozens of strings).
        let streams = Arc::new(streams);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut side_tasks = JoinSet::new();
        side_tasks.spawn(heartbeats(inner.clone(), stop_rx.clone()));
        if let Some(every) = inner.rescan_every {
            side_tasks.spawn(rescans(inner.clone(), every, stop_rx.clone()));
        }
        side_tasks.spawn(max_delivery_advisories(
            inner.clone(),
            streams.clone(),
            casts,
            stop_rx.clone(),
        ));

        inner.pulling.store(true, Ordering::Relaxed);
        let slots = Arc::new(Semaphore::new(inner.concurrency));
        let cancels: Arc<Mutex<HashMap<u64, CancelHandle>>> = Arc::default();
        let mut in_flight = JoinSet::new();
        let mut next_task = 0u64;
        let mut stopping = false;
        while !stopping {
            let first = tokio::select! {
                _ = &mut shutdown => break,
                permit = slots.clone().acquire_owned() => permit.map_err(|e| ServiceError::transport("slots", e))?,
            };
            while in_flight.try_join_next().is_some() {}
            let wanted = 1 + slots.available_permits();
            let batch = consumer
                .batch()
                .max_messages(wanted)
                .expires(Duration::from_millis(500))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // Disconnected or the server is restarting: the client reconnects by itself.
                    tracing::warn!("pull failed: {e}");
                    drop(first);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let mut first = Some(first);
            loop {
                let next = tokio::select! {
                    m = batch.next() => m,
                    _ = &mut shutdown, if !stopping => { stopping = true; continue; }
                };
                let Some(message) = next else { break };
                let Ok(message) = message else { continue };
                if stopping {
                    // Received but not started: hand it back without burning an attempt's wait.
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    inner.stats.retried.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let permit = match first.take() {
                    Some(p) => p,
                    None => slots
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| ServiceError::transport("slots", e))?,
                };
                let cancel = CancelHandle::new();
                next_task += 1;
                let task = next_task;
                lock(&cancels).insert(task, cancel.clone());
                let (inner, streams, cancels, stop_rx) = (
                    inner.clone(),
                    streams.clone(),
                    cancels.clone(),
                    stop_rx.clone(),
                );
                in_flight.spawn(async move {
                    inner.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                    // Boxed: a delivery's future is about 24 KB, and tokio moves a task's
                    // future whole (spawning it, reading its output): those copies were a
                    // tenth of a worker's CPU.
                    Box::pin(handle(&inner, &streams, message, cancel, stop_rx)).await;
                    inner.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                    lock(&cancels).remove(&task);
                    drop(permit);
                });
            }
        }
        inner.pulling.store(false, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        if tokio::time::timeout(inner.drain_timeout, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            for cancel in lock(&cancels).values() {
                cancel.cancel();
            }
            while in_flight.join_next().await.is_some() {}
        }
        side_tasks.shutdown().await;
        let _ = inner.client.flush().await;
        Ok(inner.stats.snapshot())
    }
}

impl Stats {
    /// The counters in the Prometheus text format.
    fn encode(&self) -> String {
        use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
        let mut registry = prometheus_client::registry::Registry::with_prefix("spell_worker");
        let s = self.snapshot();
        for (name, help, value) in [
            ("casts", "Casts run to a stored result", s.casts),
            (
                "answered_from_store",
                "Requests for a cast already done (redeliveries, resubmissions), not cast again",
                s.answered_from_store,
            ),
            ("dead_lettered", "Requests dead-lettered", s.dead_lettered),
            ("retried", "Requests naked for a retry", s.retried),
        ] {
            let counter = Counter::<u64>::default();
            counter.inc_by(value);
            registry.register(name, help, counter);
        }
        let in_flight = Gauge::<i64>::default();
        in_flight.set(i64::try_from(self.in_flight.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        registry.register("in_flight", "Requests being handled", in_flight);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }

    fn snapshot(&self) -> WorkerStats {
        WorkerStats {
            casts: self.casts.load(Ordering::Relaxed),
            answered_from_store: self.answered_from_store.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Handles one delivery to its end: acked with a result, naked for a retry, or terminated
/// after dead-lettering.
async fn handle(
    inner: &Arc<Inner>,
    streams: &Streams,
    message: jetstream::Message,
    cancel: CancelHandle,
    stop: watch::Receiver<bool>,
) {
    let attempt = message
        .info()
        .map(|i| i.delivered.max(1) as u32)
        .unwrap_or(1);
    let job = match CastJob::from_delivery(&message.subject, &message.payload) {
        Ok(job) => job,
        Err(e) => {
            // Named by its place in the stream: a publisher's `Nats-Msg-Id` could name another
            // tenant's cast and have its running attempt billed as lost.
            let seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            let cast_id = format!("seq-{seq}");
            let reason = ErrorInfo::of(&e);
            return settle_dead(inner, streams, &message, &cast_id, None, reason, attempt).await;
        }
    };
    let (span, traceparent) = delivery_span(&job, attempt);
    let delivery = Delivery {
        attempt,
        traceparent,
    };
    let settled = match process(inner, streams, &message, &job, &delivery, &cancel, &stop)
        .instrument(span)
        .await
    {
        Ok(()) => Ok(()),
        Err(Failure::Superseded) => Ok(()),
        Err(Failure::Drained) => {
            inner.stats.retried.fetch_add(1, Ordering::Relaxed);
            message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                .await
        }
        Err(Failure::Transient(e)) if (attempt as i64) < inner.config.max_deliver => {
            tracing::warn!("attempt {attempt} failed, retrying: {e}");
            inner.stats.retried.fetch_add(1, Ordering::Relaxed);
            message
                .ack_with(AckKind::Nak(Some(retry_delay(attempt))))
                .await
        }
        Err(Failure::Transient(e)) => {
            let reason = ErrorInfo::new(
                ErrorCode::ServiceAttemptsExhausted,
                format!("failed on all {attempt} attempts; last: {e}"),
            );
            let cast_id = job.cast_id();
            return settle_dead(
                inner,
                streams,
                &message,
                &cast_id,
                Some(&job),
                reason,
                attempt,
            )
            .await;
        }
        Err(Failure::Terminal(e)) => {
            let cast_id = job.cast_id();
            let reason = ErrorInfo::of(&e);
            return settle_dead(
                inner,
                streams,
                &message,
                &cast_id,
                Some(&job),
                reason,
                attempt,
            )
            .await;
        }
    };
    if let Err(e) = settled {
        // The delivery comes back after its ack wait and is answered from the store.
        tracing::warn!("settling a delivery failed: {e}");
    }
}

/// Dead-letters a delivery and terminates it; naks it for a retry when that fails.
async fn settle_dead(
    inner: &Arc<Inner>,
    streams: &Streams,
    message: &jetstream::Message,
    cast_id: &str,
    job: Option<&CastJob>,
    reason: ErrorInfo,
    attempt: u32,
) {
    let tenant = job
        .map(|j| j.tenant.as_str())
        .or_else(|| subject_tenant(&message.subject));
    let settled = match dead_letter(inner, streams, cast_id, tenant, job, reason, attempt).await {
        Ok(()) => message.ack_with(AckKind::Term).await,
        Err(e) => {
            tracing::warn!("dead-lettering {cast_id} failed, retrying: {e}");
            message
                .ack_with(AckKind::Nak(Some(retry_delay(attempt))))
                .await
        }
    };
    if let Err(e) = settled {
        tracing::warn!("settling a delivery failed: {e}");
    }
}

/// Back-off between attempts: 1, 2, 4, ... seconds, at most a minute.
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// One delivery of a request: which attempt it is, and the `traceparent` its cast joins.
struct Delivery {
    attempt: u32,
    /// The caller's trace with this delivery's span as the parent (see [`delivery_span`]).
    traceparent: Option<String>,
}

/// The `cast_request` span of a delivery: the service's cast id, tenant, spell digest and
/// attempt on every log line and span within it (the runtime's load and cast spans among them).
/// A request with a `traceparent` puts the span in the caller's trace (its `trace_id`,
/// `span_id` and `parent_span_id` fields, as the runtime's cast span has them), and the cast
/// joins the trace under this span rather than beside it: the returned `traceparent` names it.
fn delivery_span(job: &CastJob, attempt: u32) -> (tracing::Span, Option<String>) {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        "cast_request",
        cast_id = %job.cast_id(),
        tenant = %job.tenant,
        spell = %job.spell,
        attempt,
        trace_id = Empty,
        span_id = Empty,
        parent_span_id = Empty,
    );
    // Checked when the request was read: four dash-separated hex fields.
    let traceparent = job.traceparent.as_deref().and_then(|tp| {
        let mut fields = tp.split('-').skip(1);
        let (trace_id, parent, flags) = (fields.next()?, fields.next()?, fields.next()?);
        let span_id = format!("{:016x}", rand::random::<u64>().max(1));
        span.record("trace_id", trace_id);
        span.record("span_id", span_id.as_str());
        span.record("parent_span_id", parent);
        Some(format!("00-{trace_id}-{span_id}-{flags}"))
    });
    (span, traceparent)
}

async fn process(
    inner: &Arc<Inner>,
    streams: &Streams,
    message: &jetstream::Message,
    job: &CastJob,
    delivery: &Delivery,
    cancel: &CancelHandle,
    stop: &watch::Receiver<bool>,
) -> Result<(), Failure> {
    let attempt = delivery.attempt;
    let cast_id = job.cast_id();
    // A redelivery may find the cast done: it is answered from the store, never cast again, and
    // settled (billed, finished) again, as the delivery that stored the result may have failed
    // to. (A first delivery finds the cast done only when another request named it: see below.)
    if attempt > 1
        && let Some(result) = stored_result(&streams.results, &cast_id).await?
    {
        inner
            .stats
            .answered_from_store
            .fetch_add(1, Ordering::Relaxed);
        return finish(streams, message, result, None).await;
    }
    let prior = lifecycle::get(&streams.state, &cast_id).await?;
    if let Some((p, _)) = &prior
        && p.state.is_final()
    {
        // Done by another request for the same cast: its key came back after the request
        // stream's de-duplication window, or a publisher repeated it. Nothing to cast and
        // nothing to bill: the request that finished the cast billed it, or its redelivery
        // will; billing again would lean on the usage stream's window, which a late
        // resubmission outlives.
        inner
            .stats
            .answered_from_store
            .fetch_add(1, Ordering::Relaxed);
        return message
            .ack()
            .await
            .map_err(|e| Failure::Transient(ServiceError::transport("ack", e)));
    }
    if let Some((p, _)) = &prior
        && p.state == CastState::Running
        && p.attempt < attempt
    {
        publish_usage(&streams.js, &lost_attempt(p)).await?;
    }
    let _tenant_slot = tenant_slot(inner, message, &job.tenant).await?;
    let spell = load(inner, streams, job).await?;
    let request = CastRequest::new()
        .args(job.args.iter().cloned())
        .stdin(job.stdin.clone())
        .limits(job.limits)
        .cancel(cancel.clone());
    let request = job.env.iter().fold(request, |r, (k, v)| r.env(k, v));
    // The caller's trace, under this delivery's span: the cast's span and its outbound
    // requests join it, and the usage record names it.
    let request = match &delivery.traceparent {
        Some(tp) => request.traceparent(tp),
        None => request,
    };

    // Marked running while it runs, not before: the read above found the cast not done, and
    // the mark (for `spell status`, and for billing this attempt should its worker vanish) need
    // not hold the cast back by a round trip. A delivery racing this one (a duplicate request)
    // may have moved the lifecycle meanwhile; then this cast's result loses the race to be
    // stored and is billed as a failed attempt, as when the race comes later.
    let started = now_ms();
    let mark = lifecycle::advance(&streams.state, &cast_id, Some(prior), |current| Lifecycle {
        cast_id: cast_id.clone(),
        tenant: job.tenant.clone(),
        spell: job.spell.clone(),
        state: CastState::Running,
        worker: Some(inner.id.clone()),
        attempt,
        queued_at_ms: current.map(|c| c.queued_at_ms).unwrap_or(0),
        started_at_ms: Some(started),
        progress_at_ms: Some(started),
        finished_at_ms: None,
        traceparent: job.traceparent.clone(),
        result_digest: None,
    });
    let cast_started = std::time::Instant::now();
    let progress = progress_reports(inner, streams, message, &cast_id, attempt);
    // The result is stored while the mark is on its way too: its create does not depend on the
    // mark, so a cast shorter than a round trip waits for one before its lifecycle is
    // finished, not for two in a row.
    let store = async {
        let outcome = tokio::select! {
            outcome = spell.cast_async(request) => outcome,
            never = progress => match never {},
        };
        let outcome = outcome.map_err(|e| Failure::from(ServiceError::Runtime(e)))?;
        if outcome.outcome == Outcome::Cancelled && *stop.borrow() {
            let entry = failed_attempt(job, &cast_id, attempt, outcome.usage, "drained");
            publish_usage(&streams.js, &entry).await?;
            return Err(Failure::Drained);
        }
        // Only a cast that outlived half the ack wait can have been redelivered meanwhile
        // (progress acks keep a live one), so only such a cast pays for this check.
        if cast_started.elapsed() >= inner.config.ack_wait / 2
            && let Some((now, _)) = lifecycle::get(&streams.state, &cast_id).await?
            && now.attempt > attempt
        {
            return Err(Failure::Superseded);
        }
        inner.stats.casts.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            cast_id = %cast_id,
            tenant = %job.tenant,
            spell = %job.spell,
            spell_name = %outcome.usage.spell_name,
            attempt,
            outcome = %outcome.outcome,
            fuel = outcome.usage.fuel,
            wall_ns = outcome.usage.wall_ns,
            trace_id = outcome.usage.trace_id.as_deref(),
            "cast finished"
        );
        let result = result_of(inner, job, &cast_id, attempt, outcome);
        let stored = store_result(&streams.results, &result).await?;
        if stored != result {
            // Another delivery of the same request stored its result first (this one outlived
            // its ack wait): ours used resources but is not the cast's result.
            if let Some(usage) = &result.usage {
                let entry = failed_attempt(job, &cast_id, attempt, usage.clone(), "superseded");
                publish_usage(&streams.js, &entry).await?;
            }
        }
        Ok::<_, Failure>(stored)
    };
    let (running, stored) = tokio::join!(mark, store);
    // A mark that did not reach the server leaves the lifecycle queued: the result still
    // settles it (queued may become final).
    let running = running
        .inspect_err(|e| tracing::warn!("marking {cast_id} running failed: {e}"))
        .ok();
    finish(streams, message, stored?, running).await
}

/// Bills the cast's usage (idempotent by cast id), finishes its lifecycle, acks. A plain ack,
/// not a double ack: if it is lost the request comes back, finds its result stored and its
/// lifecycle final, and is settled and acked again without a second cast or a second bill, so
/// waiting a round trip for the server's confirmation buys nothing.
async fn finish(
    streams: &Streams,
    message: &jetstream::Message,
    result: CastResult,
    known: Option<(Lifecycle, u64)>,
) -> Result<(), Failure> {
    settle_result(streams, &result, known).await?;
    message
        .ack()
        .await
        .map_err(|e| Failure::Transient(ServiceError::transport("ack", e)))?;
    Ok(())
}

/// Bills a stored result's usage (idempotent by cast id), then finishes its lifecycle: a final
/// lifecycle is a billed cast. Each write is idempotent, and the stored result, written before
/// both, is what a redelivery settles again if either fails.
async fn settle_result(
    streams: &Streams,
    result: &CastResult,
    known: Option<(Lifecycle, u64)>,
) -> Result<(), ServiceError> {
    if let Some(usage) = &result.usage {
        let entry = UsageEntry {
            cast_id: result.cast_id.clone(),
            tenant: result.tenant.clone(),
            attempt: result.attempts,
            billed: Billed::Cast,
            reason: None,
            usage: usage.clone(),
        };
        publish_usage(&streams.js, &entry).await?;
    }
    finish_lifecycle(&streams.state, result, known).await
}

/// Moves the lifecycle to the result's final state; `known` is the caller's last read or write.
async fn finish_lifecycle(
    state: &kv::Store,
    result: &CastResult,
    known: Option<(Lifecycle, u64)>,
) -> Result<(), ServiceError> {
    let finished = now_ms();
    lifecycle::advance(state, &result.cast_id, known.map(Some), |current| {
        Lifecycle::finished_by(current, result, Some(finished))
    })
    .await
    .map(|_| ())
}

/// Sends a progress ack and records progress in the lifecycle every third of the ack wait, so a
/// long cast is not redelivered and a lost worker's attempt can be billed up to its last report.
async fn progress_reports(
    inner: &Arc<Inner>,
    streams: &Streams,
    message: &jetstream::Message,
    cast_id: &str,
    attempt: u32,
) -> std::convert::Infallible {
    let every = (inner.config.ack_wait / 3).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let _ = message.ack_with(AckKind::Progress).await;
        let _ = touch(&streams.state, cast_id, attempt, &inner.id).await;
    }
}

/// Records progress of a running attempt (not a state move: same state, same attempt).
async fn touch(
    state: &kv::Store,
    cast_id: &str,
    attempt: u32,
    worker: &str,
) -> Result<(), ServiceError> {
    if let Some((mut l, revision)) = lifecycle::get(state, cast_id).await?
        && l.state == CastState::Running
        && l.attempt == attempt
        && l.worker.as_deref() == Some(worker)
    {
        l.progress_at_ms = Some(now_ms());
        let value =
            serde_json::to_vec(&l).map_err(|e| ServiceError::transport("state encode", e))?;
        // A lost race means the lifecycle moved on; nothing to record then.
        let _ = state.update(cast_id, value.into(), revision).await;
    }
    Ok(())
}

/// Waits for a slot of the tenant's cap, reporting progress meanwhile.
async fn tenant_slot(
    inner: &Arc<Inner>,
    message: &jetstream::Message,
    tenant: &str,
) -> Result<Option<OwnedSemaphorePermit>, ServiceError> {
    let Some(cap) = inner.tenant_concurrency else {
        return Ok(None);
    };
    let slots = lock(&inner.tenants)
        .entry(tenant.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(cap)))
        .clone();
    let every = (inner.config.ack_wait / 3).max(Duration::from_millis(100));
    let acquire = slots.acquire_owned();
    tokio::pin!(acquire);
    loop {
        tokio::select! {
            permit = &mut acquire => return permit.map(Some).map_err(|e| ServiceError::transport("tenant slots", e)),
            _ = tokio::time::sleep(every) => { let _ = message.ack_with(AckKind::Progress).await; }
        }
    }
}

/// The spell for a request's digest, loaded under the worker's policy (cached per digest;
/// requests for one digest not yet cached wait for the first's load).
async fn load(inner: &Arc<Inner>, streams: &Streams, job: &CastJob) -> Result<Spell, ServiceError> {
    let digest = job.spell_digest()?;
    if let Some(spell) = lock(&inner.spells).get(&digest) {
        return Ok(spell.clone());
    }
    let turn = lock(&inner.loading).entry(digest).or_default().clone();
    let loaded = {
        let _turn = turn.lock().await;
        // The request before this one may have loaded it (after a failure, this one tries too).
        let cached = lock(&inner.spells).get(&digest).cloned();
        match cached {
            Some(spell) => Ok(spell),
            None => fetch_and_load(inner, streams, job, digest).await,
        }
    };
    let mut loading = lock(&inner.loading);
    // Clones are made under this lock: the map's and ours alone means nobody else waits.
    if Arc::strong_count(&turn) == 2 {
        loading.remove(&digest);
    }
    loaded
}

async fn fetch_and_load(
    inner: &Arc<Inner>,
    streams: &Streams,
    job: &CastJob,
    digest: Sha256Digest,
) -> Result<Spell, ServiceError> {
    let policy = read_policy(inner);
    let bytes = packages::fetch(streams, &digest, policy.package.max_package_bytes).await?;
    let inner2 = inner.clone();
    let spell = tokio::task::spawn_blocking(move || inner2.runtime.load(&bytes, &policy))
        .await
        .map_err(|e| ServiceError::transport("load task", e))??;
    if spell.digest() != digest {
        // The object store named it by another digest than its manifest has.
        return Err(ServiceError::UnknownSpell(job.spell.clone()));
    }
    lock(&inner.spells).put(digest, spell.clone());
    Ok(spell)
}

fn result_of(
    inner: &Inner,
    job: &CastJob,
    cast_id: &str,
    attempt: u32,
    o: CastOutcome,
) -> CastResult {
    let cap = |mut v: Vec<u8>| {
        let cut = v.len() > RESULT_OUTPUT_CAP;
        v.truncate(RESULT_OUTPUT_CAP);
        (v, cut)
    };
    let (stdout, cut_out) = cap(o.stdout);
    let (stderr, cut_err) = cap(o.stderr);
    CastResult {
        cast_id: cast_id.into(),
        tenant: job.tenant.clone(),
        spell: job.spell.clone(),
        state: CastState::of_outcome(o.outcome),
        outcome: Some(o.outcome),
        exit_code: o.exit_code,
        trap: o.trap,
        detail: o.detail,
        stdout,
        stderr,
        output_truncated: cut_out || cut_err,
        usage: Some(o.usage),
        error: None,
        attempts: attempt,
        worker: inner.id.clone(),
        traceparent: job.traceparent.clone(),
    }
}

async fn stored_result(
    results: &kv::Store,
    cast_id: &str,
) -> Result<Option<CastResult>, ServiceError> {
    crate::client::read_result(results, cast_id).await
}

/// Stores a result unless one is stored already; returns the stored one.
async fn store_result(
    results: &kv::Store,
    result: &CastResult,
) -> Result<CastResult, ServiceError> {
    let value =
        serde_json::to_vec(result).map_err(|e| ServiceError::transport("result encode", e))?;
    match results.create(&result.cast_id, value.into()).await {
        Ok(_) => Ok(result.clone()),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
            stored_result(results, &result.cast_id)
                .await?
                .ok_or_else(|| ServiceError::transport("result read", "result vanished"))
        }
        Err(e) => Err(ServiceError::transport("result store", e)),
    }
}

async fn publish_usage(js: &jetstream::Context, entry: &UsageEntry) -> Result<(), ServiceError> {
    let payload =
        serde_json::to_vec(entry).map_err(|e| ServiceError::transport("usage encode", e))?;
    js.send_publish(
        format!("spell.usage.{}", entry.tenant),
        PublishMessage::build()
            .payload(payload.into())
            .message_id(entry.message_id()),
    )
    .await
    .map_err(|e| ServiceError::transport("usage publish", e))?
    .await
    .map_err(|e| ServiceError::transport("usage publish", e))?;
    Ok(())
}

fn failed_attempt(
    job: &CastJob,
    cast_id: &str,
    attempt: u32,
    usage: UsageRecord,
    reason: &str,
) -> UsageEntry {
    UsageEntry {
        cast_id: cast_id.into(),
        tenant: job.tenant.clone(),
        attempt,
        billed: Billed::FailedAttempt,
        reason: Some(reason.into()),
        usage,
    }
}

/// The failed-attempt entry of an attempt whose worker vanished: what is known is its wall time
/// up to its last progress report.
fn lost_attempt(prior: &Lifecycle) -> UsageEntry {
    let started = prior.started_at_ms.unwrap_or(0);
    let last = prior.progress_at_ms.unwrap_or(started);
    UsageEntry {
        cast_id: prior.cast_id.clone(),
        tenant: prior.tenant.clone(),
        attempt: prior.attempt,
        billed: Billed::FailedAttempt,
        reason: Some(format!(
            "worker_lost: {}",
            prior.worker.as_deref().unwrap_or("unknown")
        )),
        usage: UsageRecord {
            cast_id: prior.cast_id.clone(),
            spell_digest: prior.spell.clone(),
            outcome: Outcome::Cancelled,
            wall_ns: last.saturating_sub(started) * 1_000_000,
            started_at_ms: started,
            ..UsageRecord::default()
        },
    }
}

/// Moves a request to the dead-letter stream with its reason and its failed attempts' usage,
/// stores a `dead_letter` result (so waiters get an answer) and finishes the lifecycle.
/// Idempotent by cast id.
async fn dead_letter(
    inner: &Inner,
    streams: &Streams,
    cast_id: &str,
    tenant: Option<&str>,
    job: Option<&CastJob>,
    reason: ErrorInfo,
    attempts: u32,
) -> Result<(), ServiceError> {
    let mut usage = Vec::new();
    if let Some((prior, _)) = lifecycle::get(&streams.state, cast_id).await?
        && prior.state == CastState::Running
    {
        let lost = lost_attempt(&prior);
        publish_usage(&streams.js, &lost).await?;
        usage.push(lost);
    }
    let tenant = tenant.unwrap_or("unknown");
    let letter = DeadLetter {
        cast_id: cast_id.into(),
        reason: reason.clone(),
        attempts,
        request: job.cloned(),
        usage,
    };
    let payload = serde_json::to_vec(&letter)
        .map_err(|e| ServiceError::transport("dead letter encode", e))?;
    streams
        .js
        .send_publish(
            format!("spell.dead.{tenant}"),
            PublishMessage::build()
                .payload(payload.into())
                .message_id(cast_id),
        )
        .await
        .map_err(|e| ServiceError::transport("dead letter publish", e))?
        .await
        .map_err(|e| ServiceError::transport("dead letter publish", e))?;
    if job.is_some() {
        let result = CastResult {
            cast_id: cast_id.into(),
            tenant: tenant.into(),
            spell: job.map(|j| j.spell.clone()).unwrap_or_default(),
            state: CastState::DeadLetter,
            outcome: None,
            exit_code: None,
            trap: None,
            detail: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            output_truncated: false,
            usage: None,
            error: Some(reason),
            attempts,
            worker: inner.id.clone(),
            traceparent: job.and_then(|j| j.traceparent.clone()),
        };
        let stored = store_result(&streams.results, &result).await?;
        finish_lifecycle(&streams.state, &stored, None).await?;
    }
    inner.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Announces the worker every heartbeat interval until it stops.
fn read_policy(inner: &Inner) -> Policy {
    inner
        .policy
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The subject a worker publishes its rescans' changes on: `spell.revoked.<worker id>`.
pub const REVOKED_SUBJECT: &str = "spell.revoked";

async fn rescan(inner: &Arc<Inner>, policy: Option<Policy>) -> Result<RescanReport, ServiceError> {
    if let Some(p) = policy {
        *inner.policy.write().unwrap_or_else(|e| e.into_inner()) = p;
    }
    let policy = read_policy(inner);
    let runtime = inner.runtime.clone();
    let report = tokio::task::spawn_blocking(move || runtime.rescan(&policy))
        .await
        .map_err(|e| ServiceError::transport("rescan task", e))??;
    if !report.changes.is_empty() {
        let message = serde_json::json!({"worker": inner.id, "report": report});
        inner
            .client
            .publish(
                format!("{REVOKED_SUBJECT}.{}", inner.id),
                message.to_string().into(),
            )
            .await
            .map_err(|e| ServiceError::transport("publish rescan", e))?;
    }
    Ok(report)
}

async fn rescans(inner: Arc<Inner>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await; // the first tick is immediate: nothing is loaded yet
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = rescan(&inner, None).await {
            tracing::warn!("rescan failed: {e}");
        }
    }
}

async fn heartbeats(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(inner.heartbeat);
    loop {
        let draining = tokio::select! {
            _ = tick.tick() => *stop.borrow(),
            _ = stop.changed() => true,
        };
        let beat = Heartbeat {
            worker: inner.id.clone(),
            in_flight: inner.stats.in_flight.load(Ordering::Relaxed),
            casts: inner.stats.casts.load(Ordering::Relaxed),
            draining,
            at_ms: now_ms(),
        };
        if let Ok(payload) = serde_json::to_vec(&beat) {
            let _ = inner
                .client
                .publish("spell.worker.heartbeat", payload.into())
                .await;
        }
        if draining {
            return;
        }
    }
}

/// The server's notice that a request was delivered `max_deliver` times without an answer.
#[derive(Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: u32,
}

/// Dead-letters requests whose every delivery was lost with its worker: the server gives up on
/// them and announces it, and one worker (a queue group) moves each to the dead-letter stream.
async fn max_delivery_advisories(
    inner: Arc<Inner>,
    streams: Arc<Streams>,
    casts: jetstream::stream::Stream,
    mut stop: watch::Receiver<bool>,
) {
    let subject =
        format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{CAST_STREAM}.{WORKER_CONSUMER}");
    let mut advisories = match inner
        .client
        .queue_subscribe(subject, WORKER_CONSUMER.into())
        .await
    {
        Ok(a) => a,
        Err(e) => {
            // Only when the client is closed: a disconnected one subscribes on reconnecting.
            tracing::warn!("max-delivery advisories not watched: {e}");
            return;
        }
    };
    loop {
        let advisory = tokio::select! {
            a = advisories.next() => a,
            _ = stop.changed() => return,
        };
        let Some(advisory) = advisory else { return };
        let Ok(notice) = serde_json::from_slice::<MaxDeliveries>(&advisory.payload) else {
            continue;
        };
        let Ok(raw) = casts.get_raw_message(notice.stream_seq).await else {
            continue; // already acked and gone
        };
        let job = CastJob::from_delivery(&raw.subject, &raw.payload);
        let cast_id = match &job {
            Ok(j) => j.cast_id(),
            Err(_) => format!("seq-{}", notice.stream_seq),
        };
        let handled = match stored_result(&streams.results, &cast_id).await {
            Ok(Some(result)) => settle_result(&streams, &result, None).await,
            _ => {
                let reason = ErrorInfo::new(
                    ErrorCode::ServiceAttemptsExhausted,
                    format!(
                        "delivered {} times and never answered (its workers were lost)",
                        notice.deliveries
                    ),
                );
                let tenant = match &job {
                    Ok(j) => Some(j.tenant.as_str()),
                    Err(_) => subject_tenant(&raw.subject),
                };
                dead_letter(
                    &inner,
                    &streams,
                    &cast_id,
                    tenant,
                    job.as_ref().ok(),
                    reason,
                    notice.deliveries,
                )
                .await
            }
        };
        match handled {
            Ok(()) => {
                let _ = casts.delete_message(notice.stream_seq).await;
            }
            Err(e) => tracing::warn!("dead-lettering after max deliveries failed: {e}"),
        }
    }
}
