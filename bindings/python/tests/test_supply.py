"""Supply chain over time from Python: a new OSV advisory refuses the next load, and
`Runtime.rescan` revokes the loaded spell (its casts raise E-SIG-008) while a cast in flight
finishes and is recorded; a revoked digest in the policy takes effect at rescan."""

import hashlib
import json
import pathlib
import threading
from typing import Any, Optional

import pytest

import spell

#: `(module (func (export "run")))`, binary, so the SBOM can pin its sha256.
MODULE = bytes.fromhex("0061736d0100000001040160000003020100070701037275" "6e00000a040102000b")

RUSTSEC_2023_0044 = {
    "id": "RUSTSEC-2023-0044",
    "modified": "2023-07-20T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "crates.io", "name": "openssl"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.10.0"}, {"fixed": "0.10.55"}]}],
        }
    ],
}


def package(name: str, purl: str) -> bytes:
    """An unsigned spell whose CycloneDX SBOM lists one component, `purl`."""
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "component": {
                "type": "application",
                "name": name,
                "version": "1.0.0",
                "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(MODULE).hexdigest()}],
            }
        },
        "components": [{"type": "library", "name": "dep", "version": "1", "purl": purl}],
    }
    manifest = {"name": name, "version": "1.0.0", "license": "MIT", "entrypoint": "run"}
    return spell.pack(manifest, MODULE, sbom=json.dumps(sbom))


def policy(dir: pathlib.Path, trust: str = "") -> spell.Policy:
    path = dir / "policy.toml"
    path.write_text(
        f'allow_unsigned = true\n[trust]\n{trust}\n[sbom]\nosv_database = "osv"\nrefuse_vulnerabilities = "any"\n'
    )
    return spell.Policy.from_file(path)


class Observer:
    def __init__(self) -> None:
        self.events: list[spell.Event] = []

    def observe(self, event: spell.Event) -> None:
        self.events.append(event)


class Gate:
    """A meter that holds its cast in `authorize` until released: a cast in flight."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.records: list[spell.Usage] = []

    def authorize(self, ctx: spell.CastContext) -> None:
        self.started.set()
        self.release.wait(10)

    def record(self, usage: spell.Usage) -> None:
        self.records.append(usage)


def test_a_new_advisory_revokes_the_loaded_spell_at_rescan(tmp_path: pathlib.Path) -> None:
    (tmp_path / "osv").mkdir()
    observer = Observer()
    runtime = spell.Runtime(meter=observer)
    p = policy(tmp_path)
    vulnerable = package("ossl", "pkg:cargo/openssl@0.10.50")
    loaded = runtime.load(vulnerable, p)
    clean = runtime.load(package("clean", "pkg:cargo/openssl@0.10.55"), p)

    gate = Gate()
    result: dict[str, Any] = {}
    flight = threading.Thread(target=lambda: result.update(outcome=loaded.cast(meter=gate)))
    flight.start()
    assert gate.started.wait(10)

    (tmp_path / "osv" / "RUSTSEC-2023-0044.json").write_text(json.dumps(RUSTSEC_2023_0044))
    with pytest.raises(spell.SbomError) as refused:
        runtime.load(vulnerable, p)
    assert refused.value.code == "E-SBOM-005"

    report = runtime.rescan(p)
    assert report["spells"] == 2
    assert [(c["name"], c["before"]["verdict"], c["after"]["verdict"], c["after"]["code"]) for c in report["changes"]] == [
        ("ossl", "accepted", "refused", "E-SBOM-005")
    ]
    assert "RUSTSEC-2023-0044" in report["changes"][0]["after"]["message"]
    revoked = [(e.kind, e.spell_name, e.code, e.cast_id) for e in observer.events]
    assert revoked == [("spell_revoked", "ossl", "E-SBOM-005", "")]

    gate.release.set()
    flight.join(10)
    outcome: Optional[spell.CastOutcome] = result.get("outcome")
    assert outcome is not None and outcome.outcome == "ok"
    assert len(gate.records) == 1

    after = Gate()
    after.release.set()
    with pytest.raises(spell.SignatureError) as err:
        loaded.cast(meter=after)
    assert err.value.code == "E-SIG-008" and err.value.name == "spell_revoked"
    assert "[E-SBOM-005]" in str(err.value)
    assert after.records == [], "nothing ran, nothing recorded"
    assert clean.cast().outcome == "ok"


def test_a_revoked_digest_takes_effect_at_rescan(tmp_path: pathlib.Path) -> None:
    (tmp_path / "osv").mkdir()
    runtime = spell.Runtime()
    loaded = runtime.load(package("withdrawn", "pkg:cargo/serde@1.0.200"), policy(tmp_path))
    assert loaded.cast().outcome == "ok"
    assert runtime.rescan(policy(tmp_path))["changes"] == []
    report = runtime.rescan(policy(tmp_path, f'revoked_digests = ["{loaded.digest}"]'))
    assert [c["after"]["code"] for c in report["changes"]] == ["E-SIG-009"]
    with pytest.raises(spell.SignatureError) as err:
        loaded.cast()
    assert err.value.code == "E-SIG-008"
