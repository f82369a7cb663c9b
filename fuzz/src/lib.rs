//! # spell-fuzz
//!
//! Fuzz targets for Spell: each module's `run` takes arbitrary bytes, feeds them to one parser or
//! to the sandbox, and panics when an oracle finds a broken invariant. The libFuzzer binaries in
//! `fuzz_targets/` (feature `libfuzzer`, nightly) only call these functions, and the stable
//! corpus replay test (`tests/corpus_replay.rs`) runs every file of `corpus/<target>/` through
//! the same functions, so a crash found once stays fixed.

pub mod bundle_verify;
pub mod cast_request;
pub mod compile_budget;
pub mod components;
mod fixtures;
pub mod host_calls;
mod loopback;
pub mod manifest_parse;
pub mod package_unpack;
pub mod policy_parse;
pub mod sandbox;
pub mod sbom_parse;

/// A target: its name (of its `fuzz_targets/` binary and `corpus/` folder) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 10] = [
    ("package_unpack", package_unpack::run),
    ("manifest_parse", manifest_parse::run),
    ("policy_parse", policy_parse::run),
    ("sbom_parse", sbom_parse::run),
    ("bundle_verify", bundle_verify::run),
    ("sandbox", sandbox::run),
    ("host_calls", host_calls::run),
    ("compile_budget", compile_budget::run),
    ("cast_request", cast_request::run),
    ("components", components::run),
];
