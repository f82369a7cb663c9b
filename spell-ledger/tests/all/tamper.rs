//! Tamper evidence: triggers refuse edits; edits made around them with the sqlite3 CLI are named
//! by `verify`; a truncated file no longer contains a signed head.

use crate::{NOOP, ledger, spell, sqlite3};
use spell_core::{ErrorCode, HasCode};
use spell_ledger::{Head, LedgerError};
use spell_runtime::{CastRequest, Runtime};

pub fn three_rows() -> (tempfile::TempDir, std::path::PathBuf, spell_ledger::Ledger) {
    let (dir, path, ledger) = ledger("per_cast = 10", "acme", 1_000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    for _ in 0..3 {
        spell
            .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
            .expect("cast");
    }
    (dir, path, ledger)
}

#[test]
fn updates_and_deletes_are_refused_by_the_database() {
    let (_dir, path, ledger) = three_rows();
    let update = sqlite3(&path, "UPDATE usage SET charged = 0 WHERE seq = 2");
    assert!(!update.status.success());
    assert!(String::from_utf8_lossy(&update.stderr).contains("append-only"));
    let delete = sqlite3(&path, "DELETE FROM usage WHERE seq = 2");
    assert!(!delete.status.success());
    assert_eq!(ledger.verify().expect("intact").seq, 3);
}

#[test]
fn a_row_edited_behind_the_ledgers_back_is_named_by_verify() {
    let (_dir, path, ledger) = three_rows();
    let edit = sqlite3(
        &path,
        "DROP TRIGGER usage_no_update; UPDATE usage SET charged = 0 WHERE seq = 2;",
    );
    assert!(edit.status.success(), "{edit:?}");
    let err = ledger.verify().expect_err("tampered");
    assert_eq!(err.code(), ErrorCode::LedgerTampered);
    let LedgerError::Tampered { seq, reason, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(seq, 2);
    assert!(reason.contains("contents"), "{reason}");
}

#[test]
fn a_row_removed_or_rehashed_breaks_the_row_after_it() {
    let (_dir, path, ledger) = three_rows();
    let head = ledger.head().expect("head");
    let edit = sqlite3(
        &path,
        "DROP TRIGGER usage_no_delete; DELETE FROM usage WHERE seq = 2;",
    );
    assert!(edit.status.success(), "{edit:?}");
    let Err(LedgerError::Tampered { seq, .. }) = ledger.verify() else {
        panic!("not detected")
    };
    assert_eq!(seq, 3);
    // Cutting the tail keeps the chain whole, but the signed head is gone.
    sqlite3(&path, "DELETE FROM usage WHERE seq = 3;");
    assert_eq!(ledger.verify().expect("a shorter chain").seq, 1);
    let err = ledger.verify_head(&head).expect_err("truncated");
    assert!(
        matches!(err, LedgerError::HeadMissing { seq: 3, .. }),
        "{err}"
    );
    let parsed: Head = head.to_string().parse().expect("head");
    assert_eq!(parsed, head);
}

#[test]
fn a_database_that_is_not_a_ledger_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    sqlite3(&path, "CREATE TABLE t (x);");
    let err = spell_ledger::Ledger::open(&path).err().expect("refused");
    assert!(err.to_string().contains("not a Spell ledger"), "{err}");
    std::fs::write(
        dir.path().join("junk.db"),
        b"not sqlite at all, just some bytes....",
    )
    .expect("write");
    let err = spell_ledger::Ledger::open(dir.path().join("junk.db"))
        .err()
        .expect("refused");
    assert_eq!(err.code(), ErrorCode::LedgerStorage);
}
