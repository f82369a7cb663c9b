//! Metering hooks: authorize before, observe during, record exactly once after every cast.

use crate::guests::wat_spell;
use spell_runtime::{
    Allowance, CastContext, CastRequest, Denied, HookError, MeteringHook, Outcome, UsageLog,
    UsageRecord,
};
use std::sync::{Arc, Mutex};

const SPIN: &str = r#"(module (func (export "spin") (loop br 0)) (func (export "nop")) (func (export "trap") unreachable))"#;

#[test]
fn record_is_called_exactly_once_for_every_outcome() {
    let spell = wat_spell(
        SPIN,
        r#""entrypoint":"nop","limits":{"fuel":10000,"wall_time_ms":5000}"#,
    );
    let log = Arc::new(UsageLog::new());
    let casts = [
        ("nop", Outcome::Ok),
        ("trap", Outcome::Trap),
        ("spin", Outcome::OutOfFuel),
    ];
    for (export, expected) in casts {
        let o = spell
            .cast(CastRequest::new().export(export).meter(log.clone()))
            .expect("cast");
        assert_eq!(o.outcome, expected);
    }
    let records = log.records();
    assert_eq!(
        records.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        casts.map(|c| c.1)
    );
    let ids: std::collections::HashSet<_> = records.iter().map(|r| r.cast_id.clone()).collect();
    assert_eq!(ids.len(), 3, "cast ids are unique");
    assert!(
        records
            .iter()
            .all(|r| r.spell_digest == spell.digest().to_hex() && r.spell_name == "test")
    );
}

#[test]
fn budget_allowance_caps_fuel_then_denies() {
    let spell = wat_spell(SPIN, r#""entrypoint":"spin","limits":{"fuel":1000000}"#);
    let log = Arc::new(UsageLog::with_fuel_budget(25_000));
    let first = spell
        .cast(CastRequest::new().meter(log.clone()))
        .expect("cast");
    assert_eq!(first.outcome, Outcome::OutOfFuel);
    assert_eq!(first.usage.fuel, Some(25_000));
    assert!(first.detail.expect("detail").contains("allowance"));
    let second = spell
        .cast(CastRequest::new().meter(log.clone()))
        .expect("cast");
    assert_eq!(second.outcome, Outcome::Denied);
    assert_eq!(second.usage.fuel, None, "nothing ran");
    assert!(second.detail.expect("reason").contains("budget"));
    assert_eq!(log.records().len(), 2, "denied casts are recorded too");
}

/// A hook whose record fails, as a billing store that is down would.
struct FailingRecord(Mutex<u32>);

impl MeteringHook for FailingRecord {
    fn authorize(&self, ctx: &CastContext) -> Result<Allowance, Denied> {
        assert_eq!(ctx.spell_name, "test");
        Ok(Allowance::default())
    }

    fn record(&self, _: &UsageRecord) -> Result<(), HookError> {
        *self.0.lock().expect("lock") += 1;
        Err(HookError {
            hook: "record".into(),
            message: "billing store unreachable".into(),
        })
    }
}

#[test]
fn a_failing_record_hook_keeps_the_outcome_and_reports_the_error() {
    let spell = wat_spell(SPIN, r#""entrypoint":"nop""#);
    let hook = Arc::new(FailingRecord(Mutex::new(0)));
    let o = spell
        .cast(CastRequest::new().meter(hook.clone()))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    assert_eq!(
        o.hook_error.expect("hook error").message,
        "billing store unreachable"
    );
    assert_eq!(*hook.0.lock().expect("lock"), 1);
}

#[test]
fn the_runtime_wide_hook_sees_casts_without_their_own() {
    let log = Arc::new(UsageLog::new());
    let rt = spell_runtime::Runtime::builder()
        .meter(log.clone())
        .build()
        .expect("runtime");
    let spell = crate::guests::wasm_spell(
        &rt,
        &wat::parse_str(SPIN).expect("wat"),
        r#""entrypoint":"nop""#,
    );
    spell.cast(CastRequest::new()).expect("cast");
    let own = Arc::new(UsageLog::new());
    spell
        .cast(CastRequest::new().meter(own.clone()))
        .expect("cast");
    assert_eq!((log.records().len(), own.records().len()), (1, 1));
}
