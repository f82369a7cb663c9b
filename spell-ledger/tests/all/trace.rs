//! The W3C trace id of a cast in its ledger row: recorded, covered by the hash chain, exported
//! and reported; and a ledger of schema version 1 (before the column) migrated on open with its
//! rows still verifying.

use crate::{NOOP, ledger, spell, sqlite3};
use spell_ledger::{Filter, GroupBy, Ledger, LedgerError};
use spell_runtime::{CastRequest, Runtime, Spell};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn cast(spell: &Spell, ledger: &Ledger, traced: bool) {
    let mut request = CastRequest::new().meter(ledger.meter("acme").expect("meter"));
    if traced {
        request = request.traceparent(format!("00-{TRACE}-00f067aa0ba902b7-01"));
    }
    let outcome = spell.cast(request).expect("cast");
    assert!(outcome.hook_error.is_none(), "{:?}", outcome.hook_error);
}

fn stdout(o: std::process::Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn a_casts_trace_id_is_in_its_row_its_export_its_report_and_its_hash() {
    let (_dir, path, ledger) = ledger("per_cast = 10", "acme", 1_000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    cast(&spell, &ledger, true);
    cast(&spell, &ledger, false);

    let lines = ledger.export(&Filter::default()).expect("export");
    assert_eq!(lines[0].trace_id.as_deref(), Some(TRACE));
    assert_eq!(lines[1].trace_id, None);
    assert!(
        lines[0].csv().ends_with(&format!(",{TRACE}")),
        "{}",
        lines[0].csv()
    );
    assert!(lines[1].csv().ends_with(','), "{}", lines[1].csv());
    let by_trace = ledger
        .report(GroupBy::Trace, &Filter::default())
        .expect("report");
    let keys: Vec<_> = by_trace.iter().map(|l| (l.key.as_str(), l.casts)).collect();
    assert_eq!(keys, [("-", 1), (TRACE, 1)]);
    assert_eq!(ledger.verify().expect("intact").seq, 2);

    // Another trace id written around the ledger breaks that row's hash.
    let edit = sqlite3(
        &path,
        "DROP TRIGGER usage_no_update; \
         UPDATE usage SET trace_id = '0af7651916cd43dd8448eb211c80319c' WHERE seq = 1;",
    );
    assert!(edit.status.success(), "{edit:?}");
    let Err(LedgerError::Tampered { seq, .. }) = ledger.verify() else {
        panic!("not detected")
    };
    assert_eq!(seq, 1);
}

#[test]
fn a_version_1_ledger_is_migrated_on_open_and_its_rows_still_verify() {
    let (_dir, path, ledger) = ledger("per_cast = 10", "acme", 1_000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    cast(&spell, &ledger, false);
    cast(&spell, &ledger, false);
    let head = ledger.head().expect("head");
    drop(ledger);
    // What version 1 wrote: the same tables without the column.
    stdout(sqlite3(
        &path,
        "ALTER TABLE usage DROP COLUMN trace_id; PRAGMA user_version = 1;",
    ));
    let columns = "SELECT count(*) FROM pragma_table_info('usage') WHERE name = 'trace_id'";
    assert_eq!(stdout(sqlite3(&path, columns)), "0");

    let ledger = Ledger::open(&path).expect("open a version-1 ledger");
    assert_eq!(stdout(sqlite3(&path, "PRAGMA user_version")), "3");
    assert_eq!(stdout(sqlite3(&path, columns)), "1");
    assert_eq!(ledger.verify().expect("old rows intact").seq, 2);
    ledger
        .verify_head(&head)
        .expect("the saved head is still there");
    cast(&spell, &ledger, true);
    assert_eq!(ledger.verify().expect("old and new rows").seq, 3);
    let traces: Vec<_> = ledger
        .export(&Filter::default())
        .expect("export")
        .into_iter()
        .map(|l| l.trace_id)
        .collect();
    assert_eq!(traces, [None, None, Some(TRACE.to_string())]);
    // Opening it again finds it current.
    drop(ledger);
    assert_eq!(
        Ledger::open(&path)
            .expect("reopen")
            .verify()
            .expect("intact")
            .seq,
        3
    );
}
