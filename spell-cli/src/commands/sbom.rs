//! `spell sbom ...`: built with the verification work (issue #4).

/// SBOM subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a CycloneDX 1.5 SBOM for a module.
    Generate,
}

pub fn run(_: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`spell sbom` is not available in this build yet")
}
