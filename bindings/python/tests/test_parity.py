"""The cross-language parity suite: each scenario of bindings/parity/scenarios.json cast from
Python must give, field by field, the outcome the Rust run recorded in expected.json."""

import json
import pathlib
from typing import Any, Optional

import pytest

import spell

PARITY = pathlib.Path(__file__).resolve().parents[2] / "parity"
SUITE = json.loads((PARITY / "scenarios.json").read_text())
EXPECTED = json.loads((PARITY / "expected.json").read_text())


class ScenarioMeter:
    """Refuses or fails as a scenario's `meter` says: Python's way is to raise."""

    def __init__(self, says: dict[str, str]) -> None:
        self.says = says

    def authorize(self, ctx: spell.CastContext) -> None:
        if self.says.get("authorize") == "deny":
            raise spell.Denied("parity: no budget")
        if self.says.get("authorize") == "fail":
            raise RuntimeError("parity: budget store down")

    def observe(self, event: spell.Event) -> None:
        if self.says.get("observe") == "fail":
            raise RuntimeError("parity: event sink down")

    def record(self, usage: spell.Usage) -> None:
        if self.says.get("record") == "fail":
            raise RuntimeError("parity: ledger down")


def without(value: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """`value` without each dotted path of `paths`."""
    for path in paths:
        *parents, last = path.split(".")
        at: Optional[Any] = value
        for key in parents:
            at = at.get(key) if isinstance(at, dict) else None
        if isinstance(at, dict):
            at.pop(last, None)
    return value


@pytest.fixture(scope="module")
def parity() -> spell.Spell:
    def fail(call: spell.HostCall) -> int:
        raise RuntimeError(SUITE["host_failure"])

    runtime = spell.Runtime(host_functions=[spell.HostFunction("parity", "fail", fail, results=["i32"])])
    package = spell.pack(SUITE["manifest"], (PARITY / "guest.wat").read_text())
    return runtime.load(package, spell.Policy.from_toml(SUITE["policy"]))


@pytest.mark.parametrize("scenario", SUITE["scenarios"], ids=lambda s: s["name"])
def test_the_scenario_matches_the_rust_run(parity: spell.Spell, scenario: dict[str, Any]) -> None:
    cancel = None
    if scenario.get("cancel"):
        cancel = spell.CancelHandle()
        cancel.cancel()
    meter = ScenarioMeter(scenario["meter"]) if "meter" in scenario else None
    outcome = parity.cast(export=scenario.get("export"), limits=scenario.get("limits"), meter=meter, cancel=cancel)
    shape = without(without(outcome.to_dict(), SUITE["volatile"]), scenario.get("volatile", []))
    assert shape == EXPECTED[scenario["name"]]
