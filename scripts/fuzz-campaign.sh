#!/usr/bin/env bash
# One command for a fuzzing campaign: builds every cargo-fuzz target once (nightly, libFuzzer
# coverage instrumentation), runs each for the given time at low priority, minimizes what it grew,
# and prints a row per target for fuzz/README.md's table (executions, exec/s, edges covered,
# findings).
#
#   scripts/fuzz-campaign.sh [--time SECONDS] [--sanitizer none|address] [--minimize] [TARGET...]
#
# Grown corpora stay in fuzz/target/corpus/<target> between campaigns (each run starts from them
# and the committed seeds in fuzz/corpus/<target>); --minimize replaces them by `cargo fuzz cmin`'s
# minimal set; a dictionary in fuzz/dicts/<target>.dict is passed to libFuzzer. Findings land in
# fuzz/artifacts/<target>/: a finding is a bug, fixed with its input added to fuzz/corpus/<target>/
# (the stable replay test then guards it).
#
# The default sanitizer is none: the targets' oracles and Rust's own checks (debug assertions and
# overflow checks are on) catch what the parsers can get wrong, and without AddressSanitizer the
# runs go two to three times further on this two-core machine. Use --sanitizer address for the
# unsafe code beneath (wasmtime).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# `nice` orders processes within one scheduler group only, and a campaign started in a session of
# its own (`setsid`, as for a background run) is a group of its own, which Linux's autogroup
# scheduling gives a full share beside the builds and benchmarks it should yield to (measured
# here: a nice 19 fuzzer took 70% of a core from two rustc processes). So the group is lowered
# too, when it is the campaign's alone: the group is the whole session's.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ]; then
  echo 19 2>/dev/null >/proc/self/autogroup || true
fi

time_per_target=600
sanitizer=none
minimize=false
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --time) time_per_target=$2; shift 2 ;;
    --sanitizer) sanitizer=$2; shift 2 ;;
    --minimize) minimize=true; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done

rustup toolchain list | grep -q '^nightly' || { echo "fuzz-campaign: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

# cargo-fuzz's own target folder: a second wasmtime build, with coverage instrumentation.
fuzz=(cargo +nightly fuzz)
opts=(-O -a -s "$sanitizer" --codegen-units 16 --features libfuzzer --target-dir fuzz/target)
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${fuzz[@]}" list)
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} nice -n 19 "${fuzz[@]}" build "${opts[@]}"

mkdir -p fuzz/target/logs
echo "| target | time | executions | exec/s | coverage (edges) | features | corpus | findings |"
echo "|---|---|---|---|---|---|---|---|"
for t in "${targets[@]}"; do
  corpus=fuzz/target/corpus/$t
  log=fuzz/target/logs/$t-$(date +%Y%m%d-%H%M%S).log
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f -name 'crash-*' -o -type f -name 'oom-*' -o -type f -name 'timeout-*' | wc -l)
  # A target's dictionary (the keys and tokens its format is made of), when it has one.
  dict=()
  [ -f "fuzz/dicts/$t.dict" ] && dict=(-dict="fuzz/dicts/$t.dict")
  # A crash stops libFuzzer: the script goes on to the next target and reports it.
  nice -n 19 "${fuzz[@]}" run "${opts[@]}" "$t" "$corpus" "fuzz/corpus/$t" -- \
    -max_total_time="$time_per_target" -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
    "${dict[@]}" >"$log" 2>&1 || true
  if $minimize; then
    nice -n 19 "${fuzz[@]}" cmin "${opts[@]}" "$t" "$corpus" >>"$log" 2>&1 || true
  fi
  after=$(find "fuzz/artifacts/$t" -type f -name 'crash-*' -o -type f -name 'oom-*' -o -type f -name 'timeout-*' | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  files=$(find "$corpus" -type f | wc -l)
  echo "| \`$t\` | ${time_per_target} s | ${execs:-?} | ${secs:-?} | ${cov:-?} | ${ft:-?} | $files | $((after - before)) new ($log) |"
done
