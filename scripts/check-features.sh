#!/usr/bin/env bash
# Fails when a build the project makes on its own (the CLI, a binding, the benches, the fuzz
# targets as scripts/lint.sh builds them) would resolve a crate the runtime is built from with
# other features than `cargo test --workspace` does: cargo would then compile that crate and
# everything above it, wasmtime included (~9 minutes on two cores), a second time. The fix: add
# the workspace's features for the crates listed to workspace-hack/Cargo.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
# `name vX.Y.Z [features]` a line; workspace members without their path.
tree() {
  cargo tree --locked -f '{p} [{f}]' --prefix none "$@" | sed 's/ (\*)//; s/ (proc-macro)//; s/ (\/[^)]*)//' | sort -u
}
# Two views, both needed. Over every edge, a build script or proc-macro (built for the host)
# resolved otherwise shows. Over normal edges without proc-macros, only what the runtime links: a
# crate built for both sides (typenum, under wiggle's macro and under rmcp's sha2) has a line per
# side in the first view, where a target-side difference finds its match in the host's line.
all_edges=normal,build
target_edges=normal,no-proc-macro
# The test suite builds the CLI with its optional OTLP export (scripts/test.sh).
workspace_all=$(tree -e "$all_edges,dev" --workspace --features spell-cli/otlp)
workspace_target=$(tree -e "$target_edges,dev" --workspace --features spell-cli/otlp)
# The runtime's closure: wasmtime, wasmtime-wasi, their build scripts and proc-macros, with the
# dependencies workspace-hack's features add to them (`futures`'s executor): the first of the two
# trees, the runtime's, resolved together with the hack.
runtime=$(cargo tree --locked -e normal,build -p spell-runtime -p spell-workspace-hack \
  --prefix depth -f '{p} [' | awk '/^0/ { root++ } root == 1 && NF' | sed 's/^[0-9]*//; s/ (\/[^)]*)//' | sort -u)
status=0
check() { # check EDGES WORKSPACE_TREE PACKAGE [cargo tree options]
  local edges=$1 workspace=$2 extra
  shift 2
  extra=$(comm -23 <(tree -e "$edges" "$@") <(printf '%s\n' "$workspace") \
    | grep -F -f <(printf '%s\n' "$runtime") || true)
  if [ -n "$extra" ]; then
    printf '%s resolves these runtime dependencies unlike cargo test --workspace:\n%s\n' "$*" "$extra" >&2
    status=1
  fi
}
builds=(
  "-p spell-cli" "-p spell-node" "-p spell-python" "-p spell-capi-artifact"
  "-p spell-fuzz --features libfuzzer"
)
for build in "${builds[@]}"; do
  read -ra args <<< "$build"
  check "$all_edges" "$workspace_all" "${args[@]}"
  check "$target_edges" "$workspace_target" "${args[@]}"
done
# `cargo bench -p spell-benches` builds its dev-dependencies too.
check "$all_edges,dev" "$workspace_all" -p spell-benches
check "$target_edges,dev" "$workspace_target" -p spell-benches
[ "$status" = 0 ] && echo "check-features: every build shares the workspace's wasmtime"
exit "$status"
