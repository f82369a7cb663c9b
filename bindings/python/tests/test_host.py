"""Host functions written in Python: values both ways, guest memory through HostCall, and
failures that trap the guest and are reported as `hook_error`."""

from typing import Callable, Optional

import pytest

import spell
from conftest import guest_package

MANIFEST = {"capabilities": {"host_functions": ["host::add", "host::upper", "host::fail"]}}


class Host:
    """The host functions host.wat imports, remembering what they saw."""

    def __init__(self) -> None:
        self.calls: list[spell.HostCall] = []

    def add(self, call: spell.HostCall, a: int, b: int) -> int:
        return a + b

    def upper(self, call: spell.HostCall, ptr: int, length: int) -> None:
        self.calls.append(call)
        call.write(ptr, call.read_str(ptr, length).upper().encode())

    def fail(self, call: spell.HostCall) -> None:
        raise LookupError("no such key")

    def functions(self) -> list[spell.HostFunction]:
        return [
            spell.HostFunction("host", "add", self.add, params=["i32", "i32"], results=["i32"]),
            spell.HostFunction("host", "upper", self.upper, params=["i32", "i32"]),
            spell.HostFunction("host", "fail", self.fail),
        ]


@pytest.fixture(scope="module")
def host() -> Host:
    return Host()


@pytest.fixture(scope="module")
def host_spell(host: Host, test_policy: spell.Policy) -> spell.Spell:
    runtime = spell.Runtime(host_functions=host.functions(), pooling=False)
    return runtime.load(guest_package("host", "run", **MANIFEST), test_policy)


def test_host_functions_get_values_and_guest_memory(host: Host, host_spell: spell.Spell) -> None:
    outcome = host_spell.cast()
    assert outcome.outcome == "ok" and outcome.hook_error is None
    assert outcome.returned == [42, ord("H")]
    assert host.calls[-1].cast_id == outcome.usage.cast_id


def test_a_host_call_is_dead_after_its_function_returns(host: Host, host_spell: spell.Spell) -> None:
    host_spell.cast()
    with pytest.raises(spell.RunError, match="after its host function returned") as e:
        host.calls[-1].read(0, 5)
    assert e.value.name == "invalid_argument"


def test_a_raising_host_function_traps_and_is_reported(host_spell: spell.Spell) -> None:
    log = spell.UsageLog()
    outcome = host_spell.cast(export="fail", meter=log)
    assert (outcome.outcome, outcome.trap) == ("trap", "host_error")
    assert "LookupError: no such key" in (outcome.detail or "")
    err = outcome.hook_error
    assert isinstance(err, spell.HookError) and err.hook == "host::fail"
    assert isinstance(err.__cause__, LookupError)
    assert [r.outcome for r in log.records()] == ["trap"]


def test_out_of_bounds_memory_and_wrong_results_trap(test_policy: spell.Policy) -> None:
    def add(call: spell.HostCall, a: int, b: int) -> str:
        return "not a number"

    def upper(call: spell.HostCall, ptr: int, length: int) -> None:
        call.read(1 << 20, 1)

    def fail(call: spell.HostCall) -> Optional[int]:
        return 7

    funcs = [
        spell.HostFunction("host", "add", add, params=["i32", "i32"], results=["i32"]),
        spell.HostFunction("host", "upper", upper, params=["i32", "i32"]),
        spell.HostFunction("host", "fail", fail),
    ]
    runtime = spell.Runtime(host_functions=funcs, pooling=False)
    broken = runtime.load(guest_package("host", "run", **MANIFEST), test_policy)
    outcome = broken.cast()
    assert outcome.trap == "host_error" and "out of bounds" in (outcome.detail or "")
    assert outcome.hook_error is not None and outcome.hook_error.__cause__ is not None
    assert "declared no results" in (broken.cast(export="fail").detail or "")


def test_host_function_arguments_are_checked() -> None:
    with pytest.raises(spell.RunError, match="value type"):
        spell.HostFunction("host", "f", print, params=["i128"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="callable"):
        spell.HostFunction("host", "f", 3)  # type: ignore[arg-type]
    f = spell.HostFunction("kv", "get", print, params=["i32", "i64"], results=["f64"])
    assert (f.module, f.name, f.params, f.results) == ("kv", "get", ["i32", "i64"], ["f64"])


def test_reserved_module_is_refused() -> None:
    with pytest.raises(spell.RunError) as e:
        spell.Runtime(host_functions=[spell.HostFunction("spell", "f", print)], pooling=False)
    assert (e.value.code, e.value.name) == ("E-RUN-003", "host_function_invalid")


def test_a_host_function_may_cast_another_spell(test_policy: spell.Policy, guest: Callable[..., spell.Spell]) -> None:
    inner = guest("count")

    def add(call: spell.HostCall, a: int, b: int) -> int:
        returned = inner.cast(export="answer").returned
        return int(returned[0])

    funcs = [
        spell.HostFunction("host", "add", add, params=["i32", "i32"], results=["i32"]),
        spell.HostFunction("host", "upper", lambda call, ptr, length: None, params=["i32", "i32"]),
        spell.HostFunction("host", "fail", lambda call: None),
    ]
    runtime = spell.Runtime(host_functions=funcs, pooling=False)
    outer = runtime.load(guest_package("host", "run", **MANIFEST), test_policy)
    assert outer.cast().returned == [42, ord("h")]


#: A component importing `host::add` and `host::fail` as the instance `host` (values only).
HOST_COMPONENT = """(component
  (import "host" (instance $host
    (export "add" (func (param "a" s32) (param "b" s32) (result s32)))
    (export "fail" (func))))
  (core func $add (canon lower (func $host "add")))
  (core func $fail (canon lower (func $host "fail")))
  (core module $m
    (import "host" "add" (func $add (param i32 i32) (result i32)))
    (import "host" "fail" (func $fail))
    (func (export "sum") (result i32) (call $add (i32.const 40) (i32.const 2)))
    (func (export "boom") (call $fail)))
  (core instance $i (instantiate $m
    (with "host" (instance (export "add" (func $add)) (export "fail" (func $fail))))))
  (func (export "sum") (result s32) (canon lift (core func $i "sum")))
  (func (export "boom") (canon lift (core func $i "boom"))))"""


def test_a_component_calls_python_host_functions(host: Host, test_policy: spell.Policy) -> None:
    runtime = spell.Runtime(host_functions=host.functions(), pooling=False)
    fields = {"name": "comp", "version": "1.0.0", "license": "MIT", "entrypoint": "sum", **MANIFEST}
    component = runtime.load(spell.pack(fields, HOST_COMPONENT), test_policy)
    assert component.cast().returned == [42]
    outcome = component.cast(export="boom")
    assert (outcome.outcome, outcome.trap) == ("trap", "host_error")
    assert outcome.hook_error is not None and outcome.hook_error.hook == "host::fail"
    assert isinstance(outcome.hook_error.__cause__, LookupError)
