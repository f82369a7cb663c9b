"""Host directories mounted into a C guest (built with clang-14, as scripts/install-deps.sh
installs it): read through a read-only mount, write only through a read-write one."""

import pathlib
import shutil
import subprocess

import pytest

import spell
from conftest import HERE

POLICY = """
allow_unsigned = true
[capabilities]
mounts = [{ guest = "/data", access = "rw" }]
"""


@pytest.fixture(scope="module")
def files(runtime: spell.Runtime, tmp_path_factory: pytest.TempPathFactory) -> spell.Spell:
    clang = shutil.which("clang-14")
    assert clang, "clang-14 not found: run scripts/install-deps.sh"
    wasm = tmp_path_factory.mktemp("guest") / "files.wasm"
    source = HERE / "guests" / "files.c"
    subprocess.run([clang, "--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o", str(wasm), str(source)], check=True)
    manifest = {
        "name": "files",
        "version": "1.0.0",
        "license": "MIT",
        "capabilities": {"mounts": [{"guest": "/data", "access": "rw"}]},
    }
    return runtime.load(spell.pack(manifest, wasm.read_bytes()), spell.Policy.from_toml(POLICY))


def test_reads_through_a_read_only_mount(files: spell.Spell, tmp_path: pathlib.Path) -> None:
    (tmp_path / "in.txt").write_text("from the host\n")
    outcome = files.cast(["in.txt"], mounts=[(tmp_path, "/data")])
    assert (outcome.outcome, outcome.stdout) == ("ok", b"from the host\n")


def test_writes_through_a_read_write_mount(files: spell.Spell, tmp_path: pathlib.Path) -> None:
    outcome = files.cast(["out.txt", "from the guest"], mounts=[(str(tmp_path), "/data", "rw")])
    assert outcome.outcome == "ok"
    assert (tmp_path / "out.txt").read_text() == "from the guest"


def test_cannot_write_through_a_read_only_mount(files: spell.Spell, tmp_path: pathlib.Path) -> None:
    outcome = files.cast(["out.txt", "nope"], mounts=[(tmp_path, "/data", "ro")])
    assert (outcome.outcome, outcome.exit_code) == ("exit", 1)
    assert b"/data/out.txt" in outcome.stderr and not (tmp_path / "out.txt").exists()


def test_sees_nothing_without_a_mount(files: spell.Spell) -> None:
    assert files.cast(["in.txt"]).exit_code == 1
