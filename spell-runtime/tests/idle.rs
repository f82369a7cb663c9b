//! An idle runtime costs no CPU and leaves no thread behind: its epoch ticker parks when no cast
//! runs, wakes for the next cast, and exits with the runtime, as does the reaper that drops big
//! casts' stores; its resolver's thread starts only for a name to resolve. A test binary of its own, so no other test's runtime or casts share the
//! process; its tests take turns ([`ALONE`]), each counting the threads of its own runtime.

use spell_core::{Package, Policy};
use spell_runtime::{CastRequest, Outcome, Runtime, Spell};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Held by each test for its whole run.
static ALONE: Mutex<()> = Mutex::new(());

/// The `/proc` folders of this process's live threads named `name`.
fn threads(name: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
        .map(|task| task.path())
        .filter(|task| {
            std::fs::read_to_string(task.join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// `wat` packed with `manifest_extra` (more manifest fields) and loaded on `runtime`.
fn load(runtime: &Runtime, wat: &str, manifest_extra: &str) -> Spell {
    let wasm = wat::parse_str(wat).expect("wat");
    let manifest =
        format!(r#"{{"name":"idle","version":"1.0.0","license":"MIT",{manifest_extra}}}"#);
    let package = Package::pack(manifest.as_bytes(), &wasm, None, None).expect("pack");
    let policy = Policy::trusting(
        &Package::read(&package, &Default::default())
            .expect("read")
            .manifest,
    );
    runtime.load(&package, &policy).expect("load")
}

/// The voluntary context switches of each live `spell-epoch` thread: one per tick while it
/// ticks.
fn ticker_wakeups() -> Vec<u64> {
    let mut found = Vec::new();
    for task in threads("spell-epoch") {
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
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
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new().expect("runtime");
    let spell = load(
        &runtime,
        r#"(module (func (export "spin") (loop br 0)))"#,
        r#""entrypoint":"spin","limits":{"wall_time_ms":50,"fuel":1000000000000}"#,
    );
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

#[test]
fn a_big_cast_leaves_its_memory_to_the_reaper_which_ends_with_the_runtime() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // One slot: each cast waits for the reaper to give the last one's memory back.
    let runtime = Runtime::builder()
        .max_concurrent_casts(1)
        .build()
        .expect("runtime");
    // Grows to `pages` pages and writes a byte to each 4 KiB of them.
    let touch = |pages: u32| {
        format!(
            r#"(module (memory 1)
              (func (export "run") (local $at i32)
                (drop (memory.grow (i32.const {})))
                (loop (i32.store8 (local.get $at) (i32.const 1))
                      (local.set $at (i32.add (local.get $at) (i32.const 4096)))
                      (br_if 0 (i32.lt_u (local.get $at) (i32.const {}))))))"#,
            pages - 1,
            pages * 65536
        )
    };
    let small = load(&runtime, &touch(16), r#""entrypoint":"run""#);
    let big = load(&runtime, &touch(512), r#""entrypoint":"run""#);
    let o = small.cast(CastRequest::new()).expect("cast");
    assert_eq!(
        (o.outcome, o.usage.memory_peak_bytes),
        (Outcome::Ok, 1 << 20)
    );
    assert!(
        threads("spell-reaper").is_empty(),
        "a 1 MiB cast drops its own"
    );
    for _ in 0..3 {
        let o = big.cast(CastRequest::new()).expect("cast");
        assert_eq!(
            (o.outcome, o.usage.memory_peak_bytes),
            (Outcome::Ok, 32 << 20)
        );
    }
    assert_eq!(threads("spell-reaper").len(), 1, "one reaper per runtime");
    drop((small, big));
    drop(runtime);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        threads("spell-reaper").is_empty(),
        "the reaper outlived its runtime"
    );
}

#[test]
fn a_runtime_whose_spells_resolve_no_name_starts_no_resolver_thread() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new().expect("runtime");
    let spell = load(
        &runtime,
        r#"(module (func (export "run")))"#,
        r#""entrypoint":"run""#,
    );
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    // The `spell-dns` thread starts with the first lookup (the network tests resolve names).
    assert!(threads("spell-dns").is_empty(), "an idle resolver thread");
}
