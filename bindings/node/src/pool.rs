//! Promises settled by work on the runtime's cast threads (`spell_runtime::pool`).
//!
//! Why not the libuv pool (napi's `AsyncTask`): it has 4 threads by default, shared with
//! `fs`, `dns` and `crypto`. A cast blocks its thread while a JS hook or host function runs; if
//! that JS code awaits `fs` (or another cast) and every libuv thread holds such a cast, nothing
//! can make progress: a deadlock. The runtime's pool gives each job an idle thread or a new
//! one, so a cast never waits for a thread another cast holds.

use crate::errors::Failure;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, JsValue};

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
    spell_runtime::pool::run(move || {
        let panicked = || {
            Failure::of(&spell_runtime::Error::Setup(
                "the cast thread panicked".into(),
            ))
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(panicked()));
        deferred.resolve(move |env: Env| finish(&env, result).map_err(|f| f.throw(&env)));
    })
    .map_err(|e| Failure::of(&e).throw(env))?;
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
