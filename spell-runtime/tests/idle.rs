//! An idle runtime costs no CPU: its epoch ticker parks when no cast runs, wakes for the next
//! cast, and exits with the runtime. A test binary of its own, so no other test's runtime or
//! casts share the process.

use spell_core::{Package, Policy};
use spell_runtime::{CastRequest, Outcome, Runtime};
use std::time::Duration;

/// The voluntary context switches of each live `spell-epoch` thread: one per tick while it
/// ticks.
fn ticker_wakeups() -> Vec<u64> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "spell-epoch" {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("voluntary_ctxt_switches");
        found.push(switches);
    }
    found
}

#[test]
fn an_idle_runtime_parks_its_ticker_and_wakes_it_for_the_next_cast() {
    let runtime = Runtime::new().expect("runtime");
    let spin = wat::parse_str(r#"(module (func (export "spin") (loop br 0)))"#).expect("wat");
    let manifest = br#"{"name":"spin","version":"1.0.0","license":"MIT","entrypoint":"spin",
        "limits":{"wall_time_ms":50,"fuel":1000000000000}}"#;
    let package = Package::pack(manifest, &spin, None, None).expect("pack");
    let policy = Policy::trusting(
        &Package::read(&package, &Default::default())
            .expect("read")
            .manifest,
    );
    let spell = runtime.load(&package, &policy).expect("load");
    assert_eq!(
        spell.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::Timeout
    );

    // Idle: after a short grace the ticker stops waking (it woke ~1,000 times a second before).
    std::thread::sleep(Duration::from_millis(400));
    let before = ticker_wakeups();
    assert_eq!(before.len(), 1, "one ticker per runtime");
    std::thread::sleep(Duration::from_millis(500));
    let after = ticker_wakeups();
    assert!(
        after[0] - before[0] <= 2,
        "{} wake-ups in 500 ms idle",
        after[0] - before[0]
    );

    // The next cast wakes it: a deadline still stops a spinning guest.
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout);
    assert!(Duration::from_nanos(o.usage.wall_ns) < Duration::from_secs(2));
    assert!(
        ticker_wakeups()[0] > after[0] + 10,
        "it ticked during the cast"
    );

    // And it ends with the runtime, parked or not.
    drop(spell);
    drop(runtime);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        ticker_wakeups().is_empty(),
        "the ticker outlived its runtime"
    );
}
