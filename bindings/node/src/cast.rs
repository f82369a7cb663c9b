//! From JS cast options to a Rust `CastRequest`, and from its outcome to a `CastResult`.

use crate::convert::{bytes, optional_from_js, whole_opt};
use crate::errors::Failure;
use crate::ledger::LedgerMeter;
use crate::meter::{JsMeter, UsageLog};
use crate::outcome::{CastResult, ToJson, to_js_value};
use crate::output::{OnOutput, OutputRelay};
use napi::bindgen_prelude::{
    ClassInstance, Either, Either3, FnArgs, Function, FunctionRef, JsObjectValue, Object,
    ObjectRef, Uint8Array, Unknown,
};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use spell_core::Access;
use spell_runtime::{CancelHandle, CastOutcome, CastRequest, MeteringHook};
use std::collections::HashMap;
use std::sync::Arc;

/// What to cast with. By default: no arguments beyond `argv[0]` (the spell's name), no
/// environment, empty stdin, no mounts, the grant's limits, the runtime's meter.
#[napi(object, object_to_js = false)]
pub struct CastOptions<'env> {
    /// Arguments after `argv[0]`.
    pub args: Option<Vec<String>>,
    /// Environment variables; every name must be granted.
    pub env: Option<HashMap<String, String>>,
    /// The guest's stdin (a string is sent as UTF-8).
    pub stdin: Option<Either<String, Uint8Array>>,
    /// Host directories shown at granted guest paths.
    pub mounts: Option<Vec<Mount>>,
    /// Lower limits for this cast (asking above the grant is refused).
    pub limits: Option<Limits>,
    /// Metering hooks for this cast, instead of the runtime's: JS hooks, a `LedgerMeter` or a
    /// `UsageLog`.
    #[napi(ts_type = "Meter | LedgerMeter | UsageLog")]
    pub meter: Option<
        Either3<ClassInstance<'env, LedgerMeter>, ClassInstance<'env, UsageLog>, Object<'env>>,
    >,
    /// Aborting it cancels the cast, which then ends `cancelled` (at once if it is already
    /// aborted), with its usage recorded as always.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Object<'env>>,
    /// Call this export (a function without parameters) instead of the entrypoint.
    pub export: Option<String>,
    /// Join this W3C trace (`00-<trace id>-<span id>-<flags>`): the usage names it
    /// (`traceId`) and the spell's outbound requests carry a child `traceparent`. A malformed
    /// value refuses the cast (`E-POL-004`).
    pub traceparent: Option<String>,
    /// The W3C `tracestate` passed on with `traceparent`.
    pub tracestate: Option<String>,
    /// Called with each chunk of the guest's stdout and stderr (within the output limit) as it
    /// is written, on the JS thread; every chunk arrives before the cast's promise settles. A
    /// throw becomes the cast's `hookError` (hook `onOutput`); the cast goes on.
    #[napi(ts_type = "(stream: 'stdout' | 'stderr', chunk: Uint8Array) => unknown")]
    pub on_output: Option<OnOutput<'env>>,
}

/// A host directory shown to the guest.
#[napi(object, object_to_js = false)]
pub struct Mount {
    /// The host directory.
    pub host: String,
    /// The guest path; must be granted.
    pub guest: String,
    /// `ro` (the default) or `rw` (only where granted read-write).
    #[napi(ts_type = "'ro' | 'rw'")]
    pub access: Option<String>,
}

/// Per-cast limits; each may only lower the spell's grant.
#[napi(object, object_to_js = false)]
pub struct Limits {
    /// Linear memories plus tables, bytes.
    pub memory_bytes: Option<f64>,
    /// Fuel units.
    pub fuel: Option<f64>,
    /// Wall-clock milliseconds.
    pub wall_time_ms: Option<f64>,
    /// stdout plus stderr bytes.
    pub output_bytes: Option<f64>,
    /// Outbound requests.
    pub net_requests: Option<f64>,
    /// Network bytes, in plus out.
    pub net_bytes: Option<f64>,
    /// Descriptors the spell may hold open at once.
    pub open_files: Option<f64>,
    /// Bytes written to files (holes and growth by truncation included).
    pub disk_write_bytes: Option<f64>,
}

/// The cast options as `index.js` passes them: the options object, then its properties in the
/// order of `CastOptions`'s fields. JS reads a property in a few instructions (V8 caches where
/// each object keeps it); N-API looks each of the eleven names up as a new V8 string, which cost
/// about 12,000 instructions a cast (callgrind).
pub(crate) fn options_from_fields<'env>(
    options: Unknown<'env>,
    [
        args,
        env,
        stdin,
        mounts,
        limits,
        meter,
        signal,
        export,
        traceparent,
        tracestate,
        on_output,
    ]: [Unknown<'env>; 11],
) -> Result<Option<CastOptions<'env>>, Failure> {
    match options.get_type() {
        Ok(ValueType::Undefined | ValueType::Null) => return Ok(None),
        Ok(ValueType::Object) => {}
        _ => return Err(Failure::invalid("cast options: expected an object")),
    }
    Ok(Some(CastOptions {
        args: optional_from_js(args, "cast options: args")?,
        env: optional_from_js(env, "cast options: env")?,
        stdin: optional_from_js(stdin, "cast options: stdin")?,
        mounts: optional_from_js(mounts, "cast options: mounts")?,
        limits: optional_from_js(limits, "cast options: limits")?,
        meter: optional_from_js(meter, "cast options: meter")?,
        signal: optional_from_js(signal, "cast options: signal")?,
        export: optional_from_js(export, "cast options: export")?,
        traceparent: optional_from_js(traceparent, "cast options: traceparent")?,
        tracestate: optional_from_js(tracestate, "cast options: tracestate")?,
        on_output: optional_from_js(on_output, "cast options: onOutput")?,
    }))
}

/// A request ready to cast, with what the JS side must release when it ends.
pub(crate) struct Prepared {
    pub(crate) request: CastRequest,
    /// Whether a JS hook runs during the cast (its own meter or the runtime's): then the JS
    /// thread must stay free while it runs.
    pub(crate) js_hooks: bool,
    pub(crate) abort: Option<AbortLink>,
    pub(crate) output: Option<Arc<OutputRelay>>,
}

/// Builds the request on the JS thread. The signal is wired last, so a refusal leaves no listener.
pub(crate) fn prepare(
    env: &Env,
    options: Option<CastOptions<'_>>,
    runtime_js_meter: bool,
) -> Result<Prepared, Failure> {
    let mut request = CastRequest::new();
    let Some(o) = options else {
        return Ok(Prepared {
            request,
            js_hooks: runtime_js_meter,
            abort: None,
            output: None,
        });
    };
    request = request.args(o.args.unwrap_or_default());
    let mut vars: Vec<(String, String)> = o.env.unwrap_or_default().into_iter().collect();
    vars.sort();
    for (k, v) in vars {
        request = request.env(k, v);
    }
    if let Some(stdin) = o.stdin {
        request = request.stdin(bytes(stdin));
    }
    for m in o.mounts.unwrap_or_default() {
        let access = match m.access.as_deref() {
            None | Some("ro") => Access::Ro,
            Some("rw") => Access::Rw,
            Some(other) => {
                return Err(Failure::invalid(format!(
                    "mount {}: access must be 'ro' or 'rw', got '{other}'",
                    m.guest
                )));
            }
        };
        request = request.mount(m.host, m.guest, access);
    }
    if let Some(l) = o.limits {
        request = request.limits(spell_core::Limits {
            memory_bytes: whole_opt(l.memory_bytes, "limits.memoryBytes")?,
            fuel: whole_opt(l.fuel, "limits.fuel")?,
            wall_time_ms: whole_opt(l.wall_time_ms, "limits.wallTimeMs")?,
            output_bytes: whole_opt(l.output_bytes, "limits.outputBytes")?,
            net_requests: whole_opt(l.net_requests, "limits.netRequests")?,
            net_bytes: whole_opt(l.net_bytes, "limits.netBytes")?,
            open_files: whole_opt(l.open_files, "limits.openFiles")?,
            disk_write_bytes: whole_opt(l.disk_write_bytes, "limits.diskWriteBytes")?,
        });
    }
    if let Some(export) = o.export {
        request = request.export(export);
    }
    if let Some(tp) = o.traceparent {
        request = request.traceparent(tp);
    }
    if let Some(ts) = o.tracestate {
        request = request.tracestate(ts);
    }
    let output = match o.on_output {
        Some(f) => {
            let relay = OutputRelay::new(env, &f).map_err(|e| Failure::invalid(e.reason))?;
            request = request.on_output(relay.callback());
            Some(relay)
        }
        None => None,
    };
    // Without a meter of its own, the cast gets the runtime's.
    let (meter, js_hooks): (Option<Arc<dyn MeteringHook>>, bool) = match o.meter {
        Some(Either3::A(ledger)) => (Some(ledger.inner.clone()), false),
        Some(Either3::B(log)) => (Some(log.inner.clone()), false),
        Some(Either3::C(hooks)) => (
            Some(Arc::new(
                JsMeter::from_js(&hooks).map_err(Failure::invalid)?,
            )),
            true,
        ),
        None => (None, runtime_js_meter),
    };
    if let Some(m) = meter {
        request = request.meter(m);
    }
    let cancel = CancelHandle::new();
    request = request.cancel(cancel.clone());
    let abort = match o.signal {
        Some(signal) => AbortLink::attach(env, &signal, cancel)
            .map_err(|e| Failure::invalid(format!("signal: {}", e.reason)))?,
        None => None,
    };
    Ok(Prepared {
        request,
        js_hooks,
        abort,
        output,
    })
}

/// On the JS thread, once the cast ended or failed to start: detaches the signal, delivers the
/// last output, and builds the result, with the runtime's hook failure or else the first throw of
/// `onOutput` (which runs on the JS thread, out of the runtime's sight) as `hookError`.
pub(crate) fn finish(
    env: &Env,
    outcome: Result<CastOutcome, Failure>,
    abort: Option<AbortLink>,
    output: Option<Arc<OutputRelay>>,
) -> Result<CastResult, Failure> {
    let output_failure = output.and_then(|relay| relay.finish(env));
    if let Some(abort) = abort {
        // The cast is over either way: a signal that cannot be detached only keeps a no-op listener.
        let _ = abort.detach(env);
    }
    let o = outcome?;
    let failure = o.hook_error.or(output_failure);
    Ok(CastResult {
        outcome: o.outcome.into(),
        exit_code: o.exit_code,
        trap: o.trap.map(|t| t.as_str().into()),
        detail: o.detail,
        returned: o.returned.iter().map(to_js_value).collect(),
        stdout: o.stdout,
        stderr: o.stderr,
        usage: (&o.usage).into(),
        hook_error: failure.map(|h| Failure::hook(&h).into_js(env)),
        denial_code: o.denial_code.map(|c| c.code().to_string()),
        to_json: ToJson,
    })
}

type Listener = FunctionRef<(), ()>;
type EventTargetMethod<'env> = Function<'env, FnArgs<(&'static str, Unknown<'env>)>, Unknown<'env>>;

/// An `abort` listener on the cast's signal that cancels it.
pub(crate) struct AbortLink {
    signal: ObjectRef<false>,
    listener: Listener,
}

impl AbortLink {
    /// Cancels at once if `signal` is already aborted; otherwise listens for `abort`.
    fn attach(
        env: &Env,
        signal: &Object<'_>,
        cancel: CancelHandle,
    ) -> napi::Result<Option<AbortLink>> {
        if signal.get_named_property::<bool>("aborted")? {
            cancel.cancel();
            return Ok(None);
        }
        let listener =
            env.create_function_from_closure::<(), (), _>("cancelSpellCast", move |_| {
                cancel.cancel();
                Ok(())
            })?;
        let add: EventTargetMethod<'_> = signal.get_named_property("addEventListener")?;
        add.apply(signal, FnArgs::from(("abort", listener.to_unknown())))?;
        Ok(Some(AbortLink {
            signal: signal.create_ref()?,
            listener: listener.create_ref()?,
        }))
    }

    fn detach(self, env: &Env) -> napi::Result<()> {
        let signal = self.signal.get_value(env)?;
        let listener = self.listener.borrow_back(env)?;
        let remove: EventTargetMethod<'_> = signal.get_named_property("removeEventListener")?;
        let removed = remove.apply(signal, FnArgs::from(("abort", listener.to_unknown())));
        self.signal.unref(env)?;
        removed.map(|_| ())
    }
}
