//! Schema versions: a ledger written by an older Spell is migrated at open, rows, chain and
//! reservations kept; one from a newer Spell is refused.

use crate::tamper::three_rows;
use crate::{NOOP, spell, sqlite3};
use spell_ledger::Ledger;
use spell_runtime::{CastRequest, Runtime};
use std::path::Path;

fn query(db: &Path, sql: &str) -> String {
    let out = sqlite3(db, sql);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The tables as schema version 1 made them (no trace id; reservations a rowid table with an
/// account index), holding one reservation of an owner that is gone.
const AS_VERSION_1: &str = "BEGIN;
    ALTER TABLE usage DROP COLUMN trace_id;
    DROP TABLE reservations;
    CREATE TABLE reservations (
        cast_id TEXT PRIMARY KEY, account TEXT NOT NULL, amount INTEGER NOT NULL,
        price_version TEXT NOT NULL, owner TEXT NOT NULL);
    CREATE INDEX reservations_account ON reservations (account);
    INSERT INTO reservations VALUES
        ('0123456789abcdef0123456789abcdef', 'acme', 7, 'v1', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    PRAGMA user_version = 1;
    COMMIT;";

#[test]
fn a_version_1_ledger_is_migrated_at_open_through_every_step_and_keeps_its_rows_chain_and_reservations()
 {
    let (_dir, path, ledger) = three_rows();
    drop(ledger);
    query(&path, AS_VERSION_1);
    assert_eq!(query(&path, "PRAGMA user_version"), "1");

    let ledger = Ledger::open(&path).expect("migrated");
    assert_eq!(query(&path, "PRAGMA user_version"), "3");
    let table = query(
        &path,
        "SELECT sql FROM sqlite_schema WHERE name = 'reservations'",
    );
    assert!(table.ends_with("WITHOUT ROWID"), "{table}");
    assert_eq!(
        query(
            &path,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'reservations_account'"
        ),
        "0"
    );
    // The reservation came across (and, its owner gone, was released after the migration).
    assert_eq!(ledger.released_reservations(), 1);
    ledger.verify().expect("the chain is intact");
    assert_eq!(ledger.export(&Default::default()).expect("rows").len(), 3);

    // And it works as a ledger: a cast reserves, runs and is charged.
    let runtime = Runtime::new().expect("runtime");
    let outcome = spell(&runtime, NOOP, "")
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    assert!(outcome.hook_error.is_none(), "{:?}", outcome.hook_error);
    assert_eq!(ledger.export(&Default::default()).expect("rows").len(), 4);
    assert_eq!(ledger.account("acme").expect("acme").spent, 40);
    ledger.verify().expect("the chain is intact");
}

#[test]
fn a_ledger_from_a_newer_spell_is_refused() {
    let (_dir, path, ledger) = three_rows();
    drop(ledger);
    query(&path, "PRAGMA user_version = 99");
    let err = Ledger::open(&path).err().expect("refused");
    assert!(err.to_string().contains("newer than this Spell's"), "{err}");
}
