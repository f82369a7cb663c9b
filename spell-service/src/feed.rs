//! The usage stream as a billing consumer reads it: a durable pull consumer, so every entry is
//! handed out until it is acknowledged, across restarts of the reader. Apply an entry (for
//! example with `spell_ledger::Ledger::record` and [`UsageEntry::billing_record`], idempotent
//! by its id), then [`UsageDelivery::ack`] it: a reader that dies between the two gets the entry
//! again and applies it as a duplicate, so every entry is billed exactly once.
//!
//! Only workers may publish on `spell.usage.>`: grant tenants no publish permission there.

use crate::client::Client;
use crate::error::ServiceError;
use crate::record::UsageEntry;
use crate::streams::USAGE_STREAM;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, consumer::pull};
use futures_util::StreamExt;
use std::time::Duration;

/// How many entries one pull asks for.
const BATCH: usize = 256;

/// A durable reader of the usage stream; see the [module docs](self).
pub struct UsageFeed {
    consumer: PullConsumer,
    batch: Option<pull::Batch>,
}

/// One entry handed out by a [`UsageFeed`], to acknowledge once applied.
pub struct UsageDelivery {
    /// The entry.
    pub entry: UsageEntry,
    message: jetstream::Message,
}

impl Client {
    /// A reader of the usage stream under the durable consumer `durable`, created on first use
    /// to start from the stream's first entry. Readers sharing a name share its position.
    pub async fn usage_feed(&self, durable: &str) -> Result<UsageFeed, ServiceError> {
        let consumer = self
            .streams
            .js
            .get_stream(USAGE_STREAM)
            .await
            .map_err(|e| ServiceError::transport("stream open", e))?
            .get_or_create_consumer(
                durable,
                pull::Config {
                    durable_name: Some(durable.into()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_ack_pending: BATCH as i64 * 4,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ServiceError::transport("consumer open", e))?;
        Ok(UsageFeed {
            consumer,
            batch: None,
        })
    }
}

impl UsageFeed {
    /// The next entry, or `None` when none arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<UsageDelivery>, ServiceError> {
        let mut fresh = false;
        loop {
            let batch = match &mut self.batch {
                Some(b) => b,
                None => {
                    fresh = true;
                    self.batch.insert(
                        self.consumer
                            .batch()
                            .max_messages(BATCH)
                            .expires(wait)
                            .messages()
                            .await
                            .map_err(|e| ServiceError::transport("usage pull", e))?,
                    )
                }
            };
            match batch.next().await {
                Some(Ok(message)) => match serde_json::from_slice(&message.payload) {
                    Ok(entry) => return Ok(Some(UsageDelivery { entry, message })),
                    Err(e) => {
                        // Not a worker's entry: never billable, so never handed out again.
                        tracing::warn!("usage entry on {} is not one: {e}", message.subject);
                        let _ = message.ack_with(AckKind::Term).await;
                    }
                },
                Some(Err(e)) => return Err(ServiceError::transport("usage pull", e)),
                None if fresh => {
                    self.batch = None;
                    return Ok(None);
                }
                None => self.batch = None,
            }
        }
    }
}

impl UsageDelivery {
    /// Acknowledges the entry as applied; the server confirms, so it is not handed out again.
    pub async fn ack(self) -> Result<(), ServiceError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| ServiceError::transport("usage ack", e))
    }
}
