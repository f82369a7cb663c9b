#!/usr/bin/env bash
# Checks Spell as its users get it, from a clean temporary folder (run by scripts/test.sh):
# - Rust: `cargo package` of every published library crate, then a workspace of only the
#   unpacked .crate files (their path dependencies become registry ones, [patch]ed to each other)
#   checked with the release profile: a file a package forgot, or a path outside it, fails here.
# - Python: `pip install ./bindings/python` and a `maturin build` wheel, each in a fresh venv.
# - Node: the `npm pack` tarball installed in a fresh npm project.
# - Go: a fresh `go mod` project requiring the module, with a `replace` to this checkout.
# Each of the last three casts examples/hello/hello.spell. Builds share CARGO_TARGET_DIR (the
# checked-out addon, libspell and wheel are rebuilt only when the sources changed) and the Rust
# check includes workspace-hack, so none of them compiles wasmtime again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/spell/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/spell-packages.XXXXXX")
trap 'rm -rf "$work"' EXIT
policy="$root/examples/policy.toml"
hello="$root/examples/hello/hello.spell"
step() { printf 'check-packages: %s (%ss)\n' "$1" "$SECONDS"; }

# --- Rust -------------------------------------------------------------------------------------
crates=(spell-core spell-verify spell-runtime spell-ledger spell-service spell-capi)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)
# --no-verify: cargo's own verification builds each crate with the dev profile, so wasmtime from
# scratch; the release-profile check below verifies the same sources. Packaged together, the
# crates resolve each other from a local registry of this run's packages.
(cd "$root" && cargo package -q --allow-dirty --no-verify --target-dir "$work/cargo" \
  $(printf -- '-p %s ' "${crates[@]}"))
mkdir -p "$work/rust/crates"
patch=""
for c in "${crates[@]}"; do
  tar -xzf "$work/cargo/package/$c-$version.crate" -C "$work/rust/crates"
  patch+="$c = { path = \"crates/$c-$version\" }"$'\n'
done
# The checkout's feature unification, so the registry crates match the shared target's builds.
cp -r "$root/workspace-hack" "$work/rust/crates/"
cp "$root/Cargo.lock" "$work/rust/"
cat > "$work/rust/Cargo.toml" <<EOF
[workspace]
resolver = "3"
members = ["crates/*"]

[workspace.package]
version = "$version"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"

[patch.crates-io]
$patch
[profile.release]
incremental = true
EOF
(cd "$work/rust" && cargo check -q --release --workspace)
step "cargo package: ${crates[*]}"

# --- Python -----------------------------------------------------------------------------------
cat > "$work/cast.py" <<'EOF'
import sys
import spell
hello = spell.Runtime().load(sys.argv[2], spell.Policy.from_file(sys.argv[1]))
o = hello.cast(["package"])
assert (o.outcome, o.stdout) == ("ok", b"Hello, package!\n"), o
EOF
venv() { # venv DIR: a fresh virtualenv (Debian's python3 may lack ensurepip: virtualenv then)
  python3 -m venv "$1" 2>/dev/null || { rm -rf "$1"; python3 -m virtualenv -q "$1"; }
  "$1/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
}
pip() { "$1/bin/python" -m pip --disable-pip-version-check -q "${@:2}"; }
venv "$work/py-src"
pip "$work/py-src" install "$root/bindings/python"
(cd "$work" && py-src/bin/python cast.py "$policy" "$hello")
step "pip install ./bindings/python"
pip "$work/py-src" install "maturin>=1.9.4,<2"
"$work/py-src/bin/maturin" build -q --release -m "$root/bindings/python/Cargo.toml" -o "$work/wheels"
venv "$work/py-wheel"
pip "$work/py-wheel" install "$work"/wheels/*.whl
(cd "$work" && py-wheel/bin/python cast.py "$policy" "$hello")
step "maturin wheel"

# --- Node -------------------------------------------------------------------------------------
(cd "$root/bindings/node" && npm install --no-audit --no-fund --loglevel=error && npm run -s build)
tarball=$(cd "$root/bindings/node" && npm pack --silent --pack-destination "$work")
mkdir "$work/node" && cd "$work/node"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$work/$tarball"
node -e '
const { Runtime, Policy } = require("@spell/runtime")
;(async () => {
  const hello = await new Runtime().load(process.argv[2], Policy.fromFile(process.argv[1]))
  const r = await hello.cast({ args: ["package"] })
  if (r.outcome !== "ok" || r.stdout.toString() !== "Hello, package!\n") throw new Error(JSON.stringify(r))
})().catch((e) => { console.error(e); process.exit(1) })' "$policy" "$hello"
step "npm pack"

# --- Go ---------------------------------------------------------------------------------------
"$root/bindings/go/build.sh"
mkdir "$work/go" && cd "$work/go"
module=$(sed -n 's/^module //p' "$root/bindings/go/go.mod")
go mod init example.com/check 2>/dev/null
go mod edit -require "$module@v0.0.0" -replace "$module=$root/bindings/go"
cat > main.go <<EOF
package main

import (
	"context"
	"log"
	"os"

	spell "$module"
)

func main() {
	rt, err := spell.NewRuntime(nil)
	if err != nil {
		log.Fatal(err)
	}
	policy, err := spell.PolicyFromFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	pkg, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	hello, err := rt.Load(pkg, policy)
	if err != nil {
		log.Fatal(err)
	}
	out, err := hello.Cast(context.Background(), &spell.Request{Args: []string{"package"}})
	if err != nil {
		log.Fatal(err)
	}
	if out.Kind != spell.OutcomeOK || string(out.Stdout) != "Hello, package!\n" {
		log.Fatalf("%v %q", out.Kind, out.Stdout)
	}
}
EOF
go build -o check .
./check "$policy" "$hello"
step "go module with replace"
echo "check-packages: ok in ${SECONDS}s"
