//! `spell submit SPELL_DIGEST|X.spell --nats URL [--tenant T] [--key K] [--wait] [-- ARGS]`:
//! submits a cast to service-mode workers (a `.spell` file is published first).

use super::nats::{NatsArgs, block_on};
use super::publish::publish_client;
use crate::report::Coded;
use anyhow::Context;
use spell_core::Limits;
use spell_service::{CastJob, CastState, Client};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `spell submit`.
#[derive(clap::Args)]
pub struct Args {
    /// A published spell's digest (64 hex digits), or a .spell file to publish and cast.
    spell: String,
    #[command(flatten)]
    nats: NatsArgs,
    /// The tenant the cast is for.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The idempotency key: submitting the same key again makes no second cast (default: a
    /// random key, so every submission is a new cast).
    #[arg(long)]
    key: Option<String>,
    /// Wait for the result and print the guest's output (exit code as `spell cast`).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 30s.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
    /// Pass an environment variable (its name must be granted by the workers' policy).
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
    /// Wall-time limit for this cast, e.g. 2s.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// The caller's W3C traceparent, carried to the worker and the result.
    #[arg(long)]
    traceparent: Option<String>,
    /// Print JSON: the receipt, or with --wait the result.
    #[arg(long)]
    json: bool,
    /// Arguments for the guest.
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let stdin = match &args.stdin {
        None => Vec::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b)?;
            b
        }
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
    };
    let key = args
        .key
        .clone()
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let mut job = CastJob::new(String::new(), &args.tenant, key)
        .args(args.args.iter().cloned())
        .stdin(stdin)
        .limits(Limits {
            fuel: args.fuel,
            memory_bytes: args.memory.map(|m| m.as_u64()),
            wall_time_ms: args.timeout.map(|t| t.as_millis() as u64),
            ..Limits::default()
        });
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--env `{kv}`: expected K=V"))?;
        job = job.env(k, v);
    }
    if let Some(tp) = &args.traceparent {
        job = job.traceparent(tp);
    }
    block_on(async {
        let client = if std::path::Path::new(&args.spell).is_file() {
            let bytes = std::fs::read(&args.spell)?;
            let client = publish_client(&args.nats).await?;
            job.spell = client
                .publish(&bytes)
                .await
                .map_err(Coded::from)?
                .0
                .to_hex();
            client
        } else {
            job.spell = args.spell.clone();
            Client::connect(&args.nats.options())
                .await
                .map_err(Coded::from)?
        };
        let submitted = client.submit(&job).await.map_err(Coded::from)?;
        if !args.wait {
            if args.json {
                let receipt = serde_json::json!({"cast_id": submitted.cast_id, "duplicate": submitted.duplicate});
                println!("{receipt}");
            } else {
                println!("{}", submitted.cast_id);
            }
            return Ok(0);
        }
        let result = client
            .wait(&submitted.cast_id, args.wait_timeout)
            .await
            .map_err(Coded::from)?;
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            std::io::stdout().write_all(&result.stdout)?;
            std::io::stderr().write_all(&result.stderr)?;
        }
        Ok(match (result.state, result.exit_code, &result.error) {
            (CastState::DeadLetter, _, Some(e)) => {
                if !args.json {
                    eprintln!("error[{}]: {}", e.code, e.message);
                }
                1
            }
            (CastState::Succeeded, _, _) => 0,
            (_, Some(code), _) if result.trap.is_none() => code,
            _ => 3,
        })
    })
}
