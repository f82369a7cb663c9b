//! The JetStream streams, buckets and consumer service mode runs on, and their settings.
//!
//! | name | kind | holds |
//! |---|---|---|
//! | `SPELL_CAST` | work-queue stream, `spell.cast.<tenant>` | cast requests, de-duplicated by `Nats-Msg-Id` = cast id |
//! | `spell-workers` | durable pull consumer on `SPELL_CAST` | shared by every worker |
//! | `SPELL_USAGE` | stream, `spell.usage.<tenant>` | usage entries, de-duplicated by cast id (and attempt) |
//! | `SPELL_DEAD` | stream, `spell.dead.<tenant>` | dead letters |
//! | `spell_state` | KV bucket | lifecycle per cast id, moved by compare-and-set |
//! | `spell_results` | KV bucket | results per cast id, written once |
//! | `spell.stored.<cast id>` | subject | the result bucket's entries, republished by the server once stored |
//! | `spell_packages` | object store | packages by digest |
//!
//! Workers and `spell publish` create them ([`ServiceConfig::ensure`]); clients only open them,
//! so a missing one is `E-SVC-002` rather than a silently created stream nobody works on.

use crate::error::ServiceError;
use async_nats::jetstream::{self, consumer, kv, object_store, stream};
use std::time::Duration;

/// The request stream.
pub const CAST_STREAM: &str = "SPELL_CAST";
/// The usage stream billing reads.
pub const USAGE_STREAM: &str = "SPELL_USAGE";
/// The dead-letter stream.
pub const DEAD_STREAM: &str = "SPELL_DEAD";
/// The lifecycle bucket.
pub const STATE_BUCKET: &str = "spell_state";
/// The result bucket.
pub const RESULT_BUCKET: &str = "spell_results";
/// The package object store.
pub const PACKAGE_BUCKET: &str = "spell_packages";
/// The workers' shared durable consumer.
pub const WORKER_CONSUMER: &str = "spell-workers";
/// Where the server republishes the results the result bucket stores: a cast's result goes out
/// on `spell.stored.<cast id>` (its `Nats-Stream` header names the bucket's stream), so a client
/// waiting for one cast subscribes to one subject and hears nothing the bucket refused. Only
/// the server should publish here: deny it to every user.
pub const STORED_PREFIX: &str = "spell.stored";

/// Settings of the streams and the consumer, applied when they are created (an existing stream
/// or consumer keeps its settings).
///
/// ```
/// use spell_service::ServiceConfig;
/// let config = ServiceConfig::default().max_deliver(3);
/// assert_eq!(config.ack_wait, std::time::Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long a delivered request may go without an ack or progress report before it is
    /// redelivered. Workers report progress every third of it. Default 30 s.
    pub ack_wait: Duration,
    /// Deliveries of one request before it is dead-lettered. Default 5.
    pub max_deliver: i64,
    /// Unacknowledged requests across all workers. Default 4096.
    pub max_ack_pending: i64,
    /// How long a request's idempotency key de-duplicates submissions. Default 1 hour.
    pub request_dedup_window: Duration,
    /// How long a usage entry's (and a dead letter's) id de-duplicates: longer than a request's
    /// deliveries can last (`max_deliver` × (`ack_wait` + back-off of up to a minute)), as any
    /// of them may publish its cast's entry again. A new request for a cast done before (its
    /// key submitted again after `request_dedup_window`) is acked without billing, so this need
    /// not cover resubmissions. The server keeps every id in the window in memory. Default 1
    /// hour.
    pub usage_dedup_window: Duration,
    /// How long a cast's lifecycle and result are kept after their last write (the two
    /// buckets' maximum age), never less than either de-duplication window: a submission the
    /// request stream de-duplicates, and a redelivery (the usage window outlasts them), always
    /// find their cast. Until it passes, the same key is answered from the store; after it, the
    /// key names a new cast. Every cast kept costs the server memory: its index of the two
    /// buckets' keys and the windows' ids, about 1.7 KB of resident memory a cast with
    /// nats-server 2.15 (`benches/README.md`), so 6 GB for an hour at 1,000 casts/s. Default 1
    /// hour.
    pub retention: Duration,
    /// In-memory instead of file storage (tests, benchmarks). Default `false`.
    pub memory_storage: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            max_ack_pending: 4096,
            request_dedup_window: Duration::from_secs(3600),
            usage_dedup_window: Duration::from_secs(3600),
            retention: Duration::from_secs(3600),
            memory_storage: false,
        }
    }
}

impl ServiceConfig {
    /// Sets [`ServiceConfig::ack_wait`].
    pub fn ack_wait(mut self, d: Duration) -> Self {
        self.ack_wait = d;
        self
    }

    /// Sets [`ServiceConfig::max_deliver`].
    pub fn max_deliver(mut self, n: i64) -> Self {
        self.max_deliver = n;
        self
    }

    /// Sets [`ServiceConfig::retention`].
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = d;
        self
    }

    /// Sets both de-duplication windows ([`ServiceConfig::request_dedup_window`],
    /// [`ServiceConfig::usage_dedup_window`]).
    pub fn dedup_window(mut self, d: Duration) -> Self {
        self.request_dedup_window = d;
        self.usage_dedup_window = d;
        self
    }

    /// Creates whatever of the streams, buckets and consumer is missing and opens them all.
    pub async fn ensure(&self, js: &jetstream::Context) -> Result<Streams, ServiceError> {
        self.ensure_with_queue(js).await.map(|(streams, _)| streams)
    }

    /// [`ServiceConfig::ensure`], also returning the work queue and its consumer, as a worker
    /// pulls from them: everything comes from the requests that made or found it, none opened
    /// twice.
    pub(crate) async fn ensure_with_queue(
        &self,
        js: &jetstream::Context,
    ) -> Result<(Streams, WorkQueue), ServiceError> {
        let storage = if self.memory_storage {
            stream::StorageType::Memory
        } else {
            stream::StorageType::File
        };
        let create = |name: &str, subjects: &str, retention, window| stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            retention,
            duplicate_window: window,
            storage,
            ..Default::default()
        };
        let casts = js
            .get_or_create_stream(create(
                CAST_STREAM,
                "spell.cast.>",
                stream::RetentionPolicy::WorkQueue,
                self.request_dedup_window,
            ))
            .await
            .map_err(|e| ServiceError::transport("stream create", e))?;
        for (name, subjects) in [
            (USAGE_STREAM, "spell.usage.>"),
            (DEAD_STREAM, "spell.dead.>"),
        ] {
            js.get_or_create_stream(create(
                name,
                subjects,
                stream::RetentionPolicy::Limits,
                self.usage_dedup_window,
            ))
            .await
            .map_err(|e| ServiceError::transport("stream create", e))?;
        }
        let consumer = casts
            .get_or_create_consumer(
                WORKER_CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(WORKER_CONSUMER.into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_deliver: self.max_deliver,
                    max_ack_pending: self.max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ServiceError::transport("consumer create", e))?;
        // Only results are republished: a waiting client needs nothing else, and each lifecycle
        // move republished was one more message for the server to send and the client to read.
        let bucket = |name: &'static str, republishes: bool| async move {
            let ours = stream::Republish {
                source: format!("$KV.{name}.>"),
                destination: format!("{STORED_PREFIX}.>"),
                headers_only: false,
            };
            let republish = republishes.then(|| ours.clone());
            match js.get_stream(format!("KV_{name}")).await {
                Ok(existing) => {
                    // Buckets made by older workers: the result bucket may not republish yet,
                    // the lifecycle bucket may still. The lookup brought the configuration.
                    let config = &existing.cached_info().config;
                    let ours_set = config.republish.as_ref() == Some(&ours);
                    if ours_set != republishes {
                        let config = stream::Config {
                            republish,
                            ..config.clone()
                        };
                        js.update_stream(config)
                            .await
                            .map_err(|e| ServiceError::transport("bucket update", e))?;
                    }
                    js.get_key_value(name)
                        .await
                        .map_err(|e| ServiceError::transport("bucket open", e))
                }
                Err(e) if is_not_found(&e) => js
                    .create_key_value(kv::Config {
                        bucket: name.into(),
                        history: 1,
                        max_age: self
                            .retention
                            .max(self.request_dedup_window)
                            .max(self.usage_dedup_window),
                        storage,
                        republish,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| ServiceError::transport("bucket create", e)),
                Err(e) => Err(ServiceError::transport("stream lookup", e)),
            }
        };
        let (state, results) = (
            bucket(STATE_BUCKET, false).await?,
            bucket(RESULT_BUCKET, true).await?,
        );
        let packages = if stream_exists(js, &format!("OBJ_{PACKAGE_BUCKET}")).await? {
            js.get_object_store(PACKAGE_BUCKET)
                .await
                .map_err(|e| ServiceError::transport("bucket open", e))?
        } else {
            js.create_object_store(object_store::Config {
                bucket: PACKAGE_BUCKET.into(),
                storage,
                ..Default::default()
            })
            .await
            .map_err(|e| ServiceError::transport("bucket create", e))?
        };
        let streams = Streams {
            js: js.clone(),
            state,
            results,
            packages,
        };
        Ok((streams, WorkQueue { casts, consumer }))
    }
}

/// The work queue of cast requests and the workers' durable pull consumer on it.
pub(crate) struct WorkQueue {
    pub(crate) casts: stream::Stream,
    pub(crate) consumer: consumer::PullConsumer,
}

/// Open handles on the streams and buckets.
#[derive(Clone)]
pub struct Streams {
    pub(crate) js: jetstream::Context,
    pub(crate) state: kv::Store,
    pub(crate) results: kv::Store,
    pub(crate) packages: object_store::ObjectStore,
}

impl Streams {
    /// Opens existing streams and buckets; `E-SVC-002` names the first one missing.
    pub async fn open(js: &jetstream::Context) -> Result<Streams, ServiceError> {
        for name in [CAST_STREAM, USAGE_STREAM, DEAD_STREAM] {
            if !stream_exists(js, name).await? {
                return Err(ServiceError::Missing {
                    kind: "stream",
                    name: name.into(),
                });
            }
        }
        let kv = |bucket: &'static str| async move {
            if !stream_exists(js, &format!("KV_{bucket}")).await? {
                return Err(ServiceError::Missing {
                    kind: "bucket",
                    name: bucket.into(),
                });
            }
            js.get_key_value(bucket)
                .await
                .map_err(|e| ServiceError::transport("bucket open", e))
        };
        let (state, results) = (kv(STATE_BUCKET).await?, kv(RESULT_BUCKET).await?);
        if !stream_exists(js, &format!("OBJ_{PACKAGE_BUCKET}")).await? {
            return Err(ServiceError::Missing {
                kind: "bucket",
                name: PACKAGE_BUCKET.into(),
            });
        }
        let packages = js
            .get_object_store(PACKAGE_BUCKET)
            .await
            .map_err(|e| ServiceError::transport("bucket open", e))?;
        Ok(Streams {
            js: js.clone(),
            state,
            results,
            packages,
        })
    }
}

async fn stream_exists(js: &jetstream::Context, name: &str) -> Result<bool, ServiceError> {
    match js.get_stream(name).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(ServiceError::transport("stream lookup", e)),
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(err)
            if err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}
