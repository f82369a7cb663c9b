//! `spell sign X.spell --key KEY [-o OUT]`: signs the package's exact spell.json offline with a
//! key from `spell keygen` and writes the bundle into the package.

use crate::report::Coded;
use anyhow::Context;
use spell_core::{Package, PackageLimits};
use spell_verify::SigningKey;
use std::path::PathBuf;
use std::time::SystemTime;

/// Arguments of `spell sign`.
#[derive(clap::Args)]
pub struct Args {
    /// The package; rewritten in place unless --output is given.
    package: PathBuf,
    /// The signing key file written by `spell keygen`.
    #[arg(long)]
    key: PathBuf,
    /// Write the signed package here instead.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let key = SigningKey::from_pem(&text).map_err(Coded::from)?;
    let pkg = Package::read_file(&args.package, &PackageLimits::default()).map_err(Coded::from)?;
    let signed = key
        .sign_package(&pkg, SystemTime::now())
        .map_err(Coded::from)?;
    let out = args.output.as_ref().unwrap_or(&args.package);
    std::fs::write(out, &signed).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "signed {} {} -> {} (key {})",
        pkg.manifest.name,
        pkg.manifest.version,
        out.display(),
        key.fingerprint()
    );
    Ok(0)
}
