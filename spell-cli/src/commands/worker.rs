//! `spell worker --nats URL --policy P.toml [--concurrency N]`: casts submitted spells until
//! SIGTERM or Ctrl-C, then drains (finishes in-flight casts within --drain-timeout, hands the
//! rest back). SIGHUP reads the policy file again and re-verifies the loaded spells against it
//! (so do `--rescan-every` ticks, against the current trust files and OSV database); what a
//! rescan revoked is published on `spell.revoked.<worker id>`. With `--listen ADDR` it serves
//! `/metrics`, `/healthz` and `/readyz` there (see `spell_service::Worker::serve_status`).

use super::nats::{NatsArgs, block_on, shutdown_signal};
use crate::logging::{Level, note};
use crate::report::Coded;
use anyhow::Context;
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
    /// Re-verify the loaded spells this often (e.g. 10m), besides on SIGHUP.
    #[arg(long, value_parser = humantime::parse_duration)]
    rescan_every: Option<Duration>,
    /// The worker's id (default: random).
    #[arg(long)]
    id: Option<String>,
    /// Deliveries before a request is dead-lettered (applies when this worker creates the consumer).
    #[arg(long, default_value_t = 5)]
    max_deliver: i64,
    /// Redelivery wait without an ack (applies when this worker creates the consumer).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    ack_wait: Duration,
    /// How long a key de-duplicates submissions and a cast id its usage entries (applies when
    /// this worker creates the streams): longer than a request's deliveries can last,
    /// --max-deliver × (--ack-wait + 1m).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    dedup_window: Duration,
    /// How long casts' lifecycles and results are kept (applies when this worker creates the
    /// buckets; at least --dedup-window). The server keeps about 1.7 KB of memory per cast kept.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` on this address, e.g.
    /// 127.0.0.1:9464 (port 0: any free port; the ready line names it).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Print the worker's totals as JSON when it stops.
    #[arg(long)]
    json: bool,
    /// Cast WASI preview 3 components (`wasi:cli@0.3`, the component model's async ABI) with
    /// wasmtime's experimental preview 3 support.
    #[arg(long)]
    wasi_p3: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let mut runtime = Runtime::builder().wasi_p3(args.wasi_p3);
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
                    .ack_wait(args.ack_wait)
                    .dedup_window(args.dedup_window)
                    .retention(args.retention),
            );
        if let Some(n) = args.tenant_concurrency {
            worker = worker.tenant_concurrency(n);
        }
        if let Some(id) = &args.id {
            worker = worker.id(id);
        }
        if let Some(every) = args.rescan_every {
            worker = worker.rescan_every(every);
        }
        let worker = worker.build();
        // Installed before anything can say "ready" (a SIGHUP's default action is to exit).
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let stop = shutdown_signal();
        worker.ensure().await.map_err(Coded::from)?;
        tokio::spawn(rescan_on_hangup(
            worker.clone(),
            hangups,
            args.policy.clone(),
        ));
        let mut status = String::new();
        if let Some(addr) = args.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
            status = format!(" (status on http://{})", listener.local_addr()?);
            let server = worker.clone();
            tokio::spawn(async move {
                if let Err(e) = server.serve_status(listener).await {
                    note(
                        Level::Warn,
                        format!("spell worker: status server stopped: {e}"),
                    );
                }
            });
        }
        note(
            Level::Info,
            format!("spell worker {} ready{status}", worker.id()),
        );
        Ok(worker.run(stop).await.map_err(Coded::from)?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&stats)?);
    } else {
        note(
            Level::Info,
            format!(
                "drained: {} casts, {} answered from the store, {} dead-lettered, {} handed back",
                stats.casts, stats.answered_from_store, stats.dead_lettered, stats.retried
            ),
        );
    }
    Ok(0)
}

/// On each SIGHUP: the policy file read again, then a rescan with it.
async fn rescan_on_hangup(worker: Worker, mut hangups: tokio::signal::unix::Signal, path: PathBuf) {
    while hangups.recv().await.is_some() {
        let policy = match Policy::from_file(&path) {
            Ok(p) => p,
            Err(e) => {
                note(
                    Level::Warn,
                    format!("spell worker: SIGHUP: {} not reloaded: {e}", path.display()),
                );
                continue;
            }
        };
        match worker.rescan(Some(policy)).await {
            Ok(report) => note(
                Level::Info,
                format!(
                    "spell worker: rescan of {} spells: {} revoked",
                    report.spells,
                    report.revoked().count()
                ),
            ),
            Err(e) => note(Level::Warn, format!("spell worker: rescan failed: {e}")),
        }
    }
}
