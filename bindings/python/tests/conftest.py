"""Shared fixtures: one runtime for the session, the bundled example spell, and test guests
packed from the WAT sources in guests/."""

import pathlib
from typing import Any, Callable

import pytest

import spell

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
HELLO = ROOT / "examples" / "hello" / "hello.spell"
EXAMPLE_POLICY = ROOT / "examples" / "policy.toml"

#: Loads unsigned test spells; grants the host functions of test_host.py.
TEST_POLICY = """
allow_unsigned = true
[capabilities]
host_functions = ["host::*"]
"""


def guest_package(name: str, entrypoint: str = "_start", **manifest: Any) -> bytes:
    """A package of guests/<name>.wat with a minimal manifest plus `manifest`."""
    fields = {"name": name, "version": "1.0.0", "license": "MIT", "entrypoint": entrypoint, **manifest}
    return spell.pack(fields, (HERE / "guests" / f"{name}.wat").read_text())


@pytest.fixture(scope="session")
def runtime() -> spell.Runtime:
    return spell.Runtime()


@pytest.fixture(scope="session")
def test_policy() -> spell.Policy:
    return spell.Policy.from_toml(TEST_POLICY)


@pytest.fixture(scope="session")
def hello(runtime: spell.Runtime) -> spell.Spell:
    return runtime.load(HELLO, spell.Policy.from_file(EXAMPLE_POLICY))


@pytest.fixture(scope="session")
def guest(runtime: spell.Runtime, test_policy: spell.Policy) -> Callable[..., spell.Spell]:
    """`guest("spin")` loads guests/spin.wat on the session runtime."""

    def load(name: str, entrypoint: str = "_start", **manifest: Any) -> spell.Spell:
        return runtime.load(guest_package(name, entrypoint, **manifest), test_policy)

    return load
