//! How late a cast stops after its wall-time deadline, or after another thread cancels it: the
//! runtime's promise is within 10 ms or 10% of the deadline, whichever is larger. Guests: `spin`
//! (a loop, stopped by the epoch callback) and `sleep` (blocked in `poll_oneoff`, stopped by
//! the cast's own timer). Not a criterion bench: latency, not throughput, is the figure, and
//! its tail matters, so it prints median and worst over `SPELL_BENCH_STOPS` casts (default 20)
//! per row, next to the bound, and exits non-zero when the worst case misses it.
//!
//! The figures are wall-clock: run it on a quiet machine.

use spell_benches::fixtures;
use spell_benches::spells;
use spell_core::Limits;
use spell_runtime::{CancelHandle, CastRequest, Outcome, Runtime, Spell};
use std::time::{Duration, Instant};

/// What the runtime promises: 10 ms or 10% of the deadline, whichever is larger.
fn bound(deadline: Duration) -> Duration {
    (deadline / 10).max(Duration::from_millis(10))
}

/// Prints median and worst of `late` next to the bound; returns whether the worst is within it.
fn report(label: &str, mut late: Vec<Duration>, bound: Duration) -> bool {
    late.sort();
    let (median, worst) = (late[late.len() / 2], late[late.len() - 1]);
    let ok = worst <= bound;
    println!(
        "{label:<34} n={:<3} median={:>8.3} ms  worst={:>8.3} ms  bound={:>5} ms  {}",
        late.len(),
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        bound.as_millis(),
        if ok { "met" } else { "MISSED" }
    );
    ok
}

/// Casts with `deadline` as the wall-time limit; how long after the deadline each cast ended.
fn timeout(spell: &Spell, entrypoint: &str, deadline: Duration, n: usize) -> Vec<Duration> {
    let limits = Limits {
        wall_time_ms: Some(deadline.as_millis() as u64),
        ..Limits::default()
    };
    (0..n)
        .map(|_| {
            let start = Instant::now();
            let o = spell
                .cast(CastRequest::new().export(entrypoint).limits(limits))
                .expect("cast");
            let took = start.elapsed();
            assert_eq!(o.outcome, Outcome::Timeout, "{entrypoint}: {:?}", o.detail);
            took.saturating_sub(deadline)
        })
        .collect()
}

/// Cancels each cast from another thread after `after`; how long after `cancel()` it ended.
fn cancel(spell: &Spell, entrypoint: &str, after: Duration, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let handle = CancelHandle::new();
            let canceller = {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(after);
                    handle.cancel();
                    Instant::now()
                })
            };
            let o = spell
                .cast(CastRequest::new().export(entrypoint).cancel(handle))
                .expect("cast");
            let ended = Instant::now();
            assert_eq!(
                o.outcome,
                Outcome::Cancelled,
                "{entrypoint}: {:?}",
                o.detail
            );
            ended.saturating_duration_since(canceller.join().expect("canceller"))
        })
        .collect()
}

fn main() {
    let n = spell_benches::measure::env_count("SPELL_BENCH_STOPS", 20);
    let runtime = Runtime::new().expect("runtime");
    let spin = spells::load(&runtime, &fixtures::wat("spin"), "run");
    let sleep = spells::load(&runtime, &fixtures::wat("sleep"), "_start");
    let touch = spells::load(&runtime, &fixtures::wat("touch"), "run");
    let mut met = true;
    for (name, spell, entrypoint) in [
        ("spin", &spin, "run"),
        ("sleep", &sleep, "_start"),
        ("touch", &touch, "run"),
    ] {
        for ms in [20, 100, 500] {
            let deadline = Duration::from_millis(ms);
            met &= report(
                &format!("{name}: timeout at {ms} ms"),
                timeout(spell, entrypoint, deadline, n),
                bound(deadline),
            );
        }
        let after = Duration::from_millis(50);
        met &= report(
            &format!("{name}: cancel after 50 ms"),
            cancel(spell, entrypoint, after, n),
            bound(Duration::ZERO),
        );
    }
    if !met {
        std::process::exit(1);
    }
}
