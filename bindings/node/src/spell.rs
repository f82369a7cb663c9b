//! `Spell`: a loaded spell, cast any number of times, concurrently.

use crate::cast::{AbortLink, Prepared, finish, options_from_fields, prepare};
use crate::errors::Failure;
use crate::outcome::CastResult;
use crate::pool::{promise, rejected};
use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsDeferred, JsValue};
use napi_derive::napi;
use spell_runtime::CastOutcome;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A verified, compiled spell, ready to cast.
#[napi]
pub struct Spell {
    inner: spell_runtime::Spell,
    /// Whether the runtime's meter (for casts that name none) is written in JS.
    js_meter: bool,
}

impl Spell {
    pub(crate) fn new(inner: spell_runtime::Spell, js_meter: bool) -> Spell {
        Spell { inner, js_meter }
    }
}

#[napi]
impl Spell {
    /// sha256 of the spell's `spell.json`, hex.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        self.inner.digest().to_hex()
    }

    /// The spell's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The spell's version.
    #[napi(getter)]
    pub fn version(&self) -> String {
        self.inner.version().to_string()
    }

    /// The export a cast calls unless it names another.
    #[napi(getter)]
    pub fn entrypoint(&self) -> String {
        self.inner.entrypoint().to_string()
    }

    /// What the spell may use, as Python's `Spell.grant` gives it: `env`, `mounts`, `network`,
    /// `host_functions` and `limits`, with the Rust names.
    #[napi(getter, ts_return_type = "Record<string, unknown>")]
    pub fn grant(&self) -> napi::Result<serde_json::Value> {
        serde_json::to_value(self.inner.grant())
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Casts the spell on a thread of its own; the event loop stays free.
    ///
    /// Resolves with the outcome whenever the cast started, however it ended (limits, traps,
    /// cancellation, denial). Rejects with a `SpellError` only when it could not start: invalid
    /// options (`E-RUN-006`), a request beyond the grant (`E-POL-004`), `busy` (`E-RUN-001`),
    /// setup (`E-RUN-005`).
    // `index.js` calls this with the options object followed by its properties, in the order
    // of `CastOptions`'s fields (see `options_from_fields`).
    #[napi(ts_args_type = "options?: CastOptions")]
    // `allow`, not `expect`: napi's macro emits the function twice, and only one copy lints.
    #[allow(
        clippy::too_many_arguments,
        reason = "the options' properties, read in JS where that is cheap"
    )]
    pub fn cast<'env>(
        &self,
        env: &'env Env,
        options: Unknown<'env>,
        args: Unknown<'env>,
        vars: Unknown<'env>,
        stdin: Unknown<'env>,
        mounts: Unknown<'env>,
        limits: Unknown<'env>,
        meter: Unknown<'env>,
        signal: Unknown<'env>,
        export: Unknown<'env>,
        traceparent: Unknown<'env>,
        tracestate: Unknown<'env>,
        on_output: Unknown<'env>,
    ) -> napi::Result<PromiseRaw<'env, CastResult>> {
        let fields = [
            args,
            vars,
            stdin,
            mounts,
            limits,
            meter,
            signal,
            export,
            traceparent,
            tracestate,
            on_output,
        ];
        let Prepared {
            request,
            js_hooks,
            abort,
            output,
        } = match options_from_fields(options, fields).and_then(|o| prepare(env, o, self.js_meter))
        {
            Ok(prepared) => prepared,
            Err(f) => return rejected(env, f),
        };
        let spell = self.inner.clone();
        // A cast whose meter or host functions are JS needs this thread free while it runs; one
        // with `onOutput` too, so its output reaches JS while it runs.
        if js_hooks || output.is_some() || !spell.grant().host_functions.is_empty() {
            return promise(
                env,
                move || spell.cast(request).map_err(|e| Failure::of(&e)),
                move |env, outcome| finish(env, outcome, abort, output),
            );
        }
        // Otherwise it starts here: most casts end within the budget and resolve at once,
        // without a thread hop or a turn of the event loop; the rest finish in the runtime's
        // pool and settle through a deferred.
        let slot = Arc::new(Mutex::new(Slot::Running));
        let late = slot.clone();
        let finished = spell.cast_eager(request, EAGER_BUDGET, move |result| {
            let mut slot = lock(&late);
            match std::mem::replace(&mut *slot, Slot::Settled) {
                Slot::Waiting(deferred, abort) => settle(deferred, result, abort),
                _ => *slot = Slot::Finished(Box::new(result)),
            }
        });
        if let Some(result) = finished {
            return match finish(env, result.map_err(|e| Failure::of(&e)), abort, None) {
                Ok(r) => PromiseRaw::resolve(env, r),
                Err(f) => rejected(env, f),
            };
        }
        let (deferred, promise) = env.create_deferred()?;
        let mut slot = lock(&slot);
        match std::mem::replace(&mut *slot, Slot::Settled) {
            Slot::Finished(result) => settle(deferred, *result, abort),
            _ => *slot = Slot::Waiting(deferred, abort),
        }
        Ok(PromiseRaw::new(env.raw(), promise.raw()))
    }
}

/// How long a cast may run on the JS thread before it moves to the runtime's pool: the most a
/// cast holds the event loop.
const EAGER_BUDGET: Duration = Duration::from_micros(250);

type Resolver = Box<dyn FnOnce(Env) -> napi::Result<CastResult> + Send>;

/// Where a cast that moved to the pool meets its promise: whichever comes second, the outcome
/// or the deferred, settles it.
enum Slot {
    Running,
    Finished(Box<Result<CastOutcome, spell_runtime::Error>>),
    Waiting(JsDeferred<CastResult, Resolver>, Option<AbortLink>),
    Settled,
}

fn settle(
    deferred: JsDeferred<CastResult, Resolver>,
    result: Result<CastOutcome, spell_runtime::Error>,
    abort: Option<AbortLink>,
) {
    deferred.resolve(Box::new(move |env: Env| {
        finish(&env, result.map_err(|e| Failure::of(&e)), abort, None).map_err(|f| f.throw(&env))
    }));
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}
