//! placeholder until the runtime lands
#[derive(clap::Args)]
pub struct Args {}
pub fn run(_: Args) -> anyhow::Result<i32> { anyhow::bail!("cast: not yet") }
