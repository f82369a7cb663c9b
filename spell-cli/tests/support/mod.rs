//! What the CLI's end-to-end tests share: the repository root and running the built `spell`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (examples, guests, policies).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the `spell` under test with `args`.
pub fn spell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(args)
        .output()
        .expect("run spell")
}

/// Output bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
