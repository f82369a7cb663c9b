#!/usr/bin/env bash
# Lints, run by scripts/test.sh: rustfmt, clippy with warnings as errors (lints are configured in
# the workspace's [workspace.lints]), the feature check that keeps wasmtime built once, and a
# build of the fuzz targets so they do not rot.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --features spell-cli/otlp -- -D warnings
scripts/check-features.sh
# The libFuzzer targets still build (stable, without coverage instrumentation: fuzz/README.md).
cargo build --release -p spell-fuzz --features libfuzzer --bins
