#!/usr/bin/env bash
# The Node binding's tests: installs the npm dependencies, builds the addon (release profile, in
# the workspace's target dir or $CARGO_TARGET_DIR like every other build, so wasmtime is
# compiled once for everything), then runs the node:test suite, which also runs and type-checks
# the example and checks that index.d.ts is current.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
npm run build
npm test
