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

#[test]
fn a_cast_on_the_pool_runs_on_a_cast_thread_and_blocks_its_caller() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let names = seen.clone();
    let rt = Runtime::builder()
        .host_function(spell_runtime::HostFunction::new(
            "where",
            "am_i",
            [],
            [],
            move |_, _| {
                let name = std::thread::current().name().map(String::from);
                names.lock().expect("names").push(name);
                Ok(vec![])
            },
        ))
        .build()
        .expect("runtime");
    let wasm = wat::parse_str(
        r#"(module (import "where" "am_i" (func $f)) (func (export "run") (call $f)))"#,
    )
    .expect("wat");
    let spell = rt
        .load(
            &crate::guests::package(
                &wasm,
                r#""entrypoint":"run","capabilities":{"host_functions":["where::am_i"]}"#,
            ),
            &spell_core::Policy::from_toml(
                "allow_unsigned = true\n[capabilities]\nhost_functions = [\"where::*\"]",
            )
            .expect("policy"),
        )
        .expect("load");
    let log = Arc::new(UsageLog::new());
    for _ in 0..3 {
        let o = spell
            .cast_on_pool(CastRequest::new().meter(log.clone()))
            .expect("cast");
        assert_eq!(o.outcome, Outcome::Ok);
    }
    let caller = std::thread::current().name().map(String::from);
    let seen = seen.lock().expect("names").clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|n| n.as_deref() == Some("spell-cast") && *n != caller),
        "{seen:?}"
    );
    assert_eq!(
        log.records().len(),
        3,
        "each recorded once, before cast_on_pool returned"
    );
}

#[test]
fn an_interruptible_cast_is_cancelled_when_the_host_says_so_and_keeps_its_record() {
    let spell = wat_spell(
        r#"(module (func (export "spin") (loop br 0)))"#,
        r#""entrypoint":"spin","limits":{"fuel":1000000000000,"wall_time_ms":20000}"#,
    );
    let log = Arc::new(UsageLog::new());
    let mut checks = 0;
    let started = std::time::Instant::now();
    let (outcome, raised) = spell.cast_interruptible(
        CastRequest::new().meter(log.clone()),
        Duration::from_millis(10),
        || {
            checks += 1;
            (checks == 3).then_some("interrupted")
        },
    );
    assert_eq!(raised, Some("interrupted"));
    assert_eq!(checks, 3, "no check after the one that interrupted");
    assert_eq!(outcome.expect("cast").outcome, Outcome::Cancelled);
    assert_eq!(log.records().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Nothing interrupts: the cast ends on its own, and nothing comes back beside it.
    let quick = wat_spell(r#"(module (func (export "run")))"#, r#""entrypoint":"run""#);
    let (outcome, raised) =
        quick.cast_interruptible(CastRequest::new(), Duration::from_millis(10), || Some(()));
    assert_eq!(
        (outcome.expect("cast").outcome, raised),
        (Outcome::Ok, None)
    );
}
