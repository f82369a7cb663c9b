//! Cast threads for hosts whose own threads should not run a cast: one pool for every binding.
//!
//! A job takes an idle thread or starts a new one, so a cast never waits for a thread another
//! cast holds (a cast blocks its thread while a host's hook or host function runs; if that code
//! waits for another cast, a fixed-size pool could deadlock). Threads exit after the idle
//! timeout ([`set_idle_timeout`], 10 s by default), so a burst does not keep its threads for
//! good; how many casts run at once stays bounded by the runtime (`max_concurrent_casts`, then
//! `busy`). Each thread keeps its executor between jobs, so a warm cast starts no thread and
//! builds no executor. Node runs its casts and loads here; the C ABI's `spell_cast_on_pool`
//! (used by Go, whose callbacks may not run on threads Go made) blocks its caller on one.
//!
//! [`Spell::cast_interruptible`] is the other half: a blocking cast on the caller's own thread
//! that lets the host handle signals while it runs (Python's Ctrl-C).

use crate::cast::{CastOutcome, CastRequest};
use crate::error::Error;
use crate::spell::Spell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// One value handed from one thread to another: an idle thread's next job, a pooled cast's
/// outcome. A mutex and a condition variable rather than a channel: a channel's receiver spins
/// and yields before it sleeps, which on a small machine takes CPU from the casts in flight
/// (measured from Go: 50 µs a pooled cast against 32 µs).
struct Slot<T> {
    value: Mutex<Option<T>>,
    given: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            value: Mutex::new(None),
            given: Condvar::new(),
        })
    }

    fn give(&self, value: T) {
        *lock(&self.value) = Some(value);
        self.given.notify_one();
    }

    /// The value, once given; `None` when `timeout` passes first.
    fn take_within(&self, timeout: Duration) -> Option<T> {
        let (mut value, _) = self
            .given
            .wait_timeout_while(lock(&self.value), timeout, |v| v.is_none())
            .unwrap_or_else(|e| e.into_inner());
        value.take()
    }

    /// The value, once given.
    fn take(&self) -> Option<T> {
        let mut value = self
            .given
            .wait_while(lock(&self.value), |v| v.is_none())
            .unwrap_or_else(|e| e.into_inner());
        value.take()
    }
}

/// Idle threads, each with the slot its next job comes in.
static IDLE: Mutex<Vec<(u64, Arc<Slot<Job>>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// How long an idle thread waits for work before it exits, milliseconds.
static IDLE_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

/// Sets how long an idle cast thread waits for work before it exits (at least 1 ms); threads
/// already waiting keep the timeout they started with.
pub fn set_idle_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    IDLE_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// Runs `job` on an idle cast thread, or on a new one when none is idle. `Err` only when no
/// thread could be started (the job is dropped).
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// spell_runtime::pool::run(move || { let _ = tx.send(std::thread::current().name().map(String::from)); })?;
/// assert_eq!(rx.recv()?.as_deref(), Some("spell-cast"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(job: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    let job: Job = Box::new(job);
    let mut idle = idle();
    if let Some((_, slot)) = idle.pop() {
        // Given under the list's lock: a thread that timed out takes the lock, and finds
        // itself listed (then exits) or its job given (then runs it); see `worker`.
        slot.give(job);
        return Ok(());
    }
    drop(idle);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("spell-cast".into())
        .spawn(move || worker(id, job))
        .map(drop)
        .map_err(|e| Error::Setup(format!("could not start a cast thread: {e}")))
}

fn worker(id: u64, first: Job) {
    let slot = Slot::new();
    let mut job = first;
    loop {
        job();
        idle().push((id, slot.clone()));
        let timeout = Duration::from_millis(IDLE_TIMEOUT_MS.load(Ordering::Relaxed));
        job = match slot.take_within(timeout) {
            Some(next) => next,
            None => {
                let mut idle = idle();
                match idle.iter().position(|(i, _)| *i == id) {
                    Some(at) => {
                        idle.swap_remove(at);
                        return;
                    }
                    // Not listed any more: `run` took this thread and gave it a job under the
                    // list's lock, which this thread now holds.
                    None => match lock(&slot.value).take() {
                        Some(next) => next,
                        None => return,
                    },
                }
            }
        };
    }
}

fn idle() -> MutexGuard<'static, Vec<(u64, Arc<Slot<Job>>)>> {
    lock(&IDLE)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Spell {
    /// [`Spell::cast`] on a cast thread of the [`pool`](crate::pool), blocking the caller until
    /// it ends: for hosts whose callbacks may not run on the calling thread (Go's, which must
    /// run on a thread Go did not make). A panic on the cast thread is `cast_setup`.
    pub fn cast_on_pool(&self, request: CastRequest) -> Result<CastOutcome, Error> {
        let done = Slot::new();
        let (spell, finished) = (self.clone(), done.clone());
        run(move || {
            let cast =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| spell.cast(request)));
            finished.give(cast.unwrap_or_else(|_| Err(panicked())));
        })?;
        done.take().unwrap_or_else(|| Err(panicked()))
    }

    /// [`Spell::cast`] on this thread that calls `interrupted` every `every` while the cast runs.
    /// When it returns something (a signal handler raised), the cast is cancelled and that comes
    /// back beside the outcome (`cancelled`, its usage recorded like any other) once the cast
    /// has ended. For hosts that handle signals on the casting thread: Python's Ctrl-C. Called
    /// inside an async executor, it is a plain [`Spell::cast`] and never calls `interrupted`.
    pub fn cast_interruptible<E>(
        &self,
        mut request: CastRequest,
        every: Duration,
        mut interrupted: impl FnMut() -> Option<E>,
    ) -> (Result<CastOutcome, Error>, Option<E>) {
        if tokio::runtime::Handle::try_current().is_ok() {
            return (self.cast(request), None);
        }
        let cancel = request.cancel.get_or_insert_with(Default::default).clone();
        let mut raised = None;
        let outcome = crate::cast::block_on(async {
            // Driven on this thread to its end, as `Spell::cast`: its slice and CPU clock (the
            // checks of `interrupted` between its polls, microseconds every `every`, count in).
            let mut cast = Box::pin(self.cast_on_this_thread(request));
            loop {
                tokio::select! {
                    outcome = &mut cast => return outcome,
                    () = tokio::time::sleep(every), if raised.is_none() => {
                        raised = interrupted();
                        if raised.is_some() {
                            cancel.cancel();
                        }
                    }
                }
            }
        });
        (outcome, raised)
    }
}

fn panicked() -> Error {
    Error::Setup("the cast thread panicked".into())
}
