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
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        assert_eq!(ctx.spell_name, "test");
        Ok(Allowance::default())
    }

    fn record(&self, _: &UsageRecord) -> Result<(), HookError> {
        *self.0.lock().expect("lock") += 1;
        Err(HookError::new("record", "billing store unreachable"))
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

/// A hook that fails where it is told to, as a billing store that is down or a binding's
/// raising callback would.
#[derive(Default)]
struct FailingAt {
    authorize: bool,
    observe: bool,
    record: bool,
    records: Mutex<u32>,
}

impl MeteringHook for FailingAt {
    fn authorize(&self, _: &CastContext<'_>) -> Result<Allowance, Denied> {
        if self.authorize {
            let refused = std::io::Error::other("connection refused");
            return Err(Denied::failed(
                HookError::new("authorize", "budget store down").with_source(refused),
            ));
        }
        Ok(Allowance::default())
    }

    fn observe(&self, event: &spell_runtime::Event) -> Result<(), HookError> {
        if self.observe {
            return Err(HookError::new("observe", format!("lost {:?}", event.kind)));
        }
        Ok(())
    }

    fn record(&self, _: &UsageRecord) -> Result<(), HookError> {
        *self.records.lock().expect("lock") += 1;
        if self.record {
            return Err(HookError::new("record", "ledger down"));
        }
        Ok(())
    }
}

/// The source a failure was made with, as its text.
fn source_of(e: &HookError) -> Option<String> {
    std::error::Error::source(e).map(|s| s.to_string())
}

#[test]
fn a_failing_authorize_denies_and_is_the_hook_error_with_its_source() {
    let spell = wat_spell(SPIN, r#""entrypoint":"nop""#);
    let hook = Arc::new(FailingAt {
        authorize: true,
        ..FailingAt::default()
    });
    let o = spell
        .cast(CastRequest::new().meter(hook.clone()))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Denied, "fails closed");
    assert_eq!(o.denial_code, None);
    assert_eq!(
        o.detail.as_deref(),
        Some("authorize hook failed: budget store down")
    );
    let e = o.hook_error.expect("hook error");
    assert_eq!(
        (e.hook.as_str(), e.message.as_str()),
        ("authorize", "budget store down")
    );
    assert_eq!(source_of(&e).as_deref(), Some("connection refused"));
    assert_eq!(*hook.records.lock().expect("lock"), 1, "still recorded");
}

#[test]
fn a_failing_observe_is_the_hook_error_unless_record_fails_too() {
    let spell = wat_spell(
        SPIN,
        r#""entrypoint":"spin","limits":{"fuel":1000000000000,"wall_time_ms":50}"#,
    );
    let observe = Arc::new(FailingAt {
        observe: true,
        ..FailingAt::default()
    });
    let o = spell.cast(CastRequest::new().meter(observe)).expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout, "the cast ends as it would");
    let e = o.hook_error.expect("hook error");
    assert_eq!(e.hook, "observe");
    assert!(e.message.contains("LimitHit"), "{}", e.message);
    // Both fail: the record's failure is the one reported, since the host must store it again.
    let both = Arc::new(FailingAt {
        observe: true,
        record: true,
        ..FailingAt::default()
    });
    let o = spell.cast(CastRequest::new().meter(both)).expect("cast");
    assert_eq!(o.hook_error.expect("hook error").hook, "record");
}

#[test]
fn a_failing_output_callback_is_the_hook_error_and_the_cast_goes_on() {
    let spell = wat_spell(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\10\00\00\00\03\00\00\00")
          (data (i32.const 16) "hi\n")
          (func (export "_start")
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        "",
    );
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let o = spell
        .cast(CastRequest::new().on_output(Arc::new(move |_, _| {
            let mut n = counted.lock().expect("lock");
            *n += 1;
            Err(HookError::new(
                "on_output",
                format!("terminal gone at chunk {n}"),
            ))
        })))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    assert_eq!(o.stdout, b"hi\nhi\n");
    assert_eq!(*calls.lock().expect("lock"), 2);
    let e = o.hook_error.expect("hook error");
    assert_eq!(
        (e.hook.as_str(), e.message.as_str()),
        ("on_output", "terminal gone at chunk 1"),
        "the first failure is kept"
    );
}
