//! The threads `cast_async` casts run on.
//!
//! A blocking cast needs a thread for as long as it runs, so casts awaited together each get
//! one and run in parallel. Threads are reused rather than started per cast: a new thread costs
//! its start and, in the runtime, a fresh per-thread executor, which is most of a short cast's
//! latency. A job goes to an idle thread when one is free (claimed atomically, so it never waits
//! behind another cast) and to a new thread otherwise; threads idle for [`IDLE_EXIT`] exit.

use crate::lock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long an idle thread waits for another cast before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Mutex<Sender<Job>>,
    queue: Arc<Mutex<Receiver<Job>>>,
    /// Threads waiting for a job that no caller has claimed.
    idle: Arc<AtomicUsize>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel();
        Pool {
            jobs: Mutex::new(tx),
            queue: Arc::new(Mutex::new(rx)),
            idle: Arc::default(),
        }
    })
}

/// Runs `job` on a thread of its own: an idle one, or a new one.
pub(crate) fn spawn(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let pool = pool();
    let claimed = pool
        .idle
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok();
    if !claimed {
        let (queue, idle) = (pool.queue.clone(), pool.idle.clone());
        std::thread::Builder::new()
            .name("spell-cast".into())
            .spawn(move || work(&queue, &idle))?;
    }
    // The receiver lives in the pool for the whole process, so sending cannot fail.
    let _ = lock(&pool.jobs).send(Box::new(job));
    Ok(())
}

/// A thread's life: run jobs; between them, count as idle until a job comes or [`IDLE_EXIT`]
/// passes with this thread still unclaimed.
fn work(queue: &Mutex<Receiver<Job>>, idle: &AtomicUsize) {
    loop {
        let next = lock(queue).recv_timeout(IDLE_EXIT);
        match next {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                // Leave only if no caller has claimed this idle thread meanwhile; otherwise its
                // job is on the way.
                if idle
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return;
                }
                continue;
            }
        }
        idle.fetch_add(1, Ordering::AcqRel);
    }
}
