//! A process killed with SIGKILL in the middle of casts: the ledger opens, verifies, and
//! releases the reservations the dead process held.

use crate::{SPIN, ledger, spell};
use spell_ledger::Ledger;
use spell_runtime::{CastRequest, Runtime};
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD_DB: &str = "SPELL_LEDGER_TEST_CHILD_DB";

/// The child: casts spinning spells (each held 30 s by its wall time) from 4 threads forever.
#[test]
#[ignore = "run by a_process_killed_mid_cast_leaves_a_ledger_that_opens_verifies_and_releases"]
fn child_casts_until_killed() {
    let Some(db) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let ledger = Ledger::open(&db).expect("open");
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(
        &runtime,
        SPIN,
        r#""fuel": 10000000000, "wall_time_ms": 30000"#,
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let _ =
                        spell.cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")));
                }
            });
        }
    });
}

#[test]
fn a_process_killed_mid_cast_leaves_a_ledger_that_opens_verifies_and_releases() {
    let (_dir, path, ledger) = ledger("per_cast = 1\nper_million_fuel = 1", "acme", 1_000_000_000);
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "crash::child_casts_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, &path)
        .spawn()
        .expect("child");
    let until = Instant::now() + Duration::from_secs(60);
    while ledger.account("acme").expect("account").reserved == 0 {
        assert!(Instant::now() < until, "the child never reserved");
        assert!(
            child.try_wait().expect("child").is_none(),
            "the child ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    child.wait().expect("wait");
    let held = ledger.account("acme").expect("account");
    assert!(
        held.reserved > 0,
        "the dead child's reservations are still held: {held:?}"
    );
    let reopened = Ledger::open(&path).expect("reopen");
    assert!(reopened.released_reservations() >= 1);
    reopened.verify().expect("chain intact");
    let acme = reopened.account("acme").expect("account");
    assert_eq!(acme.reserved, 0);
    assert_eq!(acme.available, 1_000_000_000 - acme.spent);
    // This process's own open ledger still holds its lock: a third open leaves it alone.
    assert_eq!(
        Ledger::open(&path).expect("open").released_reservations(),
        0
    );
}
