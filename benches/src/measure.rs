//! What the single-threaded benches measure: CPU time of the benchmarking thread.
//!
//! The benches run on a shared two-core machine where other builds come and go; wall-clock
//! samples then measure the neighbours as much as the code. A cast runs entirely on the calling
//! thread (Spell's sync `cast` drives the guest on a thread-local executor; the raw baselines
//! call it directly), so that thread's CPU time is the cast's cost, without time spent
//! preempted. Set `SPELL_BENCH_WALL=1` for wall-clock time instead (on an idle machine the two
//! agree). Throughput across threads is always wall-clock.

use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::time::{Duration, Instant};

/// Thread CPU time, or wall-clock time with `SPELL_BENCH_WALL=1`.
pub struct ThreadTime {
    wall: bool,
}

/// Where a sample started.
pub enum Start {
    /// Thread CPU time.
    Cpu(cpu_time::ThreadTime),
    /// Wall-clock time.
    Wall(Instant),
}

impl ThreadTime {
    /// Reads `SPELL_BENCH_WALL`.
    pub fn from_env() -> ThreadTime {
        ThreadTime {
            wall: std::env::var_os("SPELL_BENCH_WALL").is_some_and(|v| v == "1"),
        }
    }

    /// Starts timing a piece of work by hand (for `iter_custom`).
    pub fn start_now(&self) -> Start {
        if self.wall {
            Start::Wall(Instant::now())
        } else {
            Start::Cpu(cpu_time::ThreadTime::now())
        }
    }
}

impl Start {
    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        match self {
            Start::Cpu(t) => t.elapsed(),
            Start::Wall(t) => t.elapsed(),
        }
    }
}

static WALL_TIME: WallTime = WallTime;

impl Measurement for ThreadTime {
    type Intermediate = Start;
    type Value = Duration;

    fn start(&self) -> Start {
        self.start_now()
    }

    fn end(&self, start: Start) -> Duration {
        start.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

/// The criterion configuration of the single-threaded benches.
pub fn criterion() -> Criterion<ThreadTime> {
    Criterion::default().with_measurement(ThreadTime::from_env())
}

/// The `p`th percentile of `sorted`: the sample at `len * p / 100` (the last one for 100).
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Per-round ratios as the interleaved benches print them: `p10 1.52x  p25 ...  p90 1.77x`
/// (sorted here; the quantile at `(len - 1) * p / 100`).
pub fn ratio_quantiles(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let q = |p: usize| ratios[(ratios.len() - 1) * p / 100];
    format!(
        "p10 {:.2}x  p25 {:.2}x  median {:.2}x  p75 {:.2}x  p90 {:.2}x",
        q(10),
        q(25),
        q(50),
        q(75),
        q(90)
    )
}

/// A count a bench takes from the environment (`SPELL_BENCH_CASTS`, ...), or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
