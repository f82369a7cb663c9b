//! Many casts from many threads, back-pressure, and casting from async code.

use crate::guests::{c_guest, runtime, wasm_spell, wat_spell};
use spell_runtime::{CastRequest, Error, Outcome, Runtime, UsageLog};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[test]
fn many_threads_cast_at_once_and_every_record_arrives() {
    let spell = wasm_spell(
        &runtime(),
        &c_guest("guest"),
        r#""limits":{"fuel":100000000}"#,
    );
    let log = Arc::new(UsageLog::new());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (spell, log) = (spell.clone(), log.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let o = spell
                        .cast(
                            CastRequest::new()
                                .args(["echo", &format!("{t}-{i:02}")])
                                .meter(log.clone()),
                        )
                        .expect("cast");
                    assert_eq!(o.outcome, Outcome::Ok);
                    assert_eq!(
                        String::from_utf8_lossy(&o.stdout),
                        format!("arg:{t}-{i:02}\nenv:(unset)\n")
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let records = log.records();
    assert_eq!(records.len(), 100);
    let fuel: std::collections::HashSet<_> = records.iter().map(|r| r.fuel).collect();
    assert_eq!(
        fuel.len(),
        1,
        "identical casts use identical fuel: {fuel:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Ok && r.stdout_bytes > 0)
    );
}

#[test]
fn a_full_runtime_answers_busy_after_the_queue_timeout() {
    let rt = Runtime::builder()
        .max_concurrent_casts(1)
        .queue_timeout(Duration::from_millis(50))
        .build()
        .expect("runtime");
    let wasm =
        wat::parse_str(r#"(module (func (export "spin") (loop br 0)) (func (export "nop")))"#)
            .expect("wat");
    let spell = wasm_spell(
        &rt,
        &wasm,
        r#""entrypoint":"spin","limits":{"wall_time_ms":1000,"fuel":1000000000000}"#,
    );
    let busy = spell.clone();
    let blocker = std::thread::spawn(move || busy.cast(CastRequest::new()).expect("cast").outcome);
    std::thread::sleep(Duration::from_millis(200));
    let err = spell
        .cast(CastRequest::new().export("nop"))
        .expect_err("busy");
    assert!(matches!(err, Error::Busy { in_flight: 1, .. }), "{err}");
    assert_eq!(blocker.join().expect("join"), Outcome::Timeout);
    assert_eq!(
        spell
            .cast(CastRequest::new().export("nop"))
            .expect("slot free again")
            .outcome,
        Outcome::Ok
    );
}

#[test]
fn cast_async_yields_so_other_tasks_keep_running() {
    let spell = wat_spell(
        r#"(module (func (export "spin") (loop br 0)))"#,
        r#""entrypoint":"spin","limits":{"wall_time_ms":300,"fuel":1000000000000}"#,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let ticks = Arc::new(AtomicU64::new(0));
    let outcome = rt.block_on(async {
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let o = spell.cast_async(CastRequest::new()).await.expect("cast");
        ticker.abort();
        o
    });
    assert_eq!(outcome.outcome, Outcome::Timeout);
    // On one executor thread, the ticker ran only because the guest yielded.
    let n = ticks.load(Ordering::Relaxed);
    eprintln!("ticker ran {n} times during a 300 ms cast");
    assert!(n >= 5, "{n}");
}

#[test]
fn sync_cast_inside_a_tokio_runtime_does_not_panic() {
    let spell = wat_spell(r#"(module (func (export "nop")))"#, r#""entrypoint":"nop""#);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    let o = rt
        .block_on(async { spell.cast(CastRequest::new()) })
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
}
