#!/usr/bin/env bash
# Lints, run by scripts/test.sh: rustfmt, clippy with warnings as errors (lints are configured in
# the workspace's [workspace.lints]), and the feature check that keeps wasmtime built once.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
scripts/check-features.sh
