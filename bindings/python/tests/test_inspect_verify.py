"""Looking at a package without casting it: `spell.inspect` (what it says about itself) and
`Runtime.verify` (the checks of `load`, without compiling)."""

import hashlib
import tarfile

import pytest

import spell

from conftest import EXAMPLE_POLICY, HELLO, guest_package


def test_inspect_reads_what_the_package_says() -> None:
    info = spell.inspect(HELLO)
    with tarfile.open(HELLO) as t:
        manifest = t.extractfile("spell.json").read()  # type: ignore[union-attr]
    assert info["digest"] == hashlib.sha256(manifest).hexdigest()
    assert (info["signed"], info["has_sbom"]) == (True, True)
    assert info["manifest"]["name"] == "hello"
    assert info["manifest"]["capabilities"]["env"] == ["HELLO_NAME"]
    assert spell.inspect(HELLO.read_bytes()) == info
    assert "wasi_snapshot_preview1::fd_write" in info["imports"]
    assert "_start" in info["exports"]
    bare = spell.inspect(guest_package("trap"))
    assert (bare["signed"], bare["has_sbom"]) == (False, False)
    # A component's world: its interfaces and top-level items.
    component = spell.inspect(guest_package("component", entrypoint="answer"))
    assert component["manifest"]["module"]["kind"] == "component"
    assert "acme:demo/api" in component["exports"] and "answer" in component["exports"]


def test_inspect_refuses_what_is_not_a_package() -> None:
    with pytest.raises(spell.PackageError):
        spell.inspect(b"not a tar archive at all")


def test_verify_reports_signer_sbom_and_grant_without_compiling() -> None:
    runtime = spell.Runtime()
    verified = runtime.verify(HELLO, spell.Policy.from_file(EXAMPLE_POLICY))
    assert (verified["name"], verified["version"]) == ("hello", "0.1.0")
    assert verified["digest"] == spell.inspect(HELLO)["digest"]
    assert verified["verification"]["signer"]["rule"] == "spell-examples"
    assert verified["verification"]["sbom"]["components"] >= 1
    assert verified["grant"]["env"] == ["HELLO_NAME"]
    assert runtime.stats["compiled"] == 0, "nothing was compiled"


def test_verify_raises_what_load_raises(runtime: spell.Runtime) -> None:
    with pytest.raises(spell.SignatureError) as e:
        runtime.verify(HELLO, spell.Policy())
    assert e.value.code == "E-SIG-004"
    with pytest.raises(spell.SignatureError) as e:
        runtime.verify(guest_package("trap"), spell.Policy())
    assert e.value.code == "E-SIG-001"
