"""Refusals raise the exception of their code family, carrying the catalog's stable code."""

from typing import Callable

import pytest

import spell
from conftest import HELLO, guest_package

FAMILIES = [
    spell.PackageError, spell.ManifestError, spell.PolicyError, spell.SignatureError, spell.SbomError,
    spell.ModuleError, spell.RunError, spell.HookError, spell.NetworkError,
]  # fmt: skip


def test_every_family_is_a_spell_error() -> None:
    for family in FAMILIES:
        assert issubclass(family, spell.SpellError) and issubclass(family, Exception)
    assert issubclass(spell.HookError, spell.RunError)
    assert not issubclass(spell.Denied, spell.SpellError)


def test_bad_package_bytes(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    with pytest.raises(spell.PackageError) as e:
        runtime.load(b"this is not a spell", test_policy)
    assert (e.value.code, e.value.name) == ("E-PKG-002", "package_malformed")
    assert str(e.value).startswith("[E-PKG-002] ")


def test_tampered_package(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    package = bytearray(guest_package("count"))
    package[package.index(b"\0asm") + 20] ^= 0xFF  # module.wasm is pinned by sha256 in spell.json
    with pytest.raises(spell.PackageError) as e:
        runtime.load(bytes(package), test_policy)
    assert (e.value.code, e.value.name) == ("E-PKG-010", "package_digest_mismatch")


def test_missing_package_file(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    with pytest.raises(spell.PackageError) as e:
        runtime.load("/nonexistent/x.spell", test_policy)
    assert (e.value.code, e.value.name) == ("E-PKG-012", "package_io")


def test_package_of_the_wrong_type(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    with pytest.raises(TypeError, match="package must be bytes or a path"):
        runtime.load(42, test_policy)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["allow_unsigned = 3", "no_such_field = true", "[capabilities"])
def test_bad_policy(text: str) -> None:
    with pytest.raises(spell.PolicyError) as e:
        spell.Policy.from_toml(text)
    assert (e.value.code, e.value.name) == ("E-POL-001", "policy_parse")


def test_missing_policy_file() -> None:
    with pytest.raises(spell.PolicyError) as e:
        spell.Policy.from_file("/nonexistent/policy.toml")
    assert e.value.name == "policy_parse"


def test_deny_all_policy_refuses_unsigned_spells(runtime: spell.Runtime) -> None:
    with pytest.raises(spell.SignatureError) as e:
        runtime.load(guest_package("trap"), spell.Policy())
    assert (e.value.code, e.value.name) == ("E-SIG-001", "signature_missing")


def test_deny_all_policy_refuses_signers_it_does_not_trust(runtime: spell.Runtime) -> None:
    with pytest.raises(spell.SignatureError) as e:
        runtime.load(HELLO, spell.Policy())  # signed by the example key, which Policy() does not trust
    assert (e.value.code, e.value.name) == ("E-SIG-004", "signer_not_trusted")


def test_capabilities_beyond_the_policy(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    with pytest.raises(spell.PolicyError) as e:
        runtime.load(HELLO, test_policy)  # hello asks for env HELLO_NAME
    assert (e.value.code, e.value.name) == ("E-POL-003", "capability_denied")
    assert "HELLO_NAME" in str(e.value)


def test_requests_beyond_the_grant(hello: spell.Spell) -> None:
    for kwargs in [{"env": {"HOME": "/"}}, {"limits": spell.Limits(fuel=10**12)}, {"mounts": [("/tmp", "/data")]}]:
        with pytest.raises(spell.PolicyError) as e:
            hello.cast(**kwargs)  # type: ignore[arg-type]
        assert (e.value.code, e.value.name) == ("E-POL-004", "cast_request_denied")


def test_invalid_manifest() -> None:
    with pytest.raises(spell.ManifestError) as e:
        spell.pack({"name": "x", "version": "1.0.0"}, "(module)")  # no license
    assert (e.value.code, e.value.name) == ("E-MAN-001", "manifest_parse")
    assert "license" in str(e.value)


def test_invalid_module_text() -> None:
    with pytest.raises(spell.ModuleError) as e:
        spell.pack({"name": "x", "version": "1.0.0", "license": "MIT"}, "(module (func")
    assert (e.value.code, e.value.name) == ("E-MOD-002", "module_invalid")


def test_imports_not_granted(runtime: spell.Runtime) -> None:
    with pytest.raises(spell.ModuleError) as e:
        runtime.load(guest_package("host", "run"), spell.Policy.from_toml("allow_unsigned = true"))
    assert (e.value.code, e.value.name) == ("E-MOD-003", "import_not_granted")
    assert "host::add" in str(e.value)


def test_missing_entrypoint(runtime: spell.Runtime, test_policy: spell.Policy) -> None:
    with pytest.raises(spell.ModuleError) as e:
        runtime.load(guest_package("trap", "main"), test_policy)
    assert (e.value.code, e.value.name) == ("E-MOD-004", "entrypoint_invalid")


def test_unknown_export(guest: Callable[..., spell.Spell]) -> None:
    with pytest.raises(spell.RunError) as e:
        guest("trap").cast(export="nope")
    assert e.value.name == "cast_setup"


@pytest.mark.parametrize(
    "kwargs",
    [{"metering": "gas"}, {"queue_timeout": -1.0}, {"epoch_tick": float("nan")}],
)
def test_bad_runtime_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(spell.RunError) as e:
        spell.Runtime(**kwargs)  # type: ignore[arg-type]
    assert (e.value.code, e.value.name) == ("E-RUN-006", "invalid_argument")


def test_bad_cast_arguments(hello: spell.Spell) -> None:
    with pytest.raises(spell.RunError, match="mount access"):
        hello.cast(mounts=[("/tmp", "/data", "rx")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        hello.cast("not a list of args")
    with pytest.raises(TypeError):
        hello.cast(limits={"fuel": 1, "bogus": 2})
    with pytest.raises(TypeError, match="stdin must be bytes or str"):
        hello.cast(stdin=3)  # type: ignore[arg-type]
