#!/usr/bin/env bash
# The Node binding's tests: installs the npm dependencies, builds the addon (release profile, in
# the workspace's target dir or $CARGO_TARGET_DIR like every other build, so wasmtime is
# compiled once for everything), then runs the node:test suite, which also runs and type-checks
# the example and checks that index.d.ts is current.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# `npm install` rather than `npm ci`: it installs exactly the locked versions too, but `npm ci`
# refuses this lock, which holds only this platform's optional native packages of
# @napi-rs/cli's dependencies.
npm install --no-audit --no-fund --loglevel=error
npm run build
npm test
