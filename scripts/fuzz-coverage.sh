#!/usr/bin/env bash
# Source coverage of the fuzz targets' corpora: builds each target with `-Cinstrument-coverage`
# (`cargo fuzz coverage`, a third build of wasmtime beside the test suite's and the campaign's),
# replays its corpus (the campaign's grown one and the committed seeds), and prints a row per
# target for fuzz/README.md: the lines, functions and regions of Spell's own sources (spell-core,
# spell-verify, spell-runtime, spell-service, the fuzz crate; not generated code) the corpus
# reaches. Per-file reports stay in fuzz/target/coverage/<target>.txt.
#
#   scripts/fuzz-coverage.sh [TARGET...]
#
# Needs LLVM tools of the nightly's LLVM major version: this machine's nightly has no
# `llvm-tools` component, so Debian's `llvm-<major>` package is installed when missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rustup toolchain list | grep -q '^nightly' || { echo "fuzz-coverage: needs a nightly toolchain" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
major=$(rustc +nightly -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
llvm=/usr/lib/llvm-$major/bin
if [ ! -x "$llvm/llvm-profdata" ]; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "llvm-$major" >/dev/null
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
out=fuzz/target/coverage
mkdir -p "$out"
echo "| target | inputs | lines | functions | regions |"
echo "|---|---|---|---|---|"
for t in "${targets[@]}"; do
  corpora=("fuzz/corpus/$t")
  [ -d "fuzz/target/corpus/$t" ] && corpora=("fuzz/target/corpus/$t" "${corpora[@]}")
  inputs=$(find "${corpora[@]}" -type f | wc -l)
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} nice -n 19 cargo +nightly fuzz coverage -O \
    --codegen-units 16 --features libfuzzer --target-dir "$out/build" --llvm-path "$llvm" \
    "$t" "${corpora[@]}" >"$out/$t.log" 2>&1
  binary=$(find "$out/build" -path "*/release/$t" -type f | head -1)
  "$llvm/llvm-cov" report "$binary" -instr-profile="fuzz/coverage/$t/coverage.profdata" \
    --ignore-filename-regex='(/\.cargo/|/rustc/|/library/|/target/|/fuzz_targets/)' >"$out/$t.txt"
  # TOTAL: regions, missed, cover, functions, missed, executed, lines, missed, cover, ...
  awk -v t="$t" -v n="$inputs" '$1 == "TOTAL" {
    printf "| `%s` | %d | %s of %d | %s of %d | %s of %d |\n", t, n, $10, $8, $7, $5, $4, $2
  }' "$out/$t.txt"
done
