//! `spell sbom generate MODULE --name N --version V [--license L] [--cargo-lock F] [--purl P]...
//! [-o OUT]`: a CycloneDX 1.5 SBOM bound to the module by its sha256.

use crate::report::Coded;
use anyhow::Context;
use spell_verify::SbomBuilder;
use std::path::PathBuf;

/// SBOM subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a CycloneDX 1.5 SBOM for a module.
    Generate(GenerateArgs),
}

/// Arguments of `spell sbom generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The WebAssembly module (its sha256 goes into metadata.component).
    module: PathBuf,
    /// The spell's name.
    #[arg(long)]
    name: String,
    /// The spell's version.
    #[arg(long)]
    version: String,
    /// The spell's SPDX license expression.
    #[arg(long)]
    license: Option<String>,
    /// Add every registry package of this Cargo.lock as a component.
    #[arg(long)]
    cargo_lock: Option<PathBuf>,
    /// Add a component by package URL with version (repeatable), e.g. pkg:cargo/serde@1.0.200.
    #[arg(long)]
    purl: Vec<String>,
    /// Output file (default: stdout).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(command: Command) -> anyhow::Result<i32> {
    let Command::Generate(args) = command;
    let module = std::fs::read(&args.module)
        .with_context(|| format!("reading {}", args.module.display()))?;
    let mut builder = SbomBuilder::new(&args.name, &args.version, &module);
    if let Some(license) = &args.license {
        builder = builder.license(license);
    }
    if let Some(lock) = &args.cargo_lock {
        let text =
            std::fs::read_to_string(lock).with_context(|| format!("reading {}", lock.display()))?;
        builder = builder.cargo_lock(&text).map_err(Coded::from)?;
    }
    for purl in &args.purl {
        builder = builder.purl(purl).map_err(Coded::from)?;
    }
    let sbom = builder.build();
    match &args.output {
        Some(path) => {
            std::fs::write(path, &sbom).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&sbom)?;
        }
    }
    Ok(0)
}
