//! A cast's CPU time (`cpu_ns`), from the thread CPU clock, read as rarely as the measure allows.
//!
//! Reading a running thread's CPU clock is a system call that locks the kernel's run queue
//! (0.55-0.7 µs in this project's VMs): one a cast was still a third of a trivial cast's cost,
//! and two were once half of it. The wall clock is read from the vDSO, without one. Two facts
//! let it stand in:
//!
//! - **At a measure's start**, when the thread read its CPU clock a moment ago (casts or polls
//!   following one another on a thread): its CPU time cannot have grown by more than the wall
//!   time since, so that reading plus the wall time is never earlier than the true start, and
//!   the measure never exceeds the true CPU time; it falls short by the time the thread spent
//!   off the CPU in that gap, which is shorter than [`REUSE_WITHIN`].
//! - **At its end**, when the thread ran unbroken since the start ([`unbroken`]: the kernel
//!   proves it switched the thread out for nothing, not even a signal): it was on the CPU all
//!   along, so the start plus the wall time is the end. It can exceed the true CPU time only by
//!   time a hypervisor took from the whole virtual CPU (steal time, which the kernel leaves out
//!   of a thread's CPU time and cannot tell a thread about), so only measures shorter than
//!   [`UNBROKEN_WITHIN`] are taken this way. Longer ones, broken ones, and threads without the
//!   kernel's proof (no glibc restartable sequences) read the clock.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How recent the thread's last reading must be to stand in for a new one: it bounds what a
/// measure can fall short by (when the thread was descheduled in the gap).
const REUSE_WITHIN: Duration = Duration::from_micros(50);

/// How short an unbroken measure must be to be its wall time: it bounds what a measure can
/// exceed the thread's CPU time by (steal time in a virtual machine).
const UNBROKEN_WITHIN: Duration = Duration::from_micros(20);

thread_local! {
    /// The thread's last CPU clock reading, and a wall-clock instant taken just before it.
    static LAST: Cell<Option<(Duration, Instant)>> = const { Cell::new(None) };
    /// The open measure's start and its wall-clock instant, when [`unbroken`] watches it.
    static WATCHED: Cell<Option<(Duration, Instant)>> = const { Cell::new(None) };
}

/// The thread's CPU time at the start of a measure: a reading, or the thread's last reading
/// plus the wall time since it when that is recent.
pub(crate) fn start() -> Duration {
    start_at(Instant::now())
}

/// [`start`], given the wall clock read just now.
pub(crate) fn start_at(now: Instant) -> Duration {
    let cpu = match LAST.get() {
        Some((cpu, at)) if now.duration_since(at) < REUSE_WITHIN => cpu + now.duration_since(at),
        _ => read(now),
    };
    WATCHED.set(unbroken::watch().then_some((cpu, now)));
    cpu
}

/// The thread's CPU time at the end of a measure (and a start for the next one): the start
/// plus the wall time when the thread ran unbroken and briefly since, a reading otherwise.
pub(crate) fn end() -> Duration {
    end_at(Instant::now())
}

/// [`end`], given the wall clock read just now.
pub(crate) fn end_at(now: Instant) -> Duration {
    match WATCHED.take() {
        Some((cpu, at)) if now.duration_since(at) < UNBROKEN_WITHIN && unbroken::still() => {
            let cpu = cpu + now.duration_since(at);
            LAST.set(Some((cpu, now)));
            cpu
        }
        _ => read(now),
    }
}

/// Reads the thread CPU clock; `at` is taken before the read, so the reading is no earlier
/// than `at` and a stand-in computed from it errs towards later.
fn read(at: Instant) -> Duration {
    let cpu = cpu_time::ThreadTime::now().as_duration();
    LAST.set(Some((cpu, at)));
    cpu
}

/// Whether the thread has run without a break since [`watch`], from the kernel's restartable
/// sequences (rseq), which glibc 2.35+ registers for every thread: a thread names the critical
/// section it is in by a pointer in its rseq area, and the kernel sets that pointer to null
/// "when it is preempting or delivering a signal outside of the range targeted by the rseq_cs"
/// (`linux/rseq.h`); glibc documents storing one as the area's intended use. `watch` stores a
/// section of no instructions, which the thread can never be inside: the pointer is still there
/// only if the thread was never switched out (preempted, blocked or migrated) nor signalled.
///
/// x86-64 with glibc only, where the signature the kernel checks before a section's abort
/// address is glibc's `RSEQ_SIG`; elsewhere `watch` returns false and the clock is read.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[expect(
    unsafe_code,
    reason = "the thread pointer, glibc's symbols and the rseq area have no safe interface"
)]
mod unbroken {
    use std::sync::OnceLock;

    /// `struct rseq_cs` of `linux/rseq.h`.
    #[repr(C, align(32))]
    struct Section {
        version: u32,
        flags: u32,
        start_ip: u64,
        post_commit_offset: u64,
        abort_ip: u64,
    }

    /// glibc's `RSEQ_SIG` on x86-64, then the address the empty section names as its start
    /// and abort address: the kernel rejects a section (and kills the thread with `SIGSEGV`)
    /// unless the 4 bytes before its abort address are the signature the thread registered.
    static SIGNED: [u32; 2] = [0x5305_3053, 0];

    /// The process's empty section, and the offset of the rseq area from the thread pointer
    /// (`None` when glibc registered none: older than 2.35, or turned off by its tunable).
    fn setup() -> Option<&'static (Section, isize)> {
        static SETUP: OnceLock<Option<(Section, isize)>> = OnceLock::new();
        SETUP
            .get_or_init(|| {
                // SAFETY: `dlsym` with a NUL-terminated name; glibc defines these as a
                // `ptrdiff_t` and an `unsigned int`, which stay the same for the process's life.
                let (offset, size) = unsafe {
                    let offset = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr());
                    let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr());
                    if offset.is_null() || size.is_null() {
                        return None;
                    }
                    (*offset.cast::<isize>(), *size.cast::<u32>())
                };
                // 20 bytes: `cpu_id_start`, `cpu_id`, `rseq_cs` and `flags`; 0 when glibc's
                // registration failed or was turned off.
                let signed = std::ptr::addr_of!(SIGNED[1]) as u64;
                (size >= 20).then_some((
                    Section {
                        version: 0,
                        flags: 0,
                        start_ip: signed,
                        post_commit_offset: 0,
                        abort_ip: signed,
                    },
                    offset,
                ))
            })
            .as_ref()
    }

    /// This thread's rseq area's `rseq_cs` field, if it has a registered area, and the address
    /// of the empty section.
    fn area() -> Option<(*mut u64, u64)> {
        let (section, offset) = setup()?;
        let thread: usize;
        // SAFETY: on x86-64 glibc keeps the thread pointer at `fs:0`; reading it has no effects.
        unsafe {
            std::arch::asm!("mov {}, fs:0", out(reg) thread, options(nostack, readonly, preserves_flags))
        };
        let base = thread.wrapping_add_signed(*offset) as *mut u8;
        // SAFETY: glibc's rseq area of this thread, at `__rseq_offset` from its thread
        // pointer, 4-byte `cpu_id` at 4 and 8-byte `rseq_cs` at 8, aligned (the area is
        // 32-byte aligned) and alive as long as the thread.
        let (cpu_id, pointer) = unsafe { (base.add(4).cast::<i32>(), base.add(8).cast::<u64>()) };
        // A negative `cpu_id` is glibc's "uninitialized" or "registration failed".
        // SAFETY: as above; the kernel writes the field asynchronously, hence volatile.
        let registered = unsafe { cpu_id.read_volatile() } >= 0;
        registered.then_some((pointer, std::ptr::from_ref(section) as u64))
    }

    /// Starts watching: stores the empty section in this thread's rseq area. False when the
    /// thread has none.
    pub(super) fn watch() -> bool {
        match area() {
            Some((pointer, section)) => {
                // SAFETY: this thread's own rseq area (see `area`); the section is a valid
                // `struct rseq_cs` in static memory, as the kernel requires of any it is given.
                unsafe { pointer.write_volatile(section) };
                true
            }
            None => false,
        }
    }

    /// Whether the section `watch` stored is still there: the thread ran without a break.
    pub(super) fn still() -> bool {
        match area() {
            // SAFETY: this thread's own rseq area (see `area`).
            Some((pointer, section)) => (unsafe { pointer.read_volatile() }) == section,
            None => false,
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64")))]
mod unbroken {
    /// No proof on this platform: every measure reads the clock at its end.
    pub(super) fn watch() -> bool {
        false
    }

    pub(super) fn still() -> bool {
        false
    }
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

    /// A measure the thread sleeps through, however short, counts none of the sleep.
    #[test]
    fn time_off_the_cpu_is_not_measured() {
        for _ in 0..100 {
            let truth = cpu_time::ThreadTime::now();
            let start = start();
            std::thread::yield_now();
            std::thread::sleep(Duration::from_micros(1));
            let measured = end().saturating_sub(start);
            assert!(measured <= truth.elapsed(), "{measured:?} > {truth:?}");
        }
    }

    /// Where glibc registers restartable sequences (this project's Linux machines), the kernel
    /// proves an unbroken run, and a sleep breaks it.
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
    #[test]
    fn the_kernel_tells_an_unbroken_run_from_a_broken_one() {
        assert!(
            unbroken::watch(),
            "glibc registered no rseq area for this thread"
        );
        std::thread::sleep(Duration::from_micros(1));
        assert!(!unbroken::still(), "a sleep is a break");
        // A preemption in a few microseconds is rare but possible on a busy machine: one of
        // ten tries suffices.
        let unbroken = (0..10).any(|_| {
            unbroken::watch();
            spin(Duration::from_micros(2));
            unbroken::still()
        });
        assert!(unbroken, "ten short spins, each broken");
    }
}
