//! `spell publish X.spell --nats URL [--json]`: stores a package in the service's object store
//! under its digest (publishing it again is a no-op).

use super::nats::{NatsArgs, block_on};
use crate::report::Coded;
use anyhow::Context;
use spell_service::{Client, ServiceConfig, ServiceError};
use std::path::PathBuf;

/// Arguments of `spell publish`.
#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
    /// Print one JSON object: {"digest", "stored"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let bytes = std::fs::read(&args.package)
        .with_context(|| format!("reading {}", args.package.display()))?;
    let (digest, stored) = block_on(async {
        let client = publish_client(&args.nats).await?;
        Ok(client.publish(&bytes).await.map_err(Coded::from)?)
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"digest": digest, "stored": stored})
        );
    } else {
        println!(
            "{digest}{}",
            if stored { "" } else { "  (already published)" }
        );
    }
    Ok(0)
}

/// A client for publishing: the streams and buckets are created if this is the first use of
/// the server (with the default settings; workers created first keep theirs). Only then: a
/// publisher whose permissions cover submitting but not managing streams publishes too.
pub async fn publish_client(nats: &NatsArgs) -> anyhow::Result<Client> {
    let connection = nats.options().connect().await.map_err(Coded::from)?;
    match Client::new(connection.clone()).await {
        Err(ServiceError::Missing { .. }) => {
            let js = spell_service::jetstream(connection.clone());
            ServiceConfig::default()
                .ensure(&js)
                .await
                .map_err(Coded::from)?;
            Ok(Client::new(connection).await.map_err(Coded::from)?)
        }
        opened => Ok(opened.map_err(Coded::from)?),
    }
}
