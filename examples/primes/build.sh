#!/usr/bin/env bash
# Rebuilds examples/primes/primes.spell from primes.c with Debian's clang (see scripts/install-deps.sh):
# compile, write a CycloneDX SBOM bound to the module, pack, and sign with the example key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spell() { cargo run --release -q -p spell-cli --manifest-path "$root/Cargo.toml" -- "$@"; }
clang-14 --target=wasm32-wasi -O2 -Wl,--strip-all "$here/primes.c" -o "$here/module.wasm"
# The module statically links Debian's wasi-libc (the version clang-14 builds against here).
spell sbom generate "$here/module.wasm" --name primes --version 0.1.0 --license Apache-2.0 \
  --purl "pkg:deb/debian/wasi-libc@0.0~git20220510.9886d3d-2?arch=all" -o "$here/sbom.cdx.json"
spell pack "$here" -o "$here/primes.spell"
spell sign "$here/primes.spell" --key "$root/examples/keys/example.key"
rm -f "$here/module.wasm" "$here/sbom.cdx.json"
