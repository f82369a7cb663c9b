"""Parity with the Rust types: the outcome, its usage record and the limits have every field of
schema/fields.json (generated from the Rust types by spell-runtime's `fields_are_current`), as
attributes and in `to_dict`, whose shape is that of `spell cast --json`."""

import json
from typing import Callable

import spell
from conftest import ROOT

FIELDS: dict[str, list[str]] = json.loads((ROOT / "schema" / "fields.json").read_text())


def test_outcome_and_usage_have_every_field(hello: spell.Spell) -> None:
    outcome = hello.cast(["fields"])
    d = outcome.to_dict()
    assert sorted(d) == FIELDS["outcome"]
    assert sorted(d["usage"]) == sorted(outcome.usage.to_dict()) == FIELDS["usage"]
    for name in FIELDS["outcome"]:
        assert hasattr(outcome, name), name
    for name in FIELDS["usage"]:
        assert getattr(outcome.usage, name) == d["usage"][name], name
    assert d["stdout"] == outcome.stdout.decode() and d["trap"] is None


class Seeing:
    """A meter that keeps the contexts it sees."""

    def __init__(self) -> None:
        self.contexts: list[spell.CastContext] = []

    def authorize(self, ctx: spell.CastContext) -> None:
        self.contexts.append(ctx)


def test_limits_have_every_field(hello: spell.Spell) -> None:
    meter = Seeing()
    hello.cast(meter=meter)
    limits = meter.contexts[0].limits
    assert sorted(limits.to_dict()) == FIELDS["limits"]
    for name in FIELDS["limits"]:
        assert isinstance(getattr(limits, name), int), name
    asked = spell.Limits(**{name: 1 for name in FIELDS["limits"]})
    assert sorted(asked.to_dict()) == FIELDS["limits"]


def test_a_trap_in_the_shared_shape(guest: Callable[..., spell.Spell]) -> None:
    d = guest("trap").cast().to_dict()
    assert (d["outcome"], d["trap"]) == ("trap", "unreachable_code_reached")
