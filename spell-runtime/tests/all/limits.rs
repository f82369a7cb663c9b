//! Each limit in obeyed/violated pairs, and each outcome.

use crate::guests::wat_spell;
use spell_core::Limits;
use spell_runtime::{CancelHandle, CastRequest, Outcome, TABLE_ELEMENT_BYTES, TrapKind, UsageLog};
use std::sync::Arc;
use std::time::Duration;

const SPIN: &str = r#"(module (func (export "spin") (loop br 0)))"#;

/// Counts down from its argument: fuel grows with the count.
const COUNT: &str = r#"(module
  (func (export "count") (result i32)
    (local i32) (local.set 0 (i32.const 1000))
    (loop (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if 0 (local.get 0)))
    (local.get 0)))"#;

/// Grows memory by one page (64 KiB) per iteration, forever.
const GROW: &str = r#"(module (memory 1)
  (func (export "grow") (loop (drop (memory.grow (i32.const 1))) br 0)))"#;

#[test]
fn fuel_limit_obeyed_and_deterministic() {
    let spell = wat_spell(COUNT, r#""entrypoint":"count","limits":{"fuel":100000}"#);
    let a = spell.cast(CastRequest::new()).expect("cast");
    let b = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(a.outcome, Outcome::Ok);
    assert_eq!(a.returned, vec![spell_runtime::Val::I32(0)]);
    let fuel = a.usage.fuel.expect("fuel metered");
    assert!(fuel > 1000 && fuel < 100_000, "{fuel}");
    assert_eq!(a.usage.fuel, b.usage.fuel, "same cast, same fuel");
}

#[test]
fn fuel_limit_violated() {
    let spell = wat_spell(SPIN, r#""entrypoint":"spin","limits":{"fuel":50000}"#);
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::OutOfFuel);
    assert_eq!(o.usage.fuel, Some(50_000));
    assert!(o.detail.expect("detail").contains("fuel limit"));
    // A cast may lower the limit, never raise it.
    let lower = spell
        .cast(CastRequest::new().limits(Limits {
            fuel: Some(1000),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(lower.usage.fuel, Some(1000));
    let raise = spell.cast(CastRequest::new().limits(Limits {
        fuel: Some(50_001),
        ..Default::default()
    }));
    assert!(matches!(raise, Err(spell_runtime::Error::RequestDenied(_))));
}

#[test]
fn memory_limit_obeyed_with_peak_recorded() {
    let wat = r#"(module (memory 1) (func (export "run") (drop (memory.grow (i32.const 3)))))"#;
    let spell = wat_spell(
        wat,
        r#""entrypoint":"run","limits":{"memory_bytes":262144}"#,
    );
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    assert_eq!(o.usage.memory_peak_bytes, 4 * 65536);
}

#[test]
fn memory_limit_violated() {
    let spell = wat_spell(
        GROW,
        r#""entrypoint":"grow","limits":{"memory_bytes":1048576}"#,
    );
    let log = Arc::new(UsageLog::new());
    let o = spell
        .cast(CastRequest::new().meter(log.clone()))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::MemoryLimit);
    assert!(
        o.usage.memory_peak_bytes <= 1 << 20,
        "{}",
        o.usage.memory_peak_bytes
    );
    assert_eq!(o.usage.memory_peak_bytes, 1 << 20);
    let events = log.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(
        &events[0].kind,
        spell_runtime::EventKind::LimitHit {
            outcome: Outcome::MemoryLimit,
            ..
        }
    ));
}

#[test]
fn memory_limit_counts_memory_and_tables_together() {
    // 2 pages (128 KiB) of memory + 4096 table elements (32 KiB) = 160 KiB.
    let wat = r#"(module (memory 2) (table 4096 funcref) (func (export "run")))"#;
    let fits = wat_spell(
        wat,
        r#""entrypoint":"run","limits":{"memory_bytes":163840}"#,
    );
    let o = fits.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    assert_eq!(
        o.usage.memory_peak_bytes,
        2 * 65536 + 4096 * TABLE_ELEMENT_BYTES
    );
    let tight = wat_spell(
        wat,
        r#""entrypoint":"run","limits":{"memory_bytes":163839}"#,
    );
    assert_eq!(
        tight.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::MemoryLimit
    );
}

#[test]
fn wall_time_limit_stops_a_spinning_guest() {
    let spell = wat_spell(
        SPIN,
        r#""entrypoint":"spin","limits":{"wall_time_ms":200,"fuel":1000000000000}"#,
    );
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout);
    let wall = Duration::from_nanos(o.usage.wall_ns);
    eprintln!("timeout at 200 ms took {wall:?}");
    assert!(wall >= Duration::from_millis(200));
    // Generous sanity bound for a loaded CI machine; the promised bound (10 ms or 10%) is
    // measured by benches/benches/stop_latency.rs.
    assert!(wall < Duration::from_secs(2), "{wall:?}");
    assert!(o.usage.cpu_ns > 0);
}

#[test]
fn output_limit_obeyed_and_violated() {
    // fd_write(1, iovec at 0 -> "hello\n" at 16, 1 iovec, nwritten at 8), `n` times.
    let wat = |n: u32| {
        format!(
            r#"(module
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (data (i32.const 0) "\10\00\00\00\06\00\00\00")
              (data (i32.const 16) "hello\n")
              (func (export "_start") (local i32)
                (loop (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                  (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                  (br_if 0 (i32.lt_u (local.get 0) (i32.const {n}))))))"#
        )
    };
    let ok = wat_spell(&wat(10), r#""limits":{"output_bytes":60}"#)
        .cast(CastRequest::new())
        .expect("cast");
    assert_eq!(ok.outcome, Outcome::Ok);
    assert_eq!(ok.stdout, b"hello\n".repeat(10));
    let flood = wat_spell(&wat(1_000_000), r#""limits":{"output_bytes":100}"#)
        .cast(CastRequest::new())
        .expect("cast");
    assert_eq!(flood.outcome, Outcome::OutputLimit);
    assert_eq!(flood.stdout.len(), 100);
    assert_eq!(flood.usage.stdout_bytes, 100);
}

#[test]
fn cancellation_from_another_thread() {
    let spell = wat_spell(
        SPIN,
        r#""entrypoint":"spin","limits":{"fuel":1000000000000}"#,
    );
    let cancel = CancelHandle::new();
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.cancel();
    });
    let o = spell
        .cast(CastRequest::new().cancel(cancel.clone()))
        .expect("cast");
    t.join().expect("join");
    assert_eq!(o.outcome, Outcome::Cancelled);
    // A handle cancelled before the cast makes it end at once.
    let again = spell.cast(CastRequest::new().cancel(cancel)).expect("cast");
    assert_eq!(again.outcome, Outcome::Cancelled);
    assert_eq!(again.usage.fuel, Some(0));
}

#[test]
fn traps_are_reported_with_their_kind() {
    for (wat, kind) in [
        (
            r#"(module (func (export "run") unreachable))"#,
            TrapKind::UnreachableCodeReached,
        ),
        (
            r#"(module (func $f (export "run") (call $f)))"#,
            TrapKind::StackOverflow,
        ),
        (
            r#"(module (memory 1) (func (export "run") (drop (i32.load (i32.const 70000)))))"#,
            TrapKind::MemoryOutOfBounds,
        ),
        (
            r#"(module (func (export "run") (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#,
            TrapKind::IntegerDivisionByZero,
        ),
    ] {
        let o = wat_spell(wat, r#""entrypoint":"run""#)
            .cast(CastRequest::new())
            .expect("cast");
        assert_eq!((o.outcome, o.trap), (Outcome::Trap, Some(kind)));
    }
}

#[test]
fn huge_arguments_are_refused_before_the_cast() {
    let spell = wat_spell(SPIN, r#""entrypoint":"spin""#);
    let huge = "x".repeat(spell_runtime::MAX_ARGS_ENV_BYTES + 1);
    assert!(matches!(
        spell.cast(CastRequest::new().arg(huge)),
        Err(spell_runtime::Error::RequestDenied(_))
    ));
}
