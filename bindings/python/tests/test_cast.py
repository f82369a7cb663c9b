"""Casting from Python: the bundled example, every outcome, returned values, the outcome and
usage as dicts."""

from typing import Callable

import pytest

import spell
from conftest import HELLO, guest_package


def test_hello_greets_its_argument_and_echoes_stdin(hello: spell.Spell) -> None:
    outcome = hello.cast(["Python"], stdin=b"piped in\n")
    assert outcome.outcome == "ok" and outcome.ok
    assert outcome.exit_code == 0
    assert outcome.stdout == b"Hello, Python!\npiped in\n"
    assert outcome.stderr == b""
    assert outcome.trap is None and outcome.detail is None and outcome.hook_error is None


def test_hello_reads_a_granted_env_variable_and_str_stdin(hello: spell.Spell) -> None:
    outcome = hello.cast(env={"HELLO_NAME": "env"}, stdin="text\n")
    assert outcome.stdout == b"Hello, env!\ntext\n"


def test_load_accepts_bytes_and_paths_alike(runtime: spell.Runtime, hello: spell.Spell) -> None:
    policy = spell.Policy.from_file(str(HELLO.parents[2] / "examples" / "policy.toml"))
    from_bytes = runtime.load(HELLO.read_bytes(), policy)
    from_str = runtime.load(str(HELLO), policy)
    assert from_bytes.digest == from_str.digest == hello.digest
    assert (hello.name, hello.version, hello.entrypoint) == ("hello", "0.1.0", "_start")
    assert hello.grant["env"] == ["HELLO_NAME"]
    assert hello.grant["limits"]["fuel"] == 100_000_000


def test_trusting_policy_grants_what_the_manifest_asks(runtime: spell.Runtime) -> None:
    trusted = runtime.load(HELLO, spell.Policy.trusting(HELLO))
    assert trusted.cast(env={"HELLO_NAME": "me"}).stdout == b"Hello, me!\n"


def test_usage_has_the_fields_of_the_rust_record(hello: spell.Spell) -> None:
    outcome = hello.cast(["x"])
    usage = outcome.usage
    as_dict = usage.to_dict()
    assert set(as_dict) == {
        "cast_id", "spell_digest", "spell_name", "outcome", "exit_code", "fuel", "wall_ns", "cpu_ns",
        "memory_peak_bytes", "stdout_bytes", "stderr_bytes", "net_requests", "net_bytes_in",
        "net_bytes_out", "disk_bytes_written", "started_at_ms", "trace_id",
    }  # fmt: skip
    for key, value in as_dict.items():
        assert getattr(usage, key) == value, key
    assert usage.outcome == "ok" and usage.spell_name == "hello" and usage.spell_digest == hello.digest
    assert usage.fuel is not None and usage.fuel > 0
    assert usage.stdout_bytes == len(outcome.stdout) == len(b"Hello, x!\n")
    assert usage.memory_peak_bytes > 0 and usage.wall_ns > 0 and len(usage.cast_id) == 32


def test_outcome_to_dict_carries_everything(hello: spell.Spell) -> None:
    d = hello.cast(["dict"]).to_dict()
    assert d["outcome"] == "ok" and d["exit_code"] == 0 and d["stdout"] == "Hello, dict!\n"
    assert d["usage"]["outcome"] == "ok" and d["hook_error"] is None and d["returned"] == []


def test_exit_with_a_nonzero_code(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("exit").cast()
    assert (outcome.outcome, outcome.exit_code) == ("exit", 3)


def test_trap_names_its_kind(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("trap").cast()
    assert (outcome.outcome, outcome.trap) == ("trap", "unreachable_code_reached")
    assert outcome.detail


def test_out_of_fuel_uses_exactly_the_limit(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("spin").cast(limits=spell.Limits(fuel=10_000))
    assert outcome.outcome == "out_of_fuel"
    assert outcome.usage.fuel == 10_000


def test_limits_may_be_a_dict(guest: Callable[..., spell.Spell]) -> None:
    assert guest("spin").cast(limits={"fuel": 5_000}).usage.fuel == 5_000


def test_timeout_at_the_wall_time_limit(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("spin").cast(limits=spell.Limits(wall_time_ms=50))
    assert outcome.outcome == "timeout"
    assert "50 ms" in (outcome.detail or "")


def test_memory_limit(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("grow").cast(limits=spell.Limits(memory_bytes=4 << 20))
    assert outcome.outcome == "memory_limit"
    assert outcome.usage.memory_peak_bytes <= 4 << 20


def test_output_limit_keeps_the_prefix(hello: spell.Spell) -> None:
    outcome = hello.cast(["x"], stdin=b"y" * 10_000, limits=spell.Limits(output_bytes=100))
    assert outcome.outcome == "output_limit"
    assert len(outcome.stdout) == 100 and outcome.stdout.startswith(b"Hello, x!\n")


def test_denied_by_authorize_runs_nothing(hello: spell.Spell) -> None:
    class Refuse:
        def authorize(self, ctx: spell.CastContext) -> None:
            raise spell.Denied("over budget")

    outcome = hello.cast(["x"], meter=Refuse())
    assert (outcome.outcome, outcome.detail, outcome.stdout) == ("denied", "over budget", b"")
    assert outcome.hook_error is None


def test_named_export_returns_values(guest: Callable[..., spell.Spell]) -> None:
    outcome = guest("count").cast(export="answer")
    assert outcome.outcome == "ok" and outcome.exit_code is None
    assert outcome.returned == [42, 2.5]


def test_on_output_sees_every_chunk(hello: spell.Spell) -> None:
    chunks: list[tuple[str, bytes]] = []
    outcome = hello.cast(["stream"], on_output=lambda stream, chunk: chunks.append((stream, chunk)))
    assert b"".join(c for s, c in chunks if s == "stdout") == outcome.stdout == b"Hello, stream!\n"


def test_a_component_casts_like_a_module(guest: Callable[..., spell.Spell]) -> None:
    component = guest("component", entrypoint="answer", limits={"fuel": 100000})
    outcome = component.cast()
    assert (outcome.outcome, outcome.returned, outcome.exit_code) == ("ok", [42], None)
    assert outcome.usage.fuel is not None and outcome.usage.fuel > 0
    assert component.cast(export="acme:demo/api#answer").returned == [42]
    spun = component.cast(export="spin")
    assert (spun.outcome, spun.usage.fuel) == ("out_of_fuel", 100000)


def test_a_preview_3_component_needs_a_runtime_built_for_it(test_policy: spell.Policy) -> None:
    package = guest_package("component_p3", limits={"fuel": 100000})
    with pytest.raises(spell.ModuleError) as refused:
        spell.Runtime().load(package, test_policy)
    assert refused.value.code == "E-MOD-002" and "wasi_p3" in str(refused.value)
    p3 = spell.Runtime(wasi_p3=True).load(package, test_policy)
    outcome = p3.cast()
    assert (outcome.outcome, outcome.exit_code) == ("ok", 0)
    spun = p3.cast(export="spin")
    assert (spun.outcome, spun.usage.fuel) == ("out_of_fuel", 100000)
