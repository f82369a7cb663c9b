//! `spell inspect X.spell [--json] [--manifest]`

use crate::report::Coded;
use spell_core::{Package, PackageLimits};
use std::path::PathBuf;

/// Arguments of `spell inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Print the exact spell.json bytes (what a signature covers).
    #[arg(long, conflicts_with = "json")]
    manifest: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let pkg = Package::read_file(&args.package, &PackageLimits::default()).map_err(Coded::from)?;
    let m = &pkg.manifest;
    if args.manifest {
        use std::io::Write;
        std::io::stdout().write_all(&pkg.manifest_bytes)?;
        return Ok(0);
    }
    let info = pkg.info();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(0);
    }
    println!("{} {}  ({})", m.name, m.version, m.license);
    if let Some(d) = &m.description {
        println!("  {d}");
    }
    println!("digest      sha256:{}", pkg.digest());
    println!(
        "module      {} {} bytes, sha256:{}, entrypoint `{}`",
        m.module.kind, m.module.size, m.module.sha256, m.entrypoint
    );
    println!("imports     {}", list(&info.imports));
    println!("exports     {}", list(&info.exports));
    match &m.sbom {
        Some(s) => println!("sbom        {} bytes, sha256:{}", s.size, s.sha256),
        None => println!("sbom        none"),
    }
    println!(
        "signed      {}",
        if pkg.bundle.is_some() {
            "yes (spell.sigstore.json)"
        } else {
            "no"
        }
    );
    let c = &m.capabilities;
    println!(
        "asks for    env {:?}, mounts {:?}, network {:?}, host functions {:?}",
        c.env,
        c.mounts
            .iter()
            .map(|x| format!("{}:{:?}", x.guest, x.access))
            .collect::<Vec<_>>(),
        c.network.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        c.host_functions
    );
    println!("limits      {}", serde_json::to_string(&m.limits)?);
    Ok(0)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
