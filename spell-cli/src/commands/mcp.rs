//! `spell mcp --policy P.toml SPELLS...`: a Model Context Protocol server offering each verified
//! spell with a `tool` section as a tool, over stdio (the default) or streamable HTTP
//! (`--listen`). With `--published`, the packages published to service mode (`spell publish`,
//! the object store on `--nats`) are offered too. See [`crate::mcp`] for what a call does.
//!
//! The packages are polled (`--watch-every`, default 2 s): polling works the same on every file
//! system, network and container mounts included, and costs one `stat` per file and one object
//! listing. When the listing changes the server sends `notifications/tools/list_changed`.

use super::cast::LedgerArgs;
use super::nats::NatsArgs;
use crate::mcp::catalog::Published;
use crate::mcp::{Catalog, Shared, SpellTools};
use crate::report::Coded;
use anyhow::Context;
use rmcp::ServiceExt;
use spell_core::Policy;
use spell_runtime::Runtime;
use spell_service::Client;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Arguments of `spell mcp`.
#[derive(clap::Args)]
pub struct Args {
    /// `.spell` packages, or folders of them (not searched recursively).
    #[arg(required_unless_present = "published")]
    spells: Vec<PathBuf>,
    /// Also offer every package published to service mode (`spell publish`) on --nats.
    #[arg(long)]
    published: bool,
    #[command(flatten)]
    nats: NatsArgs,
    /// The host policy (TOML): every package is verified against it; refused ones are not
    /// offered (the reason is logged on stderr).
    #[arg(long)]
    policy: PathBuf,
    /// Serve streamable HTTP on this address (e.g. 127.0.0.1:8080, path /mcp) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Casts at once; further calls wait up to 1 s for a slot, then fail with E-RUN-001.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Append each call's usage record to this file, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    usage_log: Option<PathBuf>,
    /// How often to look for added, changed or removed packages (0s: never).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    watch_every: Duration,
    /// How often a call that asked for progress is told how its cast is going.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    progress_every: Duration,
    /// Compile modules afresh and keep nothing (default: the cache of `spell cache info`).
    #[arg(long)]
    no_cache: bool,
    /// Cast WASI preview 3 components (`wasi:cli@0.3`, the component model's async ABI) with
    /// wasmtime's experimental preview 3 support.
    #[arg(long)]
    wasi_p3: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let mut builder = Runtime::builder()
        .max_concurrent_casts(args.concurrency)
        .wasi_p3(args.wasi_p3);
    if let Some(dir) = crate::commands::cache::dir().filter(|_| !args.no_cache) {
        builder = builder.cache_dir(dir);
    }
    let runtime = builder.build().map_err(Coded::from)?;
    let usage_log = args
        .usage_log
        .as_ref()
        .map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))
        })
        .transpose()?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = tokio.block_on(async move {
        let client = match args.published {
            true => Some(
                Client::connect(&args.nats.options())
                    .await
                    .map_err(Coded::from)?,
            ),
            false => None,
        };
        let max_bytes = policy.package.max_package_bytes;
        let published = fetch_published(client.as_ref(), &Catalog::default(), max_bytes)
            .await
            .map_err(Coded::from)?;
        let (catalog, _) = tokio::task::block_in_place(|| {
            Catalog::default().rescan(&args.spells, published, &runtime, &policy)
        });
        eprintln!(
            "spell mcp: offering {} tools: {}",
            catalog.tools.len(),
            catalog.tools.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        let shared = Arc::new(Shared {
            catalog: RwLock::new(Arc::new(catalog)),
            peers: Mutex::new(Vec::new()),
            meter: args.ledger.meter()?,
            usage_log: usage_log.map(Mutex::new),
            progress_every: args.progress_every.max(Duration::from_millis(10)),
        });
        let watch = Watch {
            shared: shared.clone(),
            sources: args.spells.clone(),
            client,
            runtime,
            policy,
            every: args.watch_every,
        };
        match args.listen {
            Some(addr) => crate::mcp::http::serve(addr, SpellTools { shared }, watch).await,
            None => {
                let service = SpellTools { shared }
                    .serve(rmcp::transport::io::stdio_pipes())
                    .await
                    .context("the MCP handshake failed")?;
                let watching = tokio::spawn(watch.run());
                let quit = service.waiting().await;
                watching.abort();
                quit.context("the MCP session failed")?;
                Ok(0)
            }
        }
    });
    // Without waiting for tasks blocked on I/O (a NATS connection, a read of stdin) to notice.
    tokio.shutdown_background();
    result
}

/// The published packages (digests and, for those `catalog` lacks, their bytes); none without a
/// client. A package that cannot be fetched is logged and left for the next scan.
async fn fetch_published(
    client: Option<&Client>,
    catalog: &Catalog,
    max_bytes: u64,
) -> Result<Vec<Published>, spell_service::ServiceError> {
    let Some(client) = client else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for digest in client.packages().await? {
        if catalog.has(&digest) {
            out.push((digest, None));
            continue;
        }
        match client.package(&digest, max_bytes).await {
            Ok(bytes) => out.push((digest, Some(bytes))),
            Err(e) => eprintln!("spell mcp: fetching sha256:{}: {e}", digest.to_hex()),
        }
    }
    Ok(out)
}

/// The poll: rescans every `every`; the catalog tells clients when the listing changed.
pub struct Watch {
    pub shared: Arc<Shared>,
    pub sources: Vec<PathBuf>,
    pub client: Option<Client>,
    pub runtime: Runtime,
    pub policy: Policy,
    pub every: Duration,
}

impl Watch {
    /// Polls forever (the server aborts it when it stops); returns at once when `every` is zero.
    pub async fn run(self) {
        if self.every.is_zero() {
            return;
        }
        let mut ticks = tokio::time::interval(self.every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let current = self.shared.catalog();
            let max_bytes = self.policy.package.max_package_bytes;
            let published = match fetch_published(self.client.as_ref(), &current, max_bytes).await {
                Ok(p) => p,
                Err(e) => {
                    // Keep the current tools rather than drop every published one.
                    eprintln!("spell mcp: listing published packages: {e}");
                    continue;
                }
            };
            // Loading verifies and compiles: off the async worker's hot path.
            let (next, changed) = tokio::task::block_in_place(|| {
                current.rescan(&self.sources, published, &self.runtime, &self.policy)
            });
            self.shared.replace(next, changed).await;
        }
    }
}
