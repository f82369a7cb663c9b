//! Integration tests of spell-verify, one module per area, on the real vectors in
//! `../shared/testdata` (skipped with a message when that folder is absent) and on packages
//! signed locally.

mod osv;
mod sbom;
mod signing;
mod sigstore;

use std::path::PathBuf;

/// A file under `shared/testdata`, or `None` (with a message) when the folder is absent.
pub fn testdata(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata"
    ));
    if !root.is_dir() {
        eprintln!(
            "skipping: {} is absent (shared test vectors not checked out)",
            root.display()
        );
        return None;
    }
    Some(root.join(rel))
}

/// Reads a file under `shared/testdata`; panics if the folder exists but the file does not.
pub fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Changes the base64 character at `at` of a JSON string to another valid one.
pub fn flip_b64_at(v: &mut serde_json::Value, at: usize) {
    let mut s = v.as_str().expect("string").to_string();
    let c = if s.as_bytes()[at] == b'A' { "B" } else { "A" };
    s.replace_range(at..at + 1, c);
    *v = serde_json::Value::String(s);
}
