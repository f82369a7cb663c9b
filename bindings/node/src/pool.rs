//! The threads casts and loads run on.
//!
//! Why not the libuv pool (napi's `AsyncTask`): it has 4 threads by default, shared with
//! `fs`, `dns` and `crypto`. A cast blocks its thread while a JS hook or host function runs; if
//! that JS code awaits `fs` (or another cast) and every libuv thread holds such a cast, nothing
//! can make progress: a deadlock. Here a job takes an idle thread or starts a new one, so a cast
//! never waits for a thread another cast holds. Threads exit after [`IDLE_TIMEOUT`] without
//! work; how many casts run at once is bounded by the runtime (`maxConcurrentCasts`, then
//! `busy` after `queueTimeoutMs`), exactly as in Rust. Each thread keeps the runtime's
//! per-thread executor, so a warm cast starts no thread and builds no executor.

use crate::errors::Failure;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, JsValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long an idle thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Idle threads, each with the sender of its own job channel.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Runs `job` on an idle thread, or on a new one when none is idle.
pub(crate) fn run(job: Job) -> std::io::Result<()> {
    let mut job = job;
    let mut idle = idle();
    // A thread in the list is waiting on its channel; sending under the lock is what lets a
    // thread that timed out tell whether it was handed a job (see `worker`).
    while let Some((_, tx)) = idle.pop() {
        match tx.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    drop(idle);
    let (tx, rx) = mpsc::channel();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("spell-cast".into())
        .spawn(move || worker(id, job, &tx, &rx))?;
    Ok(())
}

fn worker(id: u64, first: Job, tx: &Sender<Job>, rx: &mpsc::Receiver<Job>) {
    let mut job = first;
    loop {
        job();
        idle().push((id, tx.clone()));
        job = match rx.recv_timeout(IDLE_TIMEOUT) {
            Ok(next) => next,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = idle();
                match idle.iter().position(|(i, _)| *i == id) {
                    Some(at) => {
                        idle.swap_remove(at);
                        return;
                    }
                    // Not listed any more: `run` took this thread and sent it a job under the lock.
                    None => match rx.recv() {
                        Ok(next) => next,
                        Err(_) => return,
                    },
                }
            }
        };
    }
}

fn idle() -> MutexGuard<'static, Vec<(u64, Sender<Job>)>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` on a cast thread and returns a promise that `finish` settles on the JS thread
/// with its result, success or not (so it can release what the call holds on the JS side). A
/// panic in `work` counts as the Rust API's `cast_setup` failure instead of leaving the
/// promise pending.
pub(crate) fn promise<'env, T, D>(
    env: &'env Env,
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
    finish: impl FnOnce(&Env, Result<T, Failure>) -> Result<D, Failure> + Send + 'static,
) -> napi::Result<PromiseRaw<'env, D>>
where
    T: Send + 'static,
    D: ToNapiValue + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    run(Box::new(move || {
        let panicked = || {
            Failure::of(&spell_runtime::Error::Setup(
                "the cast thread panicked".into(),
            ))
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(panicked()));
        deferred.resolve(move |env: Env| finish(&env, result).map_err(|f| f.throw(&env)));
    }))
    .map_err(|e| {
        Failure::of(&spell_runtime::Error::Setup(format!(
            "could not start a cast thread: {e}"
        )))
        .throw(env)
    })?;
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}

/// A promise already rejected with `failure` (bad arguments to an async method).
pub(crate) fn rejected<'env, D>(
    env: &'env Env,
    failure: Failure,
) -> napi::Result<PromiseRaw<'env, D>> {
    let error = failure.into_js(env);
    let promise = PromiseRaw::<()>::reject(env, error)?;
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}
