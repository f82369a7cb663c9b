//! `spell pack DIR -o X.spell`

use crate::report::Coded;
use anyhow::Context;
use spell_core::Package;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `spell pack`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder with spell.json, module.wasm and optionally sbom.cdx.json.
    dir: PathBuf,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// A Sigstore bundle over the folder's spell.json, made by a standard Sigstore client.
    #[arg(long)]
    bundle: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let read = |name: &str| {
        std::fs::read(args.dir.join(name))
            .with_context(|| format!("reading {}", args.dir.join(name).display()))
    };
    let manifest = read("spell.json")?;
    let module = read("module.wasm")?;
    let sbom_path = args.dir.join("sbom.cdx.json");
    let sbom = if sbom_path.exists() {
        Some(read("sbom.cdx.json")?)
    } else {
        None
    };
    let bundle = args
        .bundle
        .as_ref()
        .map(|b| std::fs::read(b).with_context(|| format!("reading {}", b.display())))
        .transpose()?;
    let bytes = Package::pack(&manifest, &module, sbom.as_deref(), None).map_err(Coded::from)?;
    let bytes = match bundle {
        // A bundle signs the exact spell.json bytes, so they must already be the packed form.
        Some(bundle) => {
            let pkg = Package::read(&bytes, &Default::default()).map_err(Coded::from)?;
            anyhow::ensure!(
                pkg.manifest_bytes == manifest,
                "--bundle needs spell.json exactly as packed (pins filled in); write it with `spell inspect --manifest` and sign that"
            );
            pkg.with_bundle(&bundle)
        }
        None => bytes,
    };
    // Checked before anything is written, and written whole or not at all: a refused package
    // never leaves a file behind, and a reader never sees half of one.
    let pkg = Package::read(&bytes, &Default::default()).map_err(Coded::from)?;
    write_atomically(&args.output, &bytes)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "packed {} {} -> {} ({} bytes, digest {})",
        pkg.manifest.name,
        pkg.manifest.version,
        args.output.display(),
        bytes.len(),
        pkg.digest()
    );
    Ok(0)
}

/// Writes to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
