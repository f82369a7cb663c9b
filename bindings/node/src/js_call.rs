//! Calling JS functions (hooks, host functions) from cast threads.
//!
//! The Rust hooks are synchronous: `authorize` must return its allowance before the guest runs,
//! a host function its results before the guest continues. So a cast thread queues the call on
//! the JS thread through a threadsafe function and then waits on a channel of its own for the
//! answer. Three rules keep that free of deadlocks:
//!
//! - The queueing call is non-blocking (the queue is unbounded), so a cast thread never waits
//!   for queue space the JS thread would have to free.
//! - The JS thread never waits for a cast: casts and loads return promises, there is no
//!   synchronous cast, and a cast thread waits only while the JS thread is free to answer it.
//!   (`HostCall.read`/`write` do block the JS thread, but only for a memory copy the cast thread
//!   serves while it waits for the host function: see `host_function.rs`.)
//! - Each cast has a thread of its own (`pool.rs`), so JS code that awaits another cast, or
//!   libuv work, from inside a hook still makes progress.
//!
//! A hook may return a value or a promise; a throw, a rejection, or an answer of the wrong shape
//! all become an error message for the caller, never an uncaught exception. If the JS
//! environment shuts down first, the wait ends with an error instead of hanging.

use napi::bindgen_prelude::{CallbackContext, Function, JsValuesTupleIntoVec, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// How often a waiting cast thread checks that the JS environment is still there.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// A JS function callable from any thread with arguments `A`. Weak: it does not keep Node
/// running (a pending cast's promise does).
pub(crate) type JsFunction<A> = ThreadsafeFunction<A, Unknown<'static>, A, Status, false, true>;

/// Wraps `f` (on the JS thread) for calls from cast threads.
pub(crate) fn threadsafe<A: JsValuesTupleIntoVec + 'static>(
    f: &Function<'_, A, Unknown<'static>>,
) -> napi::Result<JsFunction<A>> {
    f.build_threadsafe_function::<A>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| Ok(ctx.value))
}

/// Queues a call of `f` with `args`; `read` turns its settled value into `R` on the JS thread
/// and `deliver` gets the outcome, exactly once. `false` when the environment is shutting down.
pub(crate) fn call<A, R>(
    f: &JsFunction<A>,
    args: A,
    read: impl FnOnce(&Env, Unknown<'static>) -> napi::Result<R> + 'static,
    deliver: impl Fn(Result<R, String>) + Clone + 'static,
) -> bool
where
    A: JsValuesTupleIntoVec + 'static,
    R: 'static,
{
    let status = f.call_with_return_value(
        args,
        ThreadsafeFunctionCallMode::NonBlocking,
        move |returned, env| {
            settle(&env, returned, read, deliver);
            // An `Err` here would be thrown into Node as a fatal exception: every failure was delivered.
            Ok(())
        },
    );
    status == Status::Ok
}

/// Calls `f` and waits for its answer.
pub(crate) fn call_and_wait<A, R>(
    f: &JsFunction<A>,
    args: A,
    read: impl FnOnce(&Env, Unknown<'static>) -> napi::Result<R> + 'static,
) -> Result<R, String>
where
    A: JsValuesTupleIntoVec + 'static,
    R: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    if !call(f, args, read, move |r| {
        let _ = tx.send(r);
    }) {
        return Err(SHUTTING_DOWN.into());
    }
    wait(f, &rx).unwrap_or_else(|| Err(SHUTTING_DOWN.into()))
}

/// Waits for a message about a call of `f`; `None` once the JS environment is gone.
pub(crate) fn wait<A: JsValuesTupleIntoVec + 'static, M>(
    f: &JsFunction<A>,
    rx: &Receiver<M>,
) -> Option<M> {
    loop {
        match rx.recv_timeout(LIVENESS_CHECK) {
            Ok(m) => return Some(m),
            Err(RecvTimeoutError::Timeout) if !f.aborted() => {}
            Err(_) => return None,
        }
    }
}

pub(crate) const SHUTTING_DOWN: &str = "the JS environment is shutting down";

/// On the JS thread: reads a returned value, or waits for a returned promise to settle.
fn settle<R: 'static>(
    env: &Env,
    returned: napi::Result<Unknown<'static>>,
    read: impl FnOnce(&Env, Unknown<'static>) -> napi::Result<R> + 'static,
    deliver: impl Fn(Result<R, String>) + Clone + 'static,
) {
    let value = match returned {
        Ok(value) => value,
        Err(thrown) => return deliver(Err(thrown.reason)),
    };
    if !value.is_promise().unwrap_or(false) {
        return deliver(read(env, value).map_err(|e| e.reason));
    }
    let promise = PromiseRaw::<Unknown<'static>>::new(env.raw(), value.raw());
    let on_value = deliver.clone();
    let on_reason = deliver.clone();
    let chained = promise
        .then(move |ctx: CallbackContext<Unknown<'static>>| {
            on_value(read(&ctx.env, ctx.value).map_err(|e| e.reason));
            Ok(())
        })
        .and_then(|then| {
            then.catch(move |ctx: CallbackContext<Unknown<'static>>| {
                on_reason(Err(describe(ctx.value)));
                Ok(())
            })
        });
    if let Err(e) = chained {
        deliver(Err(e.reason));
    }
}

/// What a rejection reason says: an error's message, or the value as a string.
fn describe(reason: Unknown<'_>) -> String {
    let message = reason
        .is_error()
        .ok()
        .filter(|is| *is)
        .and_then(|_| reason.coerce_to_object().ok())
        .and_then(|o| {
            napi::bindgen_prelude::JsObjectValue::get_named_property::<String>(&o, "message").ok()
        });
    message.unwrap_or_else(|| {
        reason
            .coerce_to_string()
            .and_then(|s| s.into_utf8())
            .and_then(|s| s.into_owned())
            .unwrap_or_else(|_| "a value that is not a string".into())
    })
}
