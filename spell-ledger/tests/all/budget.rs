//! Budgets: refusal before anything runs, the allowance that stops a cast, concurrency, dupes.

use crate::{NOOP, SPIN, ledger, spell};
use spell_core::ErrorCode;
use spell_runtime::{CastRequest, Metering, Outcome, Runtime};
use std::collections::HashSet;

#[test]
fn a_spent_budget_is_refused_before_anything_runs_and_nothing_is_charged() {
    let (_dir, _, ledger) = ledger("per_cast = 100", "acme", 99);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, SPIN, "");
    let meter = ledger.meter("acme").expect("meter");
    let outcome = spell.cast(CastRequest::new().meter(meter)).expect("cast");
    assert_eq!(outcome.outcome, Outcome::Denied);
    assert_eq!(outcome.denial_code, Some(ErrorCode::BillBudgetExhausted));
    assert_eq!(outcome.usage.fuel, None, "nothing ran");
    assert!(outcome.hook_error.is_none());
    let rows = ledger.export(&Default::default()).expect("export");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].outcome.as_str(), rows[0].charged), ("denied", 0));
    let acme = ledger.account("acme").expect("account");
    assert_eq!((acme.spent, acme.reserved, acme.available), (0, 0, 99));
}

#[test]
fn an_unknown_account_is_refused_with_its_own_code() {
    let (_dir, _, ledger) = ledger("per_cast = 1", "acme", 10);
    let err = ledger.meter("nobody").err().expect("unknown");
    assert_eq!(
        spell_core::HasCode::code(&err),
        ErrorCode::BillAccountUnknown
    );
    let ctx = spell_runtime::CastContext {
        cast_id: "c1",
        spell_digest: "",
        spell_name: "t",
        spell_version: "1.0.0",
        limits: spell_core::EffectiveLimits {
            memory_bytes: 1 << 20,
            fuel: 1000,
            wall_time_ms: 1000,
            output_bytes: 0,
            net_requests: 0,
            net_bytes: 0,
            open_files: 0,
            disk_write_bytes: 0,
        },
    };
    let denied = ledger.authorize("nobody", &ctx).expect_err("denied");
    assert_eq!(denied.code, Some(ErrorCode::BillAccountUnknown));
}

#[test]
fn a_cast_stopped_by_its_allowance_is_charged_exactly_what_it_used() {
    // One micro-unit per fuel; the spell may use 10^6 fuel but the account can pay 12 345.
    let (_dir, _, ledger) = ledger("per_million_fuel = 1000000", "acme", 12_345);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, SPIN, r#""fuel": 1000000"#);
    let outcome = spell
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    assert_eq!(outcome.outcome, Outcome::OutOfFuel);
    let detail = outcome.detail.expect("detail");
    assert!(detail.contains("allowance of 12345"), "{detail}");
    assert_eq!(outcome.usage.fuel, Some(12_345));
    let acme = ledger.account("acme").expect("account");
    assert_eq!((acme.spent, acme.reserved, acme.available), (12_345, 0, 0));
    let rows = ledger.export(&Default::default()).expect("export");
    assert_eq!(
        (rows[0].fuel, rows[0].cost, rows[0].charged),
        (12_345, 12_345, 12_345)
    );
    // Spent: the next cast is refused.
    let next = spell
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    assert_eq!(next.denial_code, Some(ErrorCode::BillBudgetExhausted));
}

#[test]
fn a_cast_within_budget_keeps_its_limits() {
    let (_dir, _, ledger) = ledger("per_million_fuel = 1000000", "acme", 2_000_000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, SPIN, r#""fuel": 1000000"#);
    let outcome = spell
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    let detail = outcome.detail.expect("detail");
    assert!(detail.starts_with("the fuel limit of 1000000"), "{detail}");
    assert_eq!(ledger.account("acme").expect("account").spent, 1_000_000);
}

#[test]
fn without_fuel_a_time_price_caps_wall_time() {
    // 1 000 micro-units per CPU-second and 1 000 to spend: at most one second of wall time.
    let (_dir, _, ledger) = ledger("per_cpu_second = 1000", "acme", 1_000);
    let runtime = Runtime::builder()
        .metering(Metering::Time)
        .build()
        .expect("runtime");
    let spell = spell(&runtime, SPIN, r#""wall_time_ms": 30000"#);
    let outcome = spell
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    assert_eq!(outcome.outcome, Outcome::Timeout);
    let detail = outcome.detail.expect("detail");
    assert!(
        detail.contains("wall-time allowance of 1000 ms"),
        "{detail}"
    );
    let acme = ledger.account("acme").expect("account");
    assert!(acme.spent > 0 && acme.spent <= 1_000, "{acme:?}");
    assert_eq!(acme.reserved, 0);
}

#[test]
fn eight_threads_never_spend_more_than_the_budget_and_every_cast_is_recorded_once() {
    const N: i64 = 13;
    let (_dir, _, ledger) = ledger("per_cast = 1000", "acme", N * 1000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    let meter = ledger.meter("acme").expect("meter");
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| {
                            spell
                                .cast(CastRequest::new().meter(meter.clone()))
                                .expect("cast")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let ran = outcomes.iter().filter(|o| o.outcome == Outcome::Ok).count();
    let denied = outcomes
        .iter()
        .filter(|o| o.outcome == Outcome::Denied)
        .count();
    assert_eq!((ran as i64, denied), (N, 40 - N as usize));
    let rows = ledger.export(&Default::default()).expect("export");
    assert_eq!(rows.len(), 40);
    let ids: HashSet<_> = rows.iter().map(|r| r.cast_id.clone()).collect();
    let cast_ids: HashSet<_> = outcomes.iter().map(|o| o.usage.cast_id.clone()).collect();
    assert_eq!(ids, cast_ids);
    let acme = ledger.account("acme").expect("account");
    assert_eq!(
        (acme.spent, acme.reserved, acme.available),
        (N * 1000, 0, 0)
    );
    assert_eq!(rows.iter().map(|r| r.charged).sum::<i64>(), N * 1000);
    ledger.verify().expect("chain");
}

#[test]
fn the_same_cast_id_recorded_twice_is_one_row_and_one_charge() {
    let (_dir, _, ledger) = ledger("per_cast = 7", "acme", 100);
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    let outcome = spell
        .cast(CastRequest::new().meter(ledger.meter("acme").expect("meter")))
        .expect("cast");
    let again = ledger.record("acme", &outcome.usage).expect("record");
    assert!(again.duplicate);
    assert_eq!(again.charged, 0);
    assert_eq!(ledger.export(&Default::default()).expect("export").len(), 1);
    assert_eq!(ledger.account("acme").expect("account").spent, 7);
}

#[test]
fn reports_group_and_filter_rows() {
    let (_dir, _, ledger) = ledger("per_cast = 5", "acme", 1_000);
    ledger
        .set_account(
            "beta",
            spell_ledger::Budget {
                amount: 1_000,
                period: spell_ledger::Period::Month,
            },
        )
        .expect("account");
    let runtime = Runtime::new().expect("runtime");
    let spell = spell(&runtime, NOOP, "");
    for account in ["acme", "acme", "beta"] {
        spell
            .cast(CastRequest::new().meter(ledger.meter(account).expect("meter")))
            .expect("cast");
    }
    let by_account = ledger
        .report(spell_ledger::GroupBy::Account, &Default::default())
        .expect("report");
    let sums: Vec<_> = by_account
        .iter()
        .map(|l| (l.key.as_str(), l.casts, l.charged))
        .collect();
    assert_eq!(sums, [("acme", 2, 10), ("beta", 1, 5)]);
    let beta = spell_ledger::Filter {
        account: Some("beta".into()),
        since_ms: None,
    };
    assert_eq!(ledger.export(&beta).expect("export").len(), 1);
    let future = spell_ledger::Filter {
        account: None,
        since_ms: Some(i64::MAX),
    };
    assert!(
        ledger
            .report(spell_ledger::GroupBy::Day, &future)
            .expect("report")
            .is_empty()
    );
    assert_eq!(ledger.account("beta").expect("account").spent, 5);
}
