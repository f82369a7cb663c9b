//! `spell verify X.spell --policy P.toml [--json]`: signature, signer rule, SBOM rules and the
//! capability grant, exactly as the runtime checks them at load.

use crate::report::{self, Coded};
use anyhow::Context;
use spell_core::Policy;
use spell_runtime::Verified;
use std::path::PathBuf;

/// Arguments of `spell verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    /// The host policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Print one JSON object (also when refused: its `error` is set).
    #[arg(long)]
    json: bool,
}

fn verify(args: &Args) -> anyhow::Result<Verified> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let bytes = std::fs::read(&args.package)
        .with_context(|| format!("reading {}", args.package.display()))?;
    let runtime = super::cast::one_shot_runtime()
        .build()
        .map_err(Coded::from)?;
    let verified = crate::progress::spin("verifying signature and SBOM", args.json, || {
        runtime.verify(&bytes, &policy)
    })
    .map_err(Coded::from)?;
    Ok(verified)
}

/// With `--json`, a refusal is an object too: `error` set, the rest null, exit code 1.
fn print_json(result: anyhow::Result<Verified>) -> anyhow::Result<i32> {
    let (out, exit) = match result {
        Ok(v) => {
            let mut out = serde_json::to_value(&v)?;
            out["error"] = serde_json::Value::Null;
            (out, 0)
        }
        Err(err) => {
            let (error, exit) = report::error_json(&err);
            let out = serde_json::json!({
                "name": null, "version": null, "digest": null, "verification": null, "grant": null,
                "error": error,
            });
            (out, exit)
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(exit)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let result = verify(&args);
    if args.json {
        return print_json(result);
    }
    let Verified {
        name,
        version,
        digest,
        verification,
        grant,
    } = result?;
    println!("verified    {name} {version}  (sha256:{digest})");
    match &verification.signer {
        Some(s) => {
            let issuer = s
                .issuer
                .as_deref()
                .map(|i| format!(" via {i}"))
                .unwrap_or_default();
            println!("signer      {}{issuer}", s.identity);
            println!("rule        {}  (trusted root {})", s.rule, s.trusted_root);
            println!(
                "signed at   {}",
                s.signed_at.as_deref().unwrap_or("unknown")
            );
        }
        None => println!("signer      none"),
    }
    match &verification.sbom {
        Some(s) => {
            let found = s.vulnerabilities.len() + s.informational.len();
            println!(
                "sbom        CycloneDX {}, {} components, {found} advisories below the refusal threshold",
                s.spec_version, s.components
            );
        }
        None => println!("sbom        none"),
    }
    for w in &verification.warnings {
        println!("warning     {w}");
    }
    println!("grant       {}", serde_json::to_string(&grant)?);
    Ok(0)
}
