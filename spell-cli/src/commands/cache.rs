//! `spell cache info|clean`: the folder where `spell cast` keeps compiled modules.
//!
//! `spell cast` compiles a module once and keeps the result, authenticated, in the platform's
//! cache folder (`$SPELL_CACHE_DIR`, else `$XDG_CACHE_HOME/spell/aot` or `~/.cache/spell/aot`,
//! `~/Library/Caches/spell/aot` on macOS), bounded to 1 GiB, least recently used out first; the
//! next cast of the same module skips compilation, like `wasmtime run`'s cache.

use anyhow::Context;
use std::path::PathBuf;

/// `spell cache` subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Show the cache folder, its artifacts and their size.
    Info,
    /// Remove every compiled module from the cache.
    Clean,
}

/// The cache folder `spell cast` uses, unless `--no-cache`.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("SPELL_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("spell").join("aot")))
}

pub fn run(command: Command) -> anyhow::Result<i32> {
    let dir = dir().context("no cache folder: set SPELL_CACHE_DIR or HOME")?;
    match command {
        Command::Info => {
            let usage = spell_runtime::cache_usage(&dir)
                .with_context(|| format!("reading {}", dir.display()))?;
            println!(
                "{}: {} compiled modules, {} bytes (bound {} bytes)",
                dir.display(),
                usage.artifacts,
                usage.bytes,
                spell_runtime::config::DEFAULT_CACHE_MAX_BYTES
            );
        }
        Command::Clean => {
            let removed = spell_runtime::clear_cache(&dir)
                .with_context(|| format!("cleaning {}", dir.display()))?;
            println!(
                "{}: removed {} compiled modules, {} bytes",
                dir.display(),
                removed.artifacts,
                removed.bytes
            );
        }
    }
    Ok(0)
}
