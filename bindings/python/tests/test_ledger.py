"""spell.Ledger: the embedded SQLite usage ledger as a meter, the scenarios of the Rust ledger's
own tests, from Python: a spent budget refused before anything runs, a cast stopped by its
reservation and charged what it used, concurrent casts never spending more than the budget, a
process killed mid-cast, and a row edited behind the ledger's back."""

import pathlib
import shutil
import sqlite3
import subprocess
import sys
import threading
from typing import Callable

import pytest

import spell

PRICES = """
version = "test-1"
currency = "USD"
per_cast = 1000
per_million_fuel = 1000
"""


@pytest.fixture
def ledger(tmp_path: pathlib.Path) -> spell.Ledger:
    ledger = spell.Ledger(tmp_path / "usage.db")
    ledger.set_prices(PRICES)
    return ledger


def test_a_spent_budget_is_refused_before_anything_runs(ledger: spell.Ledger, guest: Callable[..., spell.Spell]) -> None:
    ledger.set_account("broke", 10)
    outcome = guest("count").cast(meter=ledger.meter("broke"))
    assert outcome.outcome == "denied"
    assert outcome.denial_code == "E-BILL-001"
    assert outcome.usage.fuel in (None, 0)
    account = ledger.account("broke")
    assert (account["spent"], account["reserved"]) == (0, 0)
    assert ledger.verify()["seq"] == 1, "the denial is a row too"


def test_a_cast_runs_within_what_the_account_can_pay(ledger: spell.Ledger, guest: Callable[..., spell.Spell]) -> None:
    # 1000 for the cast, then 1000 per million fuel: 51,000 pays for 50 million fuel, and the
    # count guest wants 200 million or more.
    ledger.set_account("acme", 51_000)
    outcome = guest("count").cast(meter=ledger.meter("acme"))
    assert outcome.outcome == "out_of_fuel"
    assert outcome.detail is not None and "allowance" in outcome.detail
    fuel = outcome.usage.fuel
    assert fuel is not None and 0 < fuel <= 50_000_000
    account = ledger.account("acme")
    assert account["spent"] == 1000 + -(-fuel * 1000 // 1_000_000), "charged exactly what it used"
    assert account["spent"] <= 51_000 and account["reserved"] == 0


def test_concurrent_casts_never_spend_more_than_the_budget(ledger: spell.Ledger, hello: spell.Spell) -> None:
    probe = hello.cast(["x"])
    per = 1000 + -(-(probe.usage.fuel or 0) * 1000 // 1_000_000)
    ledger.set_account("team", per * 5)
    meter = ledger.meter("team")
    outcomes: list[spell.CastOutcome] = []
    lock = threading.Lock()

    def cast() -> None:
        for _ in range(5):
            o = hello.cast(["x"], meter=meter)
            with lock:
                outcomes.append(o)

    threads = [threading.Thread(target=cast) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [o for o in outcomes if o.outcome != "denied"]
    assert len(outcomes) == 40
    assert 1 <= len(ran) <= 5
    account = ledger.account("team")
    assert account["spent"] <= account["budget"] and account["reserved"] == 0
    assert ledger.verify()["seq"] == 40, "every cast recorded once"
    assert len({o.usage.cast_id for o in outcomes}) == 40


def test_a_killed_process_leaves_no_reservation_behind(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "usage.db"
    ledger = spell.Ledger(db)
    ledger.set_prices(PRICES)
    ledger.set_account("acme", 10**12)
    spin = tmp_path / "spin.py"
    spin.write_text(
        "import spell, sys\n"
        "runtime = spell.Runtime()\n"
        "wat = '(module (func (export \"_start\") (loop br 0)))'\n"
        "fields = {'name': 'spin', 'version': '1.0.0', 'license': 'MIT', 'limits': {'wall_time_ms': 60000, 'fuel': 10**15}}\n"
        "s = runtime.load(spell.pack(fields, wat), spell.Policy.from_toml('allow_unsigned = true\\n[limits.max]\\nfuel = 1000000000000000\\nwall_time_ms = 60000'))\n"
        "print('casting', flush=True)\n"
        f"s.cast(meter=spell.Ledger({str(db)!r}).meter('acme'))\n"
    )
    child = subprocess.Popen([sys.executable, str(spin)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "casting"
    # The reservation is taken before the guest runs; wait until it shows.
    for _ in range(200):
        if ledger.account("acme")["reserved"] > 0:
            break
        threading.Event().wait(0.01)
    assert ledger.account("acme")["reserved"] > 0
    child.kill()
    child.wait()
    reopened = spell.Ledger(db)
    assert reopened.released_reservations == 1
    assert reopened.account("acme")["reserved"] == 0
    reopened.verify()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 CLI (scripts/install-deps.sh)")
def test_a_row_edited_behind_the_ledgers_back_is_named(ledger: spell.Ledger, hello: spell.Spell, tmp_path: pathlib.Path) -> None:
    ledger.set_account("acme", 10**9)
    for _ in range(3):
        hello.cast(["x"], meter=ledger.meter("acme"))
    assert ledger.verify()["seq"] == 3
    db = tmp_path / "usage.db"
    # The triggers refuse an UPDATE; one who drops them first can edit, and the chain shows it.
    refused = subprocess.run(["sqlite3", str(db), "UPDATE usage SET fuel = 1 WHERE seq = 2"], capture_output=True, text=True)
    assert refused.returncode != 0
    conn = sqlite3.connect(db)
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'")]
    for t in triggers:
        conn.execute(f"DROP TRIGGER {t}")
    conn.execute("UPDATE usage SET fuel = 1 WHERE seq = 2")
    conn.commit()
    conn.close()
    with pytest.raises(spell.SpellError) as e:
        ledger.verify()
    assert e.value.code == "E-BILL-004"
    assert "2" in str(e.value)
