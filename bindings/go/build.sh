#!/usr/bin/env bash
# Builds the C library (libspell.a, crate spell-capi-artifact) with cargo and copies it into
# bindings/go/lib/, where the cgo directives in ffi.go link it from. Run it once, and again after
# the Rust code changes; then `go test ./...` or `go build` as usual.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p spell-capi-artifact --manifest-path "$root/Cargo.toml"
mkdir -p "$here/lib"
cp "$target/release/libspell.a" "$here/lib/libspell.a.tmp"
mv "$here/lib/libspell.a.tmp" "$here/lib/libspell.a"
# go does not hash C libraries, only the package's files: a stamp header with the library's
# digest (included by ffi.go) makes it rebuild and relink when the library changes.
sum=$(sha256sum "$here/lib/libspell.a" | cut -d' ' -f1)
stamp="/* Written by build.sh: the sha256 of lib/libspell.a, so go rebuilds when it changes. */
#define SPELL_GO_LIBSPELL_SHA256 \"$sum\""
[ "$(cat "$here/libspell_stamp.h" 2>/dev/null)" = "$stamp" ] || printf '%s\n' "$stamp" > "$here/libspell_stamp.h"
