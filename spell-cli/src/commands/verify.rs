//! `spell verify X.spell --policy P.toml [--json]`: signature, signer rule, SBOM rules and the
//! capability grant, exactly as the runtime checks them at load.

use crate::report::Coded;
use spell_core::{Package, Policy};
use spell_verify::PolicyVerifier;
use std::path::PathBuf;

/// Arguments of `spell verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    /// The host policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let pkg = Package::read_file(&args.package, &policy.package).map_err(Coded::from)?;
    let verification = PolicyVerifier::new(&policy)
        .and_then(|v| v.verify(&pkg))
        .map_err(Coded::from)?;
    let grant = policy.grant(&pkg.manifest).map_err(Coded::from)?;
    let m = &pkg.manifest;
    if args.json {
        let out = serde_json::json!({
            "name": m.name,
            "version": m.version,
            "digest": pkg.digest(),
            "verification": verification,
            "grant": grant,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!(
        "verified    {} {}  (sha256:{})",
        m.name,
        m.version,
        pkg.digest()
    );
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
