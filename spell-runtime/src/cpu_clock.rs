//! A cast's CPU time (`cpu_ns`), from the thread CPU clock with one system call where a naive
//! measure makes two.
//!
//! Reading a running thread's CPU clock is a system call that locks the kernel's run queue
//! (about 0.7 µs in this project's VMs): two per cast were a third of a trivial cast's cost. The
//! end of a measure has to read it. Its start need not when the thread read its clock a moment
//! ago, as it does when casts or polls follow one another on a thread: the thread's CPU time
//! cannot have grown by more than the wall time since that reading (read from the vDSO, no
//! system call), so that reading plus the wall time in between stands in for a new one. The
//! stand-in is never earlier than the true start, so the measure never exceeds the true CPU
//! time; it falls short only by the time the thread spent off the CPU in that gap, which is
//! shorter than [`REUSE_WITHIN`].

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How recent the thread's last reading must be to stand in for a new one: it bounds what a
/// measure can fall short by (when the thread was descheduled in the gap).
const REUSE_WITHIN: Duration = Duration::from_micros(50);

thread_local! {
    /// The thread's last CPU clock reading, and a wall-clock instant taken just before it.
    static LAST: Cell<Option<(Duration, Instant)>> = const { Cell::new(None) };
}

/// The thread's CPU time at the start of a measure: a reading, or the thread's last reading
/// plus the wall time since it when that is recent.
pub(crate) fn start() -> Duration {
    let now = Instant::now();
    match LAST.get() {
        Some((cpu, at)) if now.duration_since(at) < REUSE_WITHIN => cpu + now.duration_since(at),
        _ => read(now),
    }
}

/// The thread's CPU time now, at the end of a measure (and a start for the next one).
pub(crate) fn end() -> Duration {
    read(Instant::now())
}

/// Reads the thread CPU clock; `at` is taken before the read, so the reading is no earlier
/// than `at` and a stand-in computed from it errs towards later.
fn read(at: Instant) -> Duration {
    let cpu = cpu_time::ThreadTime::now().as_duration();
    LAST.set(Some((cpu, at)));
    cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends `d` of the thread's CPU time.
    fn spin(d: Duration) {
        let from = cpu_time::ThreadTime::now();
        while from.elapsed() < d {
            std::hint::black_box(());
        }
    }

    #[test]
    fn a_measure_never_exceeds_the_thread_cpu_time_it_spans() {
        for _ in 0..1_000 {
            let truth = cpu_time::ThreadTime::now();
            let start = start();
            spin(Duration::from_micros(5));
            let measured = end().saturating_sub(start);
            assert!(
                measured <= truth.elapsed(),
                "{measured:?} > {:?}",
                truth.elapsed()
            );
        }
    }

    #[test]
    fn a_recent_reading_stands_in_and_an_old_one_does_not() {
        let first = end();
        // Right after a reading: the stand-in, which is the reading plus a little wall time.
        let next = start();
        assert!(
            next >= first && next - first < REUSE_WITHIN,
            "{first:?} {next:?}"
        );
        // A sleeping thread's CPU time does not grow: after a pause the start is a new reading,
        // not the last one plus the wall time slept.
        end();
        std::thread::sleep(Duration::from_millis(20));
        let before = cpu_time::ThreadTime::now().as_duration();
        let after_pause = start();
        assert!(
            after_pause <= cpu_time::ThreadTime::now().as_duration() && after_pause >= before,
            "{after_pause:?}"
        );
    }

    #[test]
    fn spinning_is_measured() {
        let start = start();
        spin(Duration::from_millis(20));
        let measured = end() - start;
        assert!(measured >= Duration::from_millis(10), "{measured:?}");
    }
}
