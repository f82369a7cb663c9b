//! What a cast gives back to JS: its outcome, output, returned values and usage record.

use napi::bindgen_prelude::{
    BigInt, Buffer, Either, FnArgs, Function, FunctionRef, ToNapiValue, TypeName, Unknown,
};
use napi::{Env, JsError, JsValue, ValueType, sys};
use napi_derive::napi;
use spell_runtime::{UsageRecord, Val};
use std::cell::RefCell;

/// What the result factory takes: the cast result's fields, then its usage record's (whose
/// outcome and exit code are the result's own).
type ResultFields = FnArgs<(
    Outcome,
    Option<i32>,
    Option<String>,
    Option<String>,
    Vec<WasmValue>,
    Output,
    f64,
    Option<JsError>,
    Option<String>,
    String,
    String,
    String,
    Option<f64>,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    Option<String>,
)>;

type Factory = FunctionRef<ResultFields, Unknown<'static>>;

thread_local! {
    /// The cast-result factory of the JS environment on this thread, from `index.js`.
    static RESULT_FACTORY: RefCell<Option<Factory>> = const { RefCell::new(None) };
}

/// Registers the function that builds cast results: `index.js` defines it (an object literal,
/// with the shared `toJSON`) and calls this once when it loads the addon. V8 builds a literal for
/// a small fraction of what setting the same 28 properties one by one through N-API costs
/// (about 57,000 instructions a result under callgrind), and one call for all results keeps
/// `cast` unwrapped: no extra promise, no extra turn of the event loop.
#[cfg_attr(
    test,
    allow(
        dead_code,
        reason = "napi-derive registers exports only outside cfg(test)"
    )
)]
#[napi(skip_typescript)]
pub fn register_result_factory(
    factory: Function<ResultFields, Unknown<'static>>,
) -> napi::Result<()> {
    let factory = factory.create_ref()?;
    RESULT_FACTORY.with(|slot| *slot.borrow_mut() = Some(factory));
    Ok(())
}

/// The `toJSON` of a cast result, which `index.js`'s result factory sets.
pub struct ToJson;

impl TypeName for ToJson {
    fn type_name() -> &'static str {
        "Function"
    }

    fn value_type() -> ValueType {
        ValueType::Function
    }
}

/// How a cast ended.
#[napi(string_enum = "snake_case")]
pub enum Outcome {
    /// The guest exited with code 0 or its entrypoint returned.
    Ok,
    /// The guest exited with a non-zero code.
    Exit,
    /// The guest trapped (`trap` names the kind).
    Trap,
    /// The wall-time limit ended the cast.
    Timeout,
    /// The fuel limit (or the authorize hook's allowance) ended the cast.
    OutOfFuel,
    /// The memory limit ended the cast.
    MemoryLimit,
    /// The stdout plus stderr byte limit ended the cast.
    OutputLimit,
    /// A network byte limit ended the cast.
    NetworkLimit,
    /// The cast was cancelled (its `AbortSignal` aborted).
    Cancelled,
    /// The authorize hook refused the cast; nothing ran.
    Denied,
    /// The disk write limit ended the cast.
    DiskLimit,
}

impl From<spell_runtime::Outcome> for Outcome {
    fn from(o: spell_runtime::Outcome) -> Self {
        use spell_runtime::Outcome as O;
        match o {
            O::Ok => Outcome::Ok,
            O::Exit => Outcome::Exit,
            O::Trap => Outcome::Trap,
            O::Timeout => Outcome::Timeout,
            O::OutOfFuel => Outcome::OutOfFuel,
            O::MemoryLimit => Outcome::MemoryLimit,
            O::OutputLimit => Outcome::OutputLimit,
            O::NetworkLimit => Outcome::NetworkLimit,
            O::Cancelled => Outcome::Cancelled,
            O::Denied => Outcome::Denied,
            O::DiskLimit => Outcome::DiskLimit,
        }
    }
}

/// Everything one cast consumed: what billing is computed from. Field names are those of
/// `spell cast --json`, in camelCase.
#[napi(object, object_from_js = false)]
pub struct Usage {
    /// Unique id of the cast.
    pub cast_id: String,
    /// sha256 of the spell's `spell.json`.
    pub spell_digest: String,
    /// The spell's name.
    pub spell_name: String,
    /// How the cast ended.
    pub outcome: Outcome,
    /// The guest's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Fuel consumed (absent when the runtime meters by time).
    pub fuel: Option<f64>,
    /// Wall-clock time of the cast, nanoseconds.
    pub wall_ns: f64,
    /// CPU time of the thread running the guest, nanoseconds.
    pub cpu_ns: f64,
    /// Peak of linear memories plus tables, bytes.
    pub memory_peak_bytes: f64,
    /// Bytes the guest wrote to stdout (captured, up to the cap).
    pub stdout_bytes: f64,
    /// Bytes the guest wrote to stderr (captured, up to the cap).
    pub stderr_bytes: f64,
    /// Outbound requests made.
    pub net_requests: f64,
    /// Network bytes received.
    pub net_bytes_in: f64,
    /// Network bytes sent.
    pub net_bytes_out: f64,
    /// Bytes written to files, plus holes and growth by truncation.
    pub disk_bytes_written: f64,
    /// When the cast started, milliseconds since the Unix epoch.
    pub started_at_ms: f64,
    /// The W3C trace the cast joined (32 hex digits), when it was given a `traceparent`.
    pub trace_id: Option<String>,
}

impl From<&UsageRecord> for Usage {
    fn from(u: &UsageRecord) -> Self {
        Usage {
            cast_id: u.cast_id.clone(),
            spell_digest: u.spell_digest.clone(),
            spell_name: u.spell_name.clone(),
            outcome: u.outcome.into(),
            exit_code: u.exit_code,
            fuel: u.fuel.map(|f| f as f64),
            wall_ns: u.wall_ns as f64,
            cpu_ns: u.cpu_ns as f64,
            memory_peak_bytes: u.memory_peak_bytes as f64,
            stdout_bytes: u.stdout_bytes as f64,
            stderr_bytes: u.stderr_bytes as f64,
            net_requests: u.net_requests as f64,
            net_bytes_in: u.net_bytes_in as f64,
            net_bytes_out: u.net_bytes_out as f64,
            disk_bytes_written: u.disk_bytes_written as f64,
            started_at_ms: u.started_at_ms as f64,
            trace_id: u.trace_id.clone(),
        }
    }
}

/// How a cast ended, what it printed, and what it used.
// Made in JS by the factory `index.js` registers (see `register_result_factory`).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct CastResult {
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code, when the guest exited (`_start` returning counts as 0).
    pub exit_code: Option<i32>,
    /// The trap kind for `trap` outcomes: `unreachable_code_reached`, `host_error`, ...
    pub trap: Option<String>,
    /// Why, for every outcome but `ok` and `exit`.
    pub detail: Option<String>,
    /// What a named export returned: i64 as bigint, the other types as number.
    #[napi(ts_type = "Array<number | bigint>")]
    pub returned: Vec<WasmValue>,
    /// Captured stdout.
    #[napi(ts_type = "Buffer")]
    pub stdout: Vec<u8>,
    /// Captured stderr.
    #[napi(ts_type = "Buffer")]
    pub stderr: Vec<u8>,
    /// The usage record, as passed to the meter's `record`.
    pub usage: Usage,
    /// The first hook that failed during the cast (`code` `E-RUN-004`, `hook` names it).
    #[napi(ts_type = "SpellError")]
    pub hook_error: Option<JsError>,
    /// For `denied` casts, the catalog code the authorize hook gave, e.g. `E-BILL-001` when a
    /// ledger account cannot pay.
    pub denial_code: Option<String>,
    /// The JSON shape every binding shares (`spell cast --json`, Python's `to_dict`): the field
    /// names of `jsonFields()`, snake_case, absent values as null, stdout and stderr as text.
    #[napi(js_name = "toJSON", ts_type = "() => Record<string, unknown>")]
    pub to_json: ToJson,
}

#[expect(
    unsafe_code,
    reason = "napi-rs's conversion to JS is an unsafe trait method; it calls the stored factory"
)]
impl ToNapiValue for CastResult {
    unsafe fn to_napi_value(raw: sys::napi_env, r: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(raw);
        let u = r.usage;
        let stdout_len = r.stdout.len() as f64;
        let fields = FnArgs::from((
            r.outcome,
            r.exit_code,
            r.trap,
            r.detail,
            r.returned,
            Output(joined(r.stdout, r.stderr)),
            stdout_len,
            r.hook_error,
            r.denial_code,
            u.cast_id,
            u.spell_digest,
            u.spell_name,
            u.fuel,
            u.wall_ns,
            u.cpu_ns,
            u.memory_peak_bytes,
            u.stdout_bytes,
            u.stderr_bytes,
            u.net_requests,
            u.net_bytes_in,
            u.net_bytes_out,
            u.disk_bytes_written,
            u.started_at_ms,
            u.trace_id,
        ));
        RESULT_FACTORY.with(|slot| match slot.borrow().as_ref() {
            Some(factory) => Ok(factory.borrow_back(&env)?.call(fields)?.raw()),
            None => Err(napi::Error::from_reason(
                "cast results are built by index.js: load the package, not spell.node alone",
            )),
        })
    }
}

/// stdout followed by stderr: the factory makes both Buffers as views of one, which costs
/// less than a second Buffer from N-API (about 3,000 instructions, more for its finalizer).
fn joined(mut stdout: Vec<u8>, stderr: Vec<u8>) -> Vec<u8> {
    if stdout.is_empty() {
        return stderr;
    }
    stdout.extend_from_slice(&stderr);
    stdout
}

/// A cast's output as one JS Buffer: up to `COPY_LIMIT` bytes copied into a Buffer V8 owns,
/// past it handed over without a copy. A handed-over Buffer costs more to make (a backing store
/// with a deleter) and to collect: Node runs its finalizer on the JS thread after the GC, through
/// a wake-up of the event loop.
pub(crate) struct Output(Vec<u8>);

/// Output up to this size is copied: a copy (a few microseconds at most) costs less than a
/// finalizer run through the event loop. Past it the copy would grow with the output, which
/// is handed over instead. The crossover itself was not measured.
const COPY_LIMIT: usize = 64 << 10;

#[expect(
    unsafe_code,
    reason = "napi-rs's conversion to JS is an unsafe trait method; it makes a Buffer"
)]
impl ToNapiValue for Output {
    unsafe fn to_napi_value(env: sys::napi_env, output: Self) -> napi::Result<sys::napi_value> {
        let bytes = output.0;
        if bytes.len() > COPY_LIMIT {
            // SAFETY: `env` is the live environment this conversion was called with.
            return unsafe { Buffer::to_napi_value(env, Buffer::from(bytes)) };
        }
        let mut buffer = std::ptr::null_mut();
        // SAFETY: `bytes` is valid for its length for the duration of the call, which copies
        // it; `env` as above; `buffer` receives the new value.
        let status = unsafe {
            sys::napi_create_buffer_copy(
                env,
                bytes.len(),
                bytes.as_ptr().cast(),
                std::ptr::null_mut(),
                &mut buffer,
            )
        };
        napi::check_status!(status, "could not make the output Buffer")?;
        Ok(buffer)
    }
}

/// A WebAssembly value in JS: i64 as bigint, i32, f32 and f64 as number.
pub(crate) type WasmValue = Either<f64, BigInt>;

/// A Rust value as JS sees it.
pub(crate) fn to_js_value(v: &Val) -> WasmValue {
    match *v {
        Val::I32(i) => Either::A(f64::from(i)),
        Val::I64(i) => Either::B(BigInt::from(i)),
        Val::F32(f) => Either::A(f64::from(f)),
        Val::F64(f) => Either::A(f),
    }
}
