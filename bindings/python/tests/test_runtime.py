"""Runtime options pass through to the Rust builder: the disk cache, metering by time, cache
counters, and the small value types."""

import pathlib
import tarfile

import pytest

import spell
from conftest import HELLO, TEST_POLICY, guest_package


def test_disk_cache_serves_a_second_runtime(tmp_path: pathlib.Path) -> None:
    policy = spell.Policy.from_toml(TEST_POLICY)
    first = spell.Runtime(cache_dir=tmp_path, pooling=False)
    first.load(guest_package("count"), policy)
    assert first.stats["compiled"] == 1
    second = spell.Runtime(cache_dir=str(tmp_path), pooling=False)
    assert second.load(guest_package("count"), policy).cast(export="answer").returned == [42, 2.5]
    assert (second.stats["compiled"], second.stats["disk_hits"]) == (0, 1)


def test_loading_again_hits_the_memory_cache(runtime: spell.Runtime) -> None:
    before = runtime.stats["memory_hits"]
    for _ in range(2):
        runtime.load(guest_package("exit"), spell.Policy.from_toml(TEST_POLICY))
    assert runtime.stats["memory_hits"] >= before + 1


def test_time_metering_records_no_fuel() -> None:
    runtime = spell.Runtime(metering="time", pooling=False, max_concurrent_casts=4, epoch_tick=0.002)
    spin = runtime.load(guest_package("spin"), spell.Policy.from_toml(TEST_POLICY))
    outcome = spin.cast(limits={"wall_time_ms": 30})
    assert outcome.outcome == "timeout" and outcome.usage.fuel is None and outcome.usage.cpu_ns > 0


def test_value_types() -> None:
    limits = spell.Limits(fuel=10, wall_time_ms=5)
    assert limits == spell.Limits(wall_time_ms=5, fuel=10) and limits != spell.Limits(fuel=10)
    assert limits.to_dict() == {"fuel": 10, "wall_time_ms": 5} and limits.memory_bytes is None
    assert repr(limits) == "Limits(fuel=10, wall_time_ms=5)"
    assert spell.Allowance(max_fuel=3).max_fuel == 3 and spell.Allowance() == spell.Allowance(max_fuel=None)
    handle = spell.CancelHandle()
    assert not handle.cancelled
    handle.cancel()
    assert handle.cancelled
    assert spell.Policy().allow_unsigned is False and spell.Policy.from_toml(TEST_POLICY).allow_unsigned
    assert len(spell.Policy().digest) == 64
    assert spell.__version__ == "0.1.0"


def hello_module() -> bytes:
    """The bare module inside the bundled example's package."""
    with tarfile.open(HELLO) as package:
        member = package.extractfile("module.wasm")
        assert member is not None
        return member.read()


def test_a_bare_module_gets_what_it_asks_for_within_the_policy(runtime: spell.Runtime, tmp_path: pathlib.Path) -> None:
    wasm = hello_module()
    bare = runtime.load_unverified(wasm, name="hi", capabilities={"env": ["GREETING"]}, limits={"fuel": 50_000_000})
    assert (bare.name, bare.entrypoint, bare.grant["limits"]["fuel"]) == ("hi", "_start", 50_000_000)
    assert bare.grant["env"] == ["GREETING"]
    outcome = bare.cast(["world"], stdin=b"more")
    assert outcome.outcome == "ok" and outcome.stdout == b"Hello, world!\nmore"
    # From a path, bounded by a policy: within it, it gets what it asks; past it, it is refused.
    path = tmp_path / "hello.wasm"
    path.write_bytes(wasm)
    policy = spell.Policy.from_toml("allow_unsigned = true\n[limits.default]\nfuel = 1000\n[limits.max]\nfuel = 1000\n")
    bounded = runtime.load_unverified(path, limits={"fuel": 1000}, policy=policy)
    assert bounded.grant["limits"]["fuel"] == 1000 and bounded.cast().outcome == "out_of_fuel"
    with pytest.raises(spell.PolicyError) as refused:
        runtime.load_unverified(path, capabilities={"env": ["GREETING"]}, limits={"fuel": 5000}, policy=policy)
    assert refused.value.code == "E-POL-003" and "GREETING" in str(refused.value) and "5000" in str(refused.value)


def test_a_bare_module_with_an_unknown_field_or_bad_bytes_is_refused(runtime: spell.Runtime) -> None:
    with pytest.raises(spell.ManifestError) as e:
        runtime.load_unverified(hello_module(), limits={"fule": 1})
    assert e.value.code == "E-MAN-001" and "fule" in str(e.value)
    with pytest.raises(spell.ModuleError) as m:
        runtime.load_unverified(b"\0asm\x01\0\0\0garbage")
    assert m.value.code == "E-MOD-002"
