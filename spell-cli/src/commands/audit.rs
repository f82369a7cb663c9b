//! `spell audit --policy P.toml SPELLS... [--json]`: re-verifies packages at rest against the
//! policy as it is now (signature, revocations, SBOM rules against today's OSV database, the
//! capability grant) and reports which would be refused at load and why. Exit 1 when any would
//! be: the daily job an operator schedules after updating the OSV database.

use crate::report::Coded;
use spell_core::{Package, Policy};
use spell_verify::PolicyVerifier;
use std::path::{Path, PathBuf};

/// Arguments of `spell audit`.
#[derive(clap::Args)]
pub struct Args {
    /// Packages, or folders searched for `*.spell` files (recursively).
    #[arg(required = true)]
    spells: Vec<PathBuf>,
    /// The host policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// Print one JSON object: `{"spells": [...], "refused": N}`.
    #[arg(long)]
    json: bool,
}

/// One package's verdict.
#[derive(serde::Serialize)]
struct Audited {
    path: PathBuf,
    name: Option<String>,
    version: Option<String>,
    digest: Option<String>,
    verdict: &'static str,
    warnings: Vec<String>,
    error: Option<serde_json::Value>,
}

fn audit(path: &Path, policy: &Policy, verifier: &PolicyVerifier) -> Audited {
    let package = Package::read_file(path, &policy.package);
    let identity = package.as_ref().ok().map(|p| {
        (
            p.manifest.name.clone(),
            p.manifest.version.to_string(),
            p.digest().to_hex(),
        )
    });
    let verdict = package.map_err(Coded::from).and_then(|p| {
        let verification = verifier.verify(&p).map_err(Coded::from)?;
        policy.grant(&p.manifest).map_err(Coded::from)?;
        Ok(verification.warnings)
    });
    let (name, version, digest) = match identity {
        Some((n, v, d)) => (Some(n), Some(v), Some(d)),
        None => (None, None, None),
    };
    let (verdict, warnings, error) = match verdict {
        Ok(warnings) => ("accepted", warnings, None),
        Err(e) => (
            "refused",
            Vec::new(),
            Some(serde_json::json!({
                "code": e.code.code(), "name": e.code.name(), "message": e.message,
            })),
        ),
    };
    Audited {
        path: path.to_path_buf(),
        name,
        version,
        digest,
        verdict,
        warnings,
        error,
    }
}

/// The packages named: files as given, folders' `*.spell` files in name order.
fn packages(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "spell") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out)
                .map_err(|e| anyhow::anyhow!("reading folder {}: {e}", path.display()))?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let policy = Policy::from_file(&args.policy).map_err(Coded::from)?;
    let verifier = PolicyVerifier::new(&policy).map_err(Coded::from)?;
    let audited: Vec<Audited> = packages(&args.spells)?
        .iter()
        .map(|p| audit(p, &policy, &verifier))
        .collect();
    let refused = audited.iter().filter(|a| a.error.is_some()).count();
    if args.json {
        let out = serde_json::json!({"spells": audited, "refused": refused});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for a in &audited {
            let spell = match (&a.name, &a.version) {
                (Some(n), Some(v)) => format!("{n} {v}"),
                _ => "-".to_string(),
            };
            let (code, why) = match &a.error {
                Some(e) => (e["code"].as_str().unwrap_or(""), e["message"].as_str()),
                None => ("", None),
            };
            println!(
                "{:<9} {:<11} {:<24} {}{}",
                a.verdict,
                code,
                spell,
                a.path.display(),
                why.map(|w| format!(": {w}")).unwrap_or_default()
            );
        }
        println!(
            "{} spells, {refused} would be refused under {}",
            audited.len(),
            args.policy.display()
        );
    }
    Ok(i32::from(refused > 0))
}
