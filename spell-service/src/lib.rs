//! # spell-service
//!
//! Spell's service mode: casts at scale through workers on NATS JetStream, with the library's
//! limits, verification and metering, and usage billed exactly once per cast.
//!
//! - [`Client`] publishes packages by digest ([`Client::publish`]), submits [`CastJob`]s with an
//!   idempotency key ([`Client::submit`]), awaits [`CastResult`]s and reads [`Lifecycle`]s.
//! - [`Worker`] pulls requests from a shared durable consumer, verifies packages with its own
//!   policy, casts, stores results and publishes [`UsageEntry`]s (see the [`worker`] module for
//!   the exactly-once protocol).
//! - [`UsageFeed`] hands the usage stream to a billing consumer, each entry until it is
//!   acknowledged ([`Client::usage_feed`]).
//! - [`streams`] lists the streams and buckets; [`NatsOptions`] says how to connect.
//!
//! ```no_run
//! use spell_service::{CastJob, Client, NatsOptions, Worker};
//! use std::time::Duration;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let nats = NatsOptions::new("nats://127.0.0.1:4222");
//! let policy = spell_core::Policy::from_file("examples/policy.toml".as_ref())?;
//! let worker = Worker::builder(nats.connect().await?, spell_runtime::Runtime::new()?, policy).build();
//! tokio::spawn(async move { worker.run(std::future::pending()).await });
//!
//! # tokio::time::sleep(Duration::from_millis(500)).await;
//! let client = Client::connect(&nats).await?;
//! let (digest, _) = client.publish(&std::fs::read("examples/hello/hello.spell")?).await?;
//! let result = client
//!     .cast(&CastJob::new(digest.to_hex(), "acme", "greeting-1").arg("world"), Duration::from_secs(10))
//!     .await?;
//! assert_eq!(result.stdout, b"Hello, world!\n");
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod connect;
mod error;
mod feed;
mod job;
mod lifecycle;
mod packages;
mod record;
mod status;
pub mod streams;
pub mod worker;

pub use client::{Client, Submitted};
pub use connect::NatsOptions;
pub use error::ServiceError;
pub use feed::{UsageDelivery, UsageFeed};
pub use job::{CastJob, MAX_REQUEST_BYTES, MAX_STDIN_BYTES};
pub use record::{Billed, CastResult, CastState, DeadLetter, ErrorInfo, Lifecycle, UsageEntry};
pub use streams::{ServiceConfig, Streams};
pub use worker::{
    Heartbeat, NotReady, READY_TIMEOUT, REVOKED_SUBJECT, Worker, WorkerBuilder, WorkerStats,
};

/// The JetStream context of a connection (for [`ServiceConfig::ensure`]).
pub fn jetstream(client: async_nats::Client) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(client)
}
