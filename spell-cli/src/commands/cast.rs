//! `spell cast <X.spell | M.wasm> [options] [-- ARGS...]`
//!
//! Without `--policy`, a package is cast under `Policy::trusting`: exactly the capabilities and
//! limits its manifest asks for, unsigned allowed — like `wasmtime run`, the person at the
//! terminal vouches for it. With `--policy`, the full verified-loading pipeline applies.
//! `--unverified` casts a bare module as if a manifest asked for what the flags give: without
//! `--policy` it gets exactly that; with `--policy` the policy's capabilities, limits and module
//! size cap apply to it (signature and SBOM rules have nothing to check).
//!
//! Without `--json` the guest's output is echoed as it is written ([`crate::echo`]), never
//! holding the cast up when nobody reads it.

use crate::echo::Echo;
use crate::report::Coded;
use anyhow::Context;
use serde_json::json;
use spell_core::{Access, Capabilities, HasCode, Limits, Mount, Package, Policy};
use spell_runtime::json::OUTCOME_FIELDS;
use spell_runtime::{
    CastOutcome, CastRequest, MeteringHook, Outcome, OutputCallback, Runtime, RuntimeBuilder,
    UnverifiedModule,
};
use std::path::PathBuf;
use std::sync::Arc;

/// Exit code when a cast ended by a limit, trap or cancellation.
pub const EXIT_STOPPED: i32 = 3;

/// Arguments of `spell cast`.
#[derive(clap::Args)]
pub struct Args {
    /// A .spell package, or a .wasm module with --unverified.
    file: PathBuf,
    /// The host policy (TOML). Without it, the spell gets what its manifest asks for.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Cast a bare .wasm module without package, signature or SBOM checks.
    #[arg(long)]
    unverified: bool,
    /// The export to call instead of the entrypoint.
    #[arg(long)]
    invoke: Option<String>,
    /// Mount a host directory read-only: HOST[::GUEST] (GUEST defaults to HOST).
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir: Vec<String>,
    /// Mount a host directory read-write: HOST[::GUEST].
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir_rw: Vec<String>,
    /// Pass an environment variable (its name must be granted).
    #[arg(long, value_name = "K=V")]
    env: Vec<String>,
    /// A file to use as the guest's stdin (`-` for this process's stdin).
    #[arg(long)]
    stdin: Option<PathBuf>,
    /// Fuel limit for this cast.
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit for this cast, e.g. 64MiB.
    #[arg(long)]
    memory: Option<bytesize::ByteSize>,
    /// Wall-time limit for this cast, e.g. 2s or 500ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// The largest module to load, e.g. 64MiB (default 5 MiB; with --policy, the policy's
    /// `[package] max_module_bytes` applies instead).
    #[arg(long, value_name = "SIZE", conflicts_with = "policy")]
    max_module_size: Option<bytesize::ByteSize>,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Compile the module afresh and keep nothing (default: compiled modules are kept in the
    /// cache folder of `spell cache info`).
    #[arg(long)]
    no_cache: bool,
    /// Cast WASI preview 3 components (`wasi:cli@0.3`, the component model's async ABI) with
    /// wasmtime's experimental preview 3 support.
    #[arg(long)]
    wasi_p3: bool,
    /// Join this W3C trace (`00-<trace id>-<span id>-<flags>`): the usage record names it and
    /// the spell's outbound requests carry it on (unless the policy turns that off).
    #[arg(long)]
    traceparent: Option<String>,
    /// The W3C `tracestate` that goes with --traceparent.
    #[arg(long, requires = "traceparent")]
    tracestate: Option<String>,
    /// Print one JSON object with the outcome, output and usage.
    #[arg(long)]
    json: bool,
    /// Arguments for the guest.
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let json = args.json;
    let (echo, on_output) = match json {
        true => (None, None),
        false => {
            let (echo, callback) = Echo::start();
            (Some(echo), Some(callback))
        }
    };
    let result = cast(args, on_output);
    if let Some(echo) = echo {
        let line = match &result {
            Ok((o, _)) if !matches!(o.outcome, Outcome::Ok | Outcome::Exit) => Some(format!(
                "spell: cast ended: {} ({})",
                o.outcome,
                o.detail.as_deref().unwrap_or("-")
            )),
            _ => None,
        };
        echo.finish(line);
    }
    match result {
        Ok((outcome, spell)) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&outcome_json(&outcome, spell)?)?
            );
            Ok(exit_code(&outcome))
        }
        Ok((outcome, _)) => {
            if let Some(code) = outcome.denial_code {
                let detail = outcome.detail.as_deref().unwrap_or("-");
                eprintln!(
                    "error[{}]: {detail}\n  = help: {}",
                    code.code(),
                    code.message()
                );
            }
            Ok(exit_code(&outcome))
        }
        Err(err) if json => {
            let (error, exit) = crate::report::error_json(&err);
            // The outcome's shape with every field null, plus the error.
            let mut out: serde_json::Map<_, _> = OUTCOME_FIELDS
                .iter()
                .map(|f| (f.to_string(), serde_json::Value::Null))
                .collect();
            out.insert("spell".into(), serde_json::Value::Null);
            out.insert("error".into(), error);
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(exit)
        }
        Err(err) => Err(err),
    }
}

/// `--ledger DB --account A`: bill casts to a ledger account (`spell cast`, `spell mcp`).
#[derive(clap::Args)]
pub struct LedgerArgs {
    /// Bill casts to an account of this usage ledger (see `spell ledger`): a cast is refused
    /// when the account cannot pay, capped at what it can.
    #[arg(long, requires = "account")]
    ledger: Option<PathBuf>,
    /// The ledger account to bill.
    #[arg(long, requires = "ledger")]
    account: Option<String>,
}

impl LedgerArgs {
    /// The ledger account's meter, when both flags are given.
    pub fn meter(&self) -> anyhow::Result<Option<Arc<dyn MeteringHook>>> {
        let (Some(db), Some(account)) = (&self.ledger, &self.account) else {
            return Ok(None);
        };
        let ledger = spell_ledger::Ledger::open(db)
            .map_err(Coded::from)
            .with_context(|| format!("opening {}", db.display()))?;
        Ok(Some(ledger.meter(account).map_err(Coded::from)?))
    }
}

fn exit_code(o: &CastOutcome) -> i32 {
    match o.outcome {
        Outcome::Ok | Outcome::Exit => o.exit_code.unwrap_or(0),
        Outcome::Denied => 1,
        _ => EXIT_STOPPED,
    }
}

struct SpellInfo {
    digest: String,
    name: String,
    version: String,
}

/// The runtime of a process that casts once at most (`spell cast`, `spell verify`): no pooling
/// allocator (it pays off from a process's second cast on, and making one costs about 0.3 ms:
/// reservations, and five reads of the cgroup's CPU quota) and no metrics (nobody scrapes them).
pub fn one_shot_runtime() -> RuntimeBuilder {
    Runtime::builder()
        .max_concurrent_casts(1)
        .pooling(false)
        .metrics(false)
}

fn cast(args: Args, on_output: Option<OutputCallback>) -> anyhow::Result<(CastOutcome, SpellInfo)> {
    // One cast, and the module compiled once across runs.
    let mut builder = one_shot_runtime().wasi_p3(args.wasi_p3);
    if let Some(dir) = crate::commands::cache::dir().filter(|_| !args.no_cache) {
        builder = builder.cache_dir(dir);
    }
    let runtime = builder.build().map_err(Coded::from)?;
    let mounts = parse_mounts(&args.dir, Access::Ro)
        .chain(parse_mounts(&args.dir_rw, Access::Rw))
        .collect::<Vec<_>>();
    let env = args
        .env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--env `{kv}`: expected K=V"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory.map(|m| m.as_u64()),
        wall_time_ms: args.timeout.map(|t| t.as_millis() as u64),
        ..Limits::default()
    };
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let policy_file = args
        .policy
        .as_ref()
        .map(|p| Policy::from_file(p).map_err(Coded::from))
        .transpose()?;
    let spell = if args.unverified {
        let name = args
            .file
            .file_stem()
            .map_or("module".into(), |s| s.to_string_lossy().into_owned());
        let capabilities = Capabilities {
            env: env.iter().map(|(k, _)| k.clone()).collect(),
            mounts: mounts.iter().map(|(_, m)| m.clone()).collect(),
            ..Capabilities::default()
        };
        let entrypoint = args.invoke.as_deref().unwrap_or("_start");
        let mut module = UnverifiedModule::asking(
            &bytes,
            &name,
            entrypoint,
            capabilities,
            limits,
            policy_file.as_ref(),
        )
        .map_err(Coded::from)?;
        if let Some(max) = args.max_module_size {
            module.max_module_bytes = max.as_u64();
        }
        crate::progress::spin("compiling", args.json, || {
            runtime.load_unverified(&bytes, module)
        })
        .map_err(Coded::from)?
    } else {
        let policy = match policy_file {
            Some(p) => p,
            None => {
                let mut caps = spell_core::PackageLimits::default();
                if let Some(max) = args.max_module_size {
                    caps.max_module_bytes = max.as_u64();
                    caps.max_package_bytes = caps.max_package_bytes.max(max.as_u64() + (1 << 20));
                }
                let mut p =
                    Policy::trusting(&Package::read(&bytes, &caps).map_err(Coded::from)?.manifest);
                p.package = caps;
                p
            }
        };
        crate::progress::spin("verifying and compiling", args.json, || {
            runtime.load(&bytes, &policy)
        })
        .map_err(Coded::from)?
    };
    let stdin = match &args.stdin {
        None => Vec::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
    };
    let mut request = CastRequest::new()
        .args(args.args.clone())
        .stdin(stdin)
        .limits(limits);
    for (k, v) in env {
        request = request.env(k, v);
    }
    for (host, m) in mounts {
        request = request.mount(host, m.guest, m.access);
    }
    if let Some(export) = &args.invoke {
        request = request.export(export.clone());
    }
    if let Some(tp) = &args.traceparent {
        request = request.traceparent(tp);
    }
    if let Some(ts) = &args.tracestate {
        request = request.tracestate(ts);
    }
    if let Some(callback) = on_output {
        request = request.on_output(callback);
    }
    if let Some(meter) = args.ledger.meter()? {
        request = request.meter(meter);
    }
    let outcome = spell.cast(request).map_err(|e| {
        anyhow::Error::new(Coded {
            code: e.code(),
            message: e.to_string(),
        })
    })?;
    if let Some(e) = &outcome.hook_error {
        // The cast ran; its record did not reach the ledger (or the host's hook).
        eprintln!("spell: {e}");
    }
    let info = SpellInfo {
        digest: spell.digest().to_hex(),
        name: spell.name().into(),
        version: spell.version().into(),
    };
    Ok((outcome, info))
}

fn parse_mounts(specs: &[String], access: Access) -> impl Iterator<Item = (PathBuf, Mount)> + '_ {
    specs.iter().map(move |s| {
        let (host, guest) = s.split_once("::").unwrap_or((s, s));
        (
            PathBuf::from(host),
            Mount {
                guest: guest.to_string(),
                access,
            },
        )
    })
}

/// The outcome's own JSON shape (`CastOutcome`'s serialization, which the bindings share), plus
/// the spell it ran and, for a denial with a catalog code, that code as an error.
fn outcome_json(o: &CastOutcome, spell: SpellInfo) -> anyhow::Result<serde_json::Value> {
    let mut out = serde_json::to_value(o)?;
    if let Some(map) = out.as_object_mut() {
        map.insert(
            "spell".into(),
            json!({"digest": spell.digest, "name": spell.name, "version": spell.version}),
        );
        map.insert(
            "error".into(),
            json!(
                o.denial_code
                    .map(|c| json!({"code": c.code(), "name": c.name(), "message": o.detail}))
            ),
        );
    }
    Ok(out)
}
