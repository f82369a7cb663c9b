//! Real inputs the targets build on.

use spell_core::{Package, PackageLimits};
use std::path::{Path, PathBuf};

/// `examples/hello/hello.spell`: a real unsigned package (a C module, no SBOM).
pub(crate) fn hello_package() -> Package {
    let bytes = include_bytes!("../../examples/hello/hello.spell");
    Package::read(bytes, &PackageLimits::default()).expect("the example package reads")
}

/// This crate's folder, where `fixtures/` and `corpus/` are.
pub(crate) fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/<name>`.
pub(crate) fn path(name: &str) -> PathBuf {
    crate_dir().join("fixtures").join(name)
}
