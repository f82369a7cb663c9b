"""Metering hooks from Python: called exactly once per cast whatever the outcome, allowances,
budgets, and hooks that raise (reported as `hook_error`, never a crash or a lost record)."""

from typing import Callable, Optional, Union

import pytest

import spell
from conftest import guest_package


class Counting:
    """A meter that keeps every call."""

    def __init__(self, allowance: Optional[int] = None) -> None:
        self.allowance = allowance
        self.contexts: list[spell.CastContext] = []
        self.records: list[spell.Usage] = []
        self.events: list[spell.Event] = []

    def authorize(self, ctx: spell.CastContext) -> Optional[int]:
        self.contexts.append(ctx)
        return self.allowance

    def record(self, usage: spell.Usage) -> None:
        self.records.append(usage)

    def observe(self, event: spell.Event) -> None:
        self.events.append(event)


def test_hooks_run_exactly_once_per_cast_whatever_the_outcome(
    hello: spell.Spell, guest: Callable[..., spell.Spell]
) -> None:
    class Refusing(Counting):
        def authorize(self, ctx: spell.CastContext) -> None:
            raise spell.Denied("no")

    meter, refusing = Counting(), Refusing()
    outcomes = [
        hello.cast(["a"], meter=meter).outcome,
        guest("exit").cast(meter=meter).outcome,
        guest("trap").cast(meter=meter).outcome,
        guest("spin").cast(meter=meter, limits={"fuel": 1000}).outcome,
        guest("spin").cast(meter=meter, limits={"wall_time_ms": 20}).outcome,
        guest("grow").cast(meter=meter, limits={"memory_bytes": 1 << 20}).outcome,
    ]
    assert outcomes == ["ok", "exit", "trap", "out_of_fuel", "timeout", "memory_limit"]
    assert [u.outcome for u in meter.records] == outcomes
    assert [c.cast_id for c in meter.contexts] == [u.cast_id for u in meter.records]
    assert len({u.cast_id for u in meter.records}) == len(outcomes)
    assert [(e.kind, e.outcome) for e in meter.events] == [("limit_hit", "timeout"), ("limit_hit", "memory_limit")]
    assert hello.cast(meter=refusing).outcome == "denied"
    assert [(u.outcome, u.fuel) for u in refusing.records] == [("denied", None)]


def test_authorize_sees_the_cast_and_its_limits(hello: spell.Spell) -> None:
    meter = Counting()
    hello.cast(meter=meter, limits=spell.Limits(fuel=12345))
    ctx = meter.contexts[0]
    assert (ctx.spell_name, ctx.spell_version, ctx.spell_digest) == ("hello", "0.1.0", hello.digest)
    assert ctx.limits.fuel == 12345 and ctx.limits.memory_bytes == 16 << 20


def test_refused_requests_call_no_hook(hello: spell.Spell) -> None:
    meter = Counting()
    with pytest.raises(spell.PolicyError):
        hello.cast(env={"NOT_GRANTED": "1"}, meter=meter)
    assert meter.contexts == [] and meter.records == []


@pytest.mark.parametrize("allowance", [700, spell.Allowance(max_fuel=700)])
def test_authorize_allowance_caps_fuel(guest: Callable[..., spell.Spell], allowance: Union[int, spell.Allowance]) -> None:
    class Allow:
        def authorize(self, ctx: spell.CastContext) -> Union[int, spell.Allowance]:
            return allowance

    outcome = guest("spin").cast(meter=Allow())
    assert outcome.outcome == "out_of_fuel" and outcome.usage.fuel == 700
    assert "allowance" in (outcome.detail or "")


def test_usage_log_budget_denies_once_spent(guest: Callable[..., spell.Spell]) -> None:
    log = spell.UsageLog(fuel_budget=5000)
    spin = guest("spin")
    assert [spin.cast(meter=log).outcome for _ in range(2)] == ["out_of_fuel", "denied"]
    assert [r.fuel for r in log.records()] == [5000, None] and len(log) == 2


def test_a_callable_meter_is_the_record_hook(hello: spell.Spell) -> None:
    records: list[spell.Usage] = []
    hello.cast(meter=records.append)
    assert [r.outcome for r in records] == ["ok"]


def test_runtime_meter_applies_unless_the_cast_names_one(test_policy: spell.Policy) -> None:
    log, other = spell.UsageLog(), spell.UsageLog()
    runtime = spell.Runtime(meter=log, pooling=False)
    trap = runtime.load(guest_package("trap"), test_policy)
    trap.cast()
    trap.cast(meter=other)
    assert (len(log), len(other)) == (1, 1)


def test_record_that_raises_is_reported_and_the_outcome_kept(hello: spell.Spell) -> None:
    calls: list[spell.Usage] = []

    def record(usage: spell.Usage) -> None:
        calls.append(usage)
        raise ValueError("billing store down")

    outcome = hello.cast(["x"], meter=record)
    assert outcome.outcome == "ok" and outcome.stdout == b"Hello, x!\n"
    assert len(calls) == 1
    err = outcome.hook_error
    assert isinstance(err, spell.HookError) and isinstance(err, spell.RunError)
    assert (err.code, err.name, err.hook) == ("E-RUN-004", "hook_failed", "record")
    assert isinstance(err.__cause__, ValueError) and "billing store down" in str(err)
    assert outcome.to_dict()["hook_error"]["hook"] == "record"


def test_authorize_that_raises_denies_and_still_records(hello: spell.Spell) -> None:
    meter = Counting()

    def authorize(ctx: spell.CastContext) -> None:
        raise RuntimeError("auth service down")

    meter.authorize = authorize  # type: ignore[method-assign]
    outcome = hello.cast(meter=meter)
    assert outcome.outcome == "denied" and "RuntimeError: auth service down" in (outcome.detail or "")
    assert [u.outcome for u in meter.records] == ["denied"]
    assert outcome.hook_error is not None and outcome.hook_error.hook == "authorize"
    assert isinstance(outcome.hook_error.__cause__, RuntimeError)


def test_authorize_returning_nonsense_denies(hello: spell.Spell) -> None:
    class Odd:
        def authorize(self, ctx: spell.CastContext) -> str:
            return "yes"

    outcome = hello.cast(meter=Odd())  # type: ignore[arg-type]
    assert outcome.outcome == "denied"
    assert outcome.hook_error is not None and isinstance(outcome.hook_error.__cause__, TypeError)


def test_observe_that_raises_is_reported(guest: Callable[..., spell.Spell]) -> None:
    class Observer:
        def observe(self, event: spell.Event) -> None:
            raise KeyError(event.kind)

    outcome = guest("spin").cast(meter=Observer(), limits={"wall_time_ms": 20})
    assert outcome.outcome == "timeout"
    assert outcome.hook_error is not None and outcome.hook_error.hook == "observe"
    assert isinstance(outcome.hook_error.__cause__, KeyError)


def test_on_output_that_raises_is_reported_and_output_kept(hello: spell.Spell) -> None:
    def on_output(stream: str, chunk: bytes) -> None:
        raise OSError("terminal gone")

    outcome = hello.cast(["x"], on_output=on_output)
    assert outcome.outcome == "ok" and outcome.stdout == b"Hello, x!\n"
    assert outcome.hook_error is not None and outcome.hook_error.hook == "on_output"


def test_meter_of_the_wrong_kind_is_refused(hello: spell.Spell) -> None:
    with pytest.raises(TypeError, match="meter must be"):
        hello.cast(meter=42)  # type: ignore[arg-type]
