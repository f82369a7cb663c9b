//! `spell verify`: built with the verification work (issue #4).

/// Arguments of `spell verify`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`spell verify` is not available in this build yet")
}
