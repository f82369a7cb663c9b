#!/usr/bin/env bash
# Builds libspell.a, compiles the C API test (spell_test.c) against it with gcc, and runs it on
# the bundled example spell. Called by bindings/go/test.sh; runs on its own too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p spell-capi-artifact --manifest-path "$root/Cargo.toml"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
gcc -std=c11 -O1 -Wall -Wextra -Werror -Wno-unused-parameter -I "$root/bindings/c/include" \
  "$here/spell_test.c" "$target/release/libspell.a" -lpthread -ldl -lm -lrt -o "$out/spell_test"
"$out/spell_test" "$root/examples/hello/hello.spell"
