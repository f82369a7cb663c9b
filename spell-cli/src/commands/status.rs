//! `spell status CAST_ID --nats URL [--json]`: a cast's lifecycle.

use super::nats::{NatsArgs, block_on};
use crate::report::Coded;
use spell_service::Client;

/// Arguments of `spell status`.
#[derive(clap::Args)]
pub struct Args {
    /// The cast id `spell submit` printed.
    cast_id: String,
    #[command(flatten)]
    nats: NatsArgs,
    /// Print the lifecycle as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let lifecycle = block_on(async {
        let client = Client::connect(&args.nats.options())
            .await
            .map_err(Coded::from)?;
        Ok(client.status(&args.cast_id).await.map_err(Coded::from)?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&lifecycle)?);
        return Ok(0);
    }
    println!("{}  {}", lifecycle.cast_id, lifecycle.state);
    println!("tenant      {}", lifecycle.tenant);
    println!("spell       sha256:{}", lifecycle.spell);
    println!("attempts    {}", lifecycle.attempt);
    if let Some(w) = &lifecycle.worker {
        println!("worker      {w}");
    }
    for (name, at) in [
        ("queued", Some(lifecycle.queued_at_ms).filter(|t| *t > 0)),
        ("started", lifecycle.started_at_ms),
        ("progress", lifecycle.progress_at_ms),
        ("finished", lifecycle.finished_at_ms),
    ] {
        if let Some(ms) = at {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            println!("{name:<11} {}", humantime::format_rfc3339_millis(t));
        }
    }
    Ok(0)
}
