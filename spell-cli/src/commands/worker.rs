//! `spell worker --nats URL --policy P.toml [--concurrency N]`: casts submitted spells until
//! SIGTERM or Ctrl-C, then drains (finishes in-flight casts within --drain-timeout, hands the
//! rest back).

use super::nats::{NatsArgs, block_on};
use crate::report::Coded;
use spell_core::Policy;
use spell_runtime::Runtime;
use spell_service::{ServiceConfig, Worker};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `spell worker`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    nats: NatsArgs,
    /// The worker's policy: every package is verified against it, whoever submitted the cast.
    #[arg(long)]
    policy: PathBuf,
    /// Casts at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Casts at once per tenant (default: no cap beyond --concurrency).
    #[arg(long)]
    tenant_concurrency: Option<usize>,
    /// How long a drain waits for in-flight casts before cancelling them.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    drain_timeout: Duration,
    /// Keep compiled modules in this folder (the runtime's authenticated AOT cache), so a
    /// restarted worker does not compile again.
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// The worker's id (default: random).
    #[arg(long)]
    id: Option<String>,
    /// Deliveries before a request is dead-lettered (applies when this worker creates the consumer).
    #[arg(long, default_value_t = 5)]
    max_deliver: i64,
    /// Redelivery wait without an ack (applies when this worker creates the consumer).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    ack_wait: Duration,
    /// Print the worker's totals as JSON when it stops.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let mut runtime = Runtime::builder();
    if let Some(dir) = &args.cache_dir {
        runtime = runtime.cache_dir(dir);
    }
    let runtime = runtime.build().map_err(Coded::from)?;
    let stats = block_on(async {
        let connection = args
            .nats
            .options()
            .name("spell-worker")
            .connect()
            .await
            .map_err(Coded::from)?;
        let mut worker = Worker::builder(connection, runtime, policy)
            .concurrency(args.concurrency)
            .drain_timeout(args.drain_timeout)
            .config(
                ServiceConfig::default()
                    .max_deliver(args.max_deliver)
                    .ack_wait(args.ack_wait),
            );
        if let Some(n) = args.tenant_concurrency {
            worker = worker.tenant_concurrency(n);
        }
        if let Some(id) = &args.id {
            worker = worker.id(id);
        }
        let worker = worker.build();
        worker.ensure().await.map_err(Coded::from)?;
        eprintln!("spell worker {} ready", worker.id());
        Ok(worker.run(shutdown_signal()).await.map_err(Coded::from)?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
    } else {
        eprintln!(
            "drained: {} casts, {} answered from the store, {} dead-lettered, {} handed back",
            stats.casts, stats.answered_from_store, stats.dead_lettered, stats.retried
        );
    }
    Ok(0)
}

/// SIGTERM (what process managers send) or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
