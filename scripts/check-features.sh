#!/usr/bin/env bash
# Fails when a build the project makes on its own (the CLI, a binding, the benches, the fuzz
# targets' replay test) would resolve a crate the runtime is built from with other features than
# `cargo test --workspace` does: cargo would then compile that crate and everything above it,
# wasmtime included (~9 minutes on two cores), a second time. The fix: add the workspace's
# features for the crates listed to workspace-hack/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
# `name vX.Y.Z [features]` a line; workspace members without their path.
tree() {
  cargo tree --locked -f '{p} [{f}]' --prefix none "$@" | sed 's/ (\*)//; s/ (proc-macro)//; s/ (\/[^)]*)//' | sort -u
}
# The test suite builds the CLI with its optional OTLP export (scripts/test.sh).
workspace=$(tree -e normal,build,dev --workspace --features spell-cli/otlp)
# The runtime's own closure: wasmtime, wasmtime-wasi, their build scripts and proc-macros.
runtime=$(tree -e normal,build -p spell-runtime | sed 's/ \[.*/ [/')
status=0
check() { # check PACKAGE EDGES
  local extra
  extra=$(comm -23 <(tree -e "$2" -p "$1") <(printf '%s\n' "$workspace") \
    | grep -F -f <(printf '%s\n' "$runtime") || true)
  if [ -n "$extra" ]; then
    printf '%s resolves these runtime dependencies unlike cargo test --workspace:\n%s\n' "$1" "$extra" >&2
    status=1
  fi
}
for package in spell-cli spell-node spell-python spell-capi-artifact; do check "$package" normal,build; done
for package in spell-benches spell-fuzz; do check "$package" normal,build,dev; done
[ "$status" = 0 ] && echo "check-features: every build shares the workspace's wasmtime"
exit "$status"
