#!/usr/bin/env bash
# Rebuilds examples/hello/hello.spell from hello.c with Debian's clang (see scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clang-14 --target=wasm32-wasi -O2 -Wl,--strip-all "$here/hello.c" -o "$here/module.wasm"
cargo run --release -q -p spell-cli -- pack "$here" -o "$here/hello.spell"
rm -f "$here/module.wasm"
