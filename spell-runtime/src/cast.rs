//! One cast: the request, the sandbox it runs in, and the outcome with its usage record.

use crate::component::WasiP2;
use crate::error::Error;
use crate::fs_guard::FsGuard;
use crate::host::{HostFault, Val};
use crate::limits::{Deadline, MemoryLimiter, Tripwire};
use crate::metering::{CastContext, HookError, MeteringHook, Outcome, UsageRecord};
use crate::net::{HttpHooks, NetScope};
use crate::output::{OutputBudget, OutputCallback, OutputSink, Stream};
use crate::spell::{SpellInner, SpellPre};
use crate::trace::{self, TraceContext};
use crate::trap::TrapKind;
use spell_core::{Access, ErrorCode, Grant, HasCode, Limits};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;
use wasmtime::{CallHook, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// Cap on the bytes of arguments plus environment a cast passes: 1 MiB.
pub const MAX_ARGS_ENV_BYTES: usize = 1 << 20;

/// Fuel metering: the host takes stock of the fuel a guest burned (and the guest yields to the
/// executor) every this many units, unless an event loop drives the cast. Compiled code keeps
/// its fuel count in a register and writes it back only at calls, returns and these slice ends,
/// so a cast stopped between them (a timeout or cancellation inside a loop, a trap) reports at
/// most a slice less than it burned: here about a tenth of a millisecond of interpreter code. A
/// yield costs about a microsecond (a fiber switch each way), and a cast an executor polls reads
/// the thread CPU clock at each: at 100,000 units a micropython loop ran 16-18% slower than raw
/// wasmtime with fuel on its own thread and 27-43% through `cast_async`, at 10^6 9-10% both ways
/// (the rest is epoch checks).
pub(crate) const FUEL_SLICE: u64 = 1_000_000;

/// The fuel slice of a cast an event loop's thread polls first (`cast_eager`), which must get
/// its thread back within its budget (about 0.25 ms); [`FUEL_SLICE`] would hold it up to 1 ms.
pub(crate) const SHARED_FUEL_SLICE: u64 = 100_000;

/// What to cast with. By default: no arguments beyond `argv[0]` (the spell's name), no
/// environment, empty stdin, no mounts, the grant's limits, the runtime's metering hook.
///
/// ```
/// use spell_runtime::{CastRequest, CancelHandle};
/// let cancel = CancelHandle::new();
/// let request = CastRequest::new().arg("world").env("LANG", "C").stdin(b"input".to_vec()).cancel(cancel.clone());
/// cancel.cancel(); // from any thread: the cast ends as `cancelled`
/// # let _ = request;
/// ```
#[derive(Default, Clone)]
pub struct CastRequest {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    mounts: Vec<DirMount>,
    limits: Limits,
    meter: Option<Arc<dyn MeteringHook>>,
    pub(crate) cancel: Option<CancelHandle>,
    export: Option<String>,
    on_output: Option<OutputCallback>,
    traceparent: Option<String>,
    tracestate: Option<String>,
}

/// A host directory shown to the guest at a granted guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirMount {
    /// The host directory.
    pub host: PathBuf,
    /// The guest path; must be granted.
    pub guest: String,
    /// Read-only unless granted and asked read-write.
    pub access: Access,
}

impl CastRequest {
    /// An empty request.
    pub fn new() -> CastRequest {
        CastRequest::default()
    }

    /// Appends an argument (after `argv[0]`).
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args(mut self, a: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable; its name must be granted.
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The guest's stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Mounts a host directory at a granted guest path.
    pub fn mount(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        access: Access,
    ) -> Self {
        self.mounts.push(DirMount {
            host: host.into(),
            guest: guest.into(),
            access,
        });
        self
    }

    /// Lowers limits for this cast (raising above the grant is refused).
    pub fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }

    /// The metering hook for this cast (instead of the runtime's).
    pub fn meter(mut self, hook: Arc<dyn MeteringHook>) -> Self {
        self.meter = Some(hook);
        self
    }

    /// A handle another thread can use to cancel this cast.
    pub fn cancel(mut self, handle: CancelHandle) -> Self {
        self.cancel = Some(handle);
        self
    }

    /// Calls this export instead of the spell's entrypoint (a function without parameters; in a
    /// component, `name` at the top level or `interface#name` in an exported interface).
    pub fn export(mut self, name: impl Into<String>) -> Self {
        self.export = Some(name.into());
        self
    }

    /// Sees each captured chunk of stdout and stderr as it is written.
    pub fn on_output(mut self, callback: OutputCallback) -> Self {
        self.on_output = Some(callback);
        self
    }

    /// Joins the caller's W3C trace (`00-<trace id>-<parent span id>-<flags>`): the cast's span
    /// records the trace id, the usage record carries it (`trace_id`), and the spell's outbound
    /// requests send a child `traceparent` unless the policy's `[network]
    /// propagate_trace_context` is off. A malformed value refuses the cast (`E-POL-004`). Default:
    /// no trace.
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// The caller's W3C `tracestate`, passed on unchanged with the `traceparent` of outbound
    /// requests. Ignored without [`CastRequest::traceparent`].
    pub fn tracestate(mut self, tracestate: impl Into<String>) -> Self {
        self.tracestate = Some(tracestate.into());
        self
    }
}

/// Cancels a cast from another thread or task. Cancelling before the cast starts makes it end
/// at once as `cancelled`; a handle stays cancelled.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for CancelHandle {
    fn default() -> Self {
        CancelHandle {
            tx: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

impl CancelHandle {
    /// A handle that is not cancelled.
    pub fn new() -> CancelHandle {
        CancelHandle::default()
    }

    /// Cancels every cast using this handle.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }
}

/// How a cast ended, what it printed, and what it used.
#[derive(Debug, Clone)]
pub struct CastOutcome {
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code, when the guest exited (`_start` returning counts as 0).
    pub exit_code: Option<i32>,
    /// The trap kind for `trap` outcomes, e.g. `unreachable_code_reached`, `stack_overflow`,
    /// `host_error`.
    pub trap: Option<TrapKind>,
    /// A human-readable reason for every outcome but `ok` and `exit`.
    pub detail: Option<String>,
    /// What a named export returned.
    pub returned: Vec<Val>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// The usage record passed to the metering hook.
    pub usage: UsageRecord,
    /// The record hook's error if it failed, else the first failure of another hook, a host
    /// function or the output callback during the cast.
    pub hook_error: Option<HookError>,
    /// For `denied` outcomes, the catalog code the authorize hook gave (`E-BILL-001` when a
    /// ledger account cannot pay: the HTTP 402 case).
    pub denial_code: Option<ErrorCode>,
}

/// Per-cast host state, owned by the wasmtime store.
pub(crate) struct CastState {
    /// `None` for modules that import nothing from WASI: building the context is a tenth of a
    /// trivial cast.
    pub(crate) wasi: Option<WasiP1Ctx>,
    /// A component's WASI preview 2 context (`None` for modules). Boxed: inline, its 400 bytes
    /// were copied with the state of every module's cast too.
    pub(crate) p2: Option<Box<WasiP2>>,
    /// Holds the cast id too.
    pub(crate) tripwire: Arc<Tripwire>,
    pub(crate) net: NetUsage,
    /// What the `spell::http_request` import may reach and spend in this cast.
    pub(crate) net_scope: NetScope,
    /// For host calls that check it while they work (`random_get`).
    pub(crate) deadline: Deadline,
    /// Open descriptors and disk writes of the guest (`fs_guard.rs`).
    pub(crate) fs: FsGuard,
    limiter: MemoryLimiter,
}

/// Network use of a cast, counted by the host on the guest's behalf.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NetUsage {
    pub(crate) requests: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
}

thread_local! {
    static EXECUTOR: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
}

/// Runs a cast future to completion on this thread's executor.
pub(crate) fn block_on<T>(fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    // Pinned before the closure, which then captures a reference: the future is not moved again.
    let mut fut = std::pin::pin!(fut);
    EXECUTOR.with(|rt| {
        let Some(rt) = rt else {
            return Err(Error::Setup(
                "could not start a tokio runtime on this thread".into(),
            ));
        };
        match poll_first(rt, fut.as_mut()) {
            std::task::Poll::Ready(done) => done,
            std::task::Poll::Pending => rt.block_on(fut),
        }
    })
}

/// Polls a cast once in `rt`'s context (its timers and reactor) with a waker that does nothing:
/// most casts never wait (no timer fires, no fiber yields), and such a cast ends here without
/// the scheduler's set-up around each poll (about 3,000 instructions, an eighth of a trivial
/// cast). One that waits is then handed to the scheduler, which polls it again with its own
/// waker (a future must accept a new waker on every poll).
pub(crate) fn poll_first<F: Future>(
    rt: &tokio::runtime::Runtime,
    fut: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    let _context = rt.enter();
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// How a cast is driven, which decides how its CPU time (`cpu_ns`) is measured (the thread CPU
/// clock costs a system call per read, so it is read as rarely as the driving allows, and
/// `cpu_clock.rs` spares most of those reads) and how often a fuel-metered guest yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driven {
    /// On the calling thread from start to end (`Spell::cast`, `Spell::cast_interruptible`): the
    /// thread's CPU time over the cast.
    OnThread,
    /// By an executor that may move it between threads and runs other tasks between polls
    /// (`Spell::cast_async`): each poll is measured. A poll holds its thread for a fuel slice
    /// (about 0.1 ms of interpreter code) or an epoch tick at most.
    Executor,
    /// First on an event loop's thread within a budget, then by the pool (`Spell::cast_eager`):
    /// each poll is measured, and the guest yields every [`SHARED_FUEL_SLICE`].
    EventLoop,
}

impl Driven {
    fn fuel_slice(self) -> u64 {
        match self {
            Driven::OnThread | Driven::Executor => FUEL_SLICE,
            Driven::EventLoop => SHARED_FUEL_SLICE,
        }
    }
}

/// Runs a cast: see [`crate::Spell::cast`]. Refusals before it starts are counted in the
/// metrics; a cast that starts is in the `cast` span with its usage recorded on it.
pub(crate) async fn run(
    spell: &SpellInner,
    req: CastRequest,
    driven: Driven,
) -> Result<CastOutcome, Error> {
    use tracing::field::Empty;
    let span = tracing::info_span!(
        "cast",
        spell = %spell.name,
        version = %spell.version,
        cast_id = Empty,
        trace_id = Empty,
        span_id = Empty,
        parent_span_id = Empty,
        outcome = Empty,
        trap = Empty,
        exit_code = Empty,
        fuel = Empty,
        wall_ns = Empty,
        cpu_ns = Empty,
        memory_peak_bytes = Empty,
        net_requests = Empty,
        net_bytes_in = Empty,
        net_bytes_out = Empty,
    );
    // Boxed: every enclosing future holds its inner futures inline, and each is moved (copied
    // whole) as the one around it starts; unboxed, this one made the cast a 40 KB future
    // copied several times a cast. The box is allocated first so the future is built in it:
    // `Box::pin(cast(..))` built it on the stack and copied all 3.8 KB.
    let outcome = Box::into_pin(Box::write(
        Box::new_uninit(),
        cast(spell, req, driven, &span),
    ))
    .instrument(span.clone())
    .await;
    match &outcome {
        Ok(o) => record_on(&span, o),
        Err(e) => {
            let _entered = span.enter();
            tracing::info!(code = e.code().code(), "cast refused: {e}");
        }
    }
    spell.runtime.counted("cast", outcome)
}

/// The usage record's fields on the cast span, for subscribers and exporters.
fn record_on(span: &tracing::Span, o: &CastOutcome) {
    let u = &o.usage;
    span.record("cast_id", u.cast_id.as_str());
    span.record("outcome", o.outcome.as_str());
    if let Some(trap) = &o.trap {
        span.record("trap", trap.as_str());
    }
    if let Some(code) = o.exit_code {
        span.record("exit_code", code);
    }
    if let Some(fuel) = u.fuel {
        span.record("fuel", fuel);
    }
    span.record("wall_ns", u.wall_ns);
    span.record("cpu_ns", u.cpu_ns);
    span.record("memory_peak_bytes", u.memory_peak_bytes);
    span.record("net_requests", u.net_requests);
    span.record("net_bytes_in", u.net_bytes_in);
    span.record("net_bytes_out", u.net_bytes_out);
}

async fn cast(
    spell: &SpellInner,
    req: CastRequest,
    driven: Driven,
    span: &tracing::Span,
) -> Result<CastOutcome, Error> {
    if let Some(standing) = &spell.standing {
        standing.check(spell)?;
    }
    let limits = spell
        .grant
        .limits
        .lowered_by(&req.limits)
        .map_err(Error::RequestDenied)?;
    check_request(&spell.grant, &req)?;
    let trace = match &req.traceparent {
        Some(tp) => Some(Arc::new(
            TraceContext::parse(tp, req.tracestate.as_deref())
                .map_err(|e| Error::RequestDenied(vec![e]))?,
        )),
        None => None,
    };
    // Only for a subscriber: no span id is drawn when nobody records it.
    if let Some(t) = trace.as_ref().filter(|_| !span.is_disabled()) {
        span.record("trace_id", t.trace_id.as_str());
        span.record("span_id", trace::span_id().as_str());
        span.record("parent_span_id", t.parent_id.as_str());
    }
    // The entrypoint was checked at load; another export is checked here.
    let export = match req.export.as_deref() {
        None => spell.entrypoint.as_str(),
        Some(export) if spell.pre.callable(export) => export,
        Some(export) => {
            return Err(Error::Setup(format!(
                "`{export}` is not an exported function without parameters"
            )));
        }
    };
    let rt = &spell.runtime.inner;
    // A free slot is taken at once: no timer, and no clock read for a wait that did not happen
    // (the vDSO clock costs tens of nanoseconds a read in a VM).
    let mut started = Instant::now();
    let (slot, waited) = match rt.slots.clone().try_acquire_owned() {
        Ok(slot) => (slot, Duration::ZERO),
        Err(_) => {
            let slot =
                tokio::time::timeout(rt.config.queue_timeout, rt.slots.clone().acquire_owned())
                    .instrument(tracing::info_span!("queue"))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .ok_or(Error::Busy {
                        in_flight: rt.config.max_concurrent_casts,
                        waited_ms: rt.config.queue_timeout.as_millis() as u64,
                    })?;
            let queued = started;
            started = Instant::now();
            (slot, started - queued)
        }
    };
    let _in_flight = rt.metrics.as_ref().map(|m| m.started(waited));
    let _running = rt.ticker.running();

    let meter = req
        .meter
        .clone()
        .unwrap_or_else(|| rt.default_meter.clone());
    let tripwire = Tripwire::new(cast_id(), meter.clone());
    let budget = OutputBudget::new(limits.output_bytes, tripwire.clone(), req.on_output.clone());
    let stdout = OutputSink::new(Stream::Stdout, budget.clone());
    let stderr = OutputSink::new(Stream::Stderr, budget);
    let (wasi, p2) = match &spell.pre {
        SpellPre::Component(_) => {
            let b = wasi_builder(&spell.name, &req, stdout.clone(), stderr.clone())?;
            (None, Some(b))
        }
        SpellPre::Module(_) if spell.imports_wasi => {
            let mut b = wasi_builder(&spell.name, &req, stdout.clone(), stderr.clone())?;
            (Some(b.build_p1()), None)
        }
        SpellPre::Module(_) => (None, None),
    };

    // Its strings are copied at the end, after the store has handed its allocations back: made
    // here, they would stay live beside the sandbox's and push its small allocations out of the
    // allocator's per-thread cache.
    let mut usage = UsageRecord {
        started_at_ms: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        trace_id: trace.as_ref().map(|t| t.trace_id.clone()),
        ..UsageRecord::default()
    };
    let ctx = CastContext {
        cast_id: tripwire.cast_id(),
        spell_digest: &spell.digest_hex,
        spell_name: &spell.name,
        spell_version: &spell.version,
        limits,
    };
    let mut denial_code = None;
    let mut end = match meter.authorize(&ctx) {
        Err(denied) => {
            denial_code = denied.code;
            if let Some(failure) = denied.failure {
                tripwire.fail(failure);
            }
            Ended::new(Outcome::Denied, Some(denied.reason))
        }
        Ok(allowance) => {
            let fuel_metered = rt.config.metering == crate::Metering::Fuel;
            let fuel = allowance
                .max_fuel
                .map_or(limits.fuel, |a| a.min(limits.fuel));
            let wall_ms = allowance
                .max_wall_time_ms
                .map_or(limits.wall_time_ms, |a| a.min(limits.wall_time_ms));
            let deadline = Deadline::new(
                started + Duration::from_millis(wall_ms),
                wall_ms,
                wall_ms < limits.wall_time_ms,
                req.cancel.clone(),
                tripwire.clone(),
            );
            let net_scope = NetScope::new(spell.net.clone(), &limits, deadline.at, trace);
            let p2 = p2.map(|b| {
                let http = HttpHooks::new(net_scope.clone(), tripwire.clone());
                Box::new(WasiP2::new(b, limits.open_files, http))
            });
            let state = CastState {
                wasi,
                p2,
                tripwire: tripwire.clone(),
                net: NetUsage::default(),
                net_scope,
                deadline: deadline.clone(),
                fs: FsGuard::new(
                    &limits,
                    req.mounts.iter().any(|m| m.access == Access::Rw),
                    tripwire.clone(),
                ),
                limiter: MemoryLimiter::new(limits.memory_bytes, rt.grow_bounds, tripwire.clone()),
            };
            let mut store = Store::new(&rt.engine, state);
            store.limiter(|s| &mut s.limiter);
            if rt.config.wasi_p3 {
                store.set_max_component_handles(crate::component::P3_MAX_HANDLES);
            }
            if fuel_metered {
                // Only fail when fuel or async is not enabled, which `fuel_metered` and the
                // engine's configuration rule out.
                let _ = store.set_fuel(fuel);
                let _ = store.fuel_async_yield_interval(Some(driven.fuel_slice()));
            }
            arm_deadline(&mut store);
            let mut cpu = Duration::ZERO;
            let (result, ended) =
                supervise(&mut store, &spell.pre, export, &deadline, driven, &mut cpu).await;
            if result.is_some() && ended >= deadline.at {
                // It finished, but after its deadline (a host call that ran long): a timeout.
                let _ = deadline.check_at(ended);
            }
            let end = classify(
                result,
                &tripwire,
                fuel,
                fuel < limits.fuel,
                export == "_start",
            );
            let state = store.data_mut();
            if let Some(p2) = &state.p2 {
                p2.http.settle(&mut state.net);
            }
            let state = store.data();
            usage.memory_peak_bytes = state.limiter.peak();
            usage.net_requests = state.net.requests;
            usage.net_bytes_in = state.net.bytes_in;
            usage.net_bytes_out = state.net.bytes_out;
            usage.disk_bytes_written = state.fs.disk.written();
            usage.cpu_ns = cpu.as_nanos() as u64;
            if fuel_metered {
                usage.fuel = Some(fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
            }
            if usage.memory_peak_bytes >= crate::reaper::REAP_BYTES {
                rt.reaper.drop_later(Box::new((store, slot)));
            }
            end
        }
    };
    usage.wall_ns = started.elapsed().as_nanos() as u64;
    let stdout = stdout.take();
    let stderr = stderr.take();
    usage.stdout_bytes = stdout.len() as u64;
    usage.stderr_bytes = stderr.len() as u64;
    usage.outcome = end.outcome;
    usage.exit_code = end.exit_code;
    usage.cast_id = tripwire.cast_id().to_owned();
    usage.spell_digest = spell.digest_hex.clone();
    usage.spell_name = spell.name.clone();
    let recorded = tracing::info_span!("settle").in_scope(|| meter.record(&usage));
    // A record failure comes first whatever failed before: the host must retry storing it.
    let hook_error = recorded.err().or_else(|| tripwire.failure());
    if let (Some(m), Some(s)) = (&rt.metrics, &spell.metrics) {
        m.ended(s, &usage);
    }
    Ok(CastOutcome {
        outcome: end.outcome,
        exit_code: end.exit_code,
        trap: end.trap.take(),
        detail: end.detail.take(),
        returned: std::mem::take(&mut end.returned),
        stdout,
        stderr,
        usage,
        hook_error,
        denial_code,
    })
}

/// The end of a cast before usage is attached.
struct Ended {
    outcome: Outcome,
    exit_code: Option<i32>,
    trap: Option<TrapKind>,
    detail: Option<String>,
    returned: Vec<Val>,
}

impl Ended {
    fn new(outcome: Outcome, detail: Option<String>) -> Ended {
        Ended {
            outcome,
            exit_code: None,
            trap: None,
            detail,
            returned: Vec::new(),
        }
    }
}

/// A fresh cast id: 32 hex digits of a random `u128`. Encoded into a buffer, not through
/// `hex::encode`'s character iterator (a seventh of its instructions, a tenth of the
/// formatter's).
fn cast_id() -> String {
    let mut digits = [0u8; 32];
    // The buffer is exactly twice the 16 bytes: encoding cannot fail, nor produce non-ASCII.
    // (`from_utf8` checks 32 ASCII bytes a word at a time; `from_utf8_lossy` took 250
    // instructions.)
    let _ = hex::encode_to_slice(rand::random::<u128>().to_be_bytes(), &mut digits);
    std::str::from_utf8(&digits).unwrap_or_default().to_owned()
}

/// Checks the request against the grant and what the spell can be given; every problem is
/// listed.
fn check_request(grant: &Grant, req: &CastRequest) -> Result<(), Error> {
    let mut problems = Vec::new();
    for (k, _) in &req.env {
        if !grant.env.contains(k) {
            problems.push(format!("env `{k}` is not granted"));
        }
    }
    for m in &req.mounts {
        match grant.mounts.iter().find(|g| g.guest == m.guest) {
            None => problems.push(format!("mount `{}` is not granted", m.guest)),
            Some(g) if g.access < m.access => {
                problems.push(format!("mount `{}` is granted read-only", m.guest))
            }
            Some(_) => {}
        }
    }
    let size: usize = req.args.iter().map(String::len).sum::<usize>()
        + req
            .env
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if size > MAX_ARGS_ENV_BYTES {
        problems.push(format!(
            "arguments and environment are {size} bytes, over {MAX_ARGS_ENV_BYTES}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::RequestDenied(problems))
    }
}

impl CastState {
    /// The WASI context, for the linker's WASI functions: they are only called by modules that
    /// import WASI, which always have one; anything else gets an empty context, not a panic.
    pub(crate) fn wasi(&mut self) -> &mut WasiP1Ctx {
        self.wasi
            .get_or_insert_with(|| WasiCtxBuilder::new().build_p1())
    }
}

/// The WASI context of a cast, for either preview: `argv[0]` the spell's name, the request's
/// arguments, environment and stdin, the captured stdout and stderr, the mounts.
fn wasi_builder(
    name: &str,
    req: &CastRequest,
    stdout: OutputSink,
    stderr: OutputSink,
) -> Result<WasiCtxBuilder, Error> {
    let mut b = WasiCtxBuilder::new();
    b.arg(name).args(&req.args).stdout(stdout).stderr(stderr);
    // Without input the builder's own stdin (at its end from the start) is the same, and
    // allocates nothing.
    if !req.stdin.is_empty() {
        b.stdin(MemoryInputPipe::new(req.stdin.clone()));
    }
    for (k, v) in &req.env {
        b.env(k, v);
    }
    for m in &req.mounts {
        let perms = if m.access == Access::Rw {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&m.host, &m.guest, perms).map_err(|e| {
            Error::Setup(format!("mount {} at {}: {e:#}", m.host.display(), m.guest))
        })?;
    }
    Ok(b)
}

/// Where the deadline and the cancel handle are checked while the guest runs: every epoch tick
/// (the guest yields to the executor otherwise) and whenever a host call returns, so a host call
/// that ran long (a slow host function, a blocked output callback) cannot carry the guest past
/// its deadline. The callbacks read the deadline from the store: capturing nothing, wasmtime's
/// boxes of them allocate nothing.
fn arm_deadline(store: &mut Store<CastState>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|s| s.data().deadline.check().map(|()| UpdateDeadline::Yield(1)));
    store.call_hook(|s, hook| match hook {
        CallHook::ReturningFromHost => s.data().deadline.check(),
        _ => Ok(()),
    });
}

/// Runs the guest, racing it against the deadline and the cancel handle so that a guest blocked
/// inside a host call (a long `poll_oneoff` sleep) is stopped too; each time the guest yields
/// (an epoch tick, a fuel slice) the deadline is checked as well. Adds the CPU time spent on it
/// to `cpu`. Returns when it ended, and `None` for a cast that was stopped. One clock reading
/// serves the deadline and the CPU clock at each end.
async fn supervise(
    store: &mut Store<CastState>,
    pre: &SpellPre,
    export: &str,
    deadline: &Deadline,
    driven: Driven,
    cpu: &mut Duration,
) -> (Option<wasmtime::Result<Vec<Val>>>, Instant) {
    let now = Instant::now();
    if deadline.check_at(now).is_err() {
        return (None, now);
    }
    // The start as a plain `Duration`: `ThreadTime` is `!Send`, and holding one across the
    // awaits below would make `Spell::cast_async` unusable on a multi-threaded executor.
    let whole = (driven == Driven::OnThread).then(|| crate::cpu_clock::start_at(now));
    let per_poll = (driven != Driven::OnThread).then_some(&mut *cpu);
    let mut cancel = deadline.cancel.as_ref().map(|c| c.tx.subscribe());
    let result = {
        // Pinned here and raced by reference: moved into the select or `guarded`, the futures
        // would be copied whole.
        let call = std::pin::pin!(call(store, pre, export));
        let guest = std::pin::pin!(guarded(call, deadline, per_poll));
        tokio::select! {
            // The guest first: a cast that ends on its first poll never arms the timer.
            biased;
            r = guest => r,
            // Either trips the cast; `check` names which.
            _ = tokio::time::sleep_until(deadline.at.into()) => {
                let _ = deadline.check();
                None
            }
            () = cancelled(cancel.as_mut()) => {
                let _ = deadline.check();
                None
            }
            () = deadline.tripwire.tripped() => None,
        }
    };
    let now = Instant::now();
    if let Some(start) = whole {
        *cpu += crate::cpu_clock::end_at(now).saturating_sub(start);
    }
    (result, now)
}

/// Resolves once the cancel handle `cancel` watches is cancelled; never without one.
async fn cancelled(cancel: Option<&mut tokio::sync::watch::Receiver<bool>>) {
    match cancel {
        Some(rx) => {
            // An error means the handle is gone, which the deadline's own clone rules out.
            let _ = rx.wait_for(|c| *c).await;
        }
        None => std::future::pending().await,
    }
}

async fn call(
    store: &mut Store<CastState>,
    pre: &SpellPre,
    export: &str,
) -> wasmtime::Result<Vec<Val>> {
    let pre = match pre {
        SpellPre::Module(pre) => pre,
        SpellPre::Component(pre) => return pre.call(store, export).await,
    };
    let instance = pre
        .instantiate_async(&mut *store)
        .instrument(tracing::info_span!("instantiate"))
        .await?;
    let func = instance
        .get_func(&mut *store, export)
        .ok_or_else(|| wasmtime::format_err!("export `{export}` is not a function"))?;
    let n = func.ty(&*store).results().len();
    let mut results = vec![wasmtime::Val::I32(0); n];
    func.call_async(&mut *store, &[], &mut results)
        .instrument(tracing::info_span!("run", export))
        .await?;
    Ok(results.iter().filter_map(Val::from_wasm).collect())
}

/// Polls the guest, adding the thread CPU time of each poll to `cpu` if given; stops it (`None`)
/// when it yields past its deadline or after a cancellation.
async fn guarded<F: Future>(
    mut fut: std::pin::Pin<&mut F>,
    deadline: &Deadline,
    mut cpu: Option<&mut Duration>,
) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        let r = match cpu.as_deref_mut() {
            Some(cpu) => {
                let start = crate::cpu_clock::start();
                let r = fut.as_mut().poll(cx);
                *cpu += crate::cpu_clock::end().saturating_sub(start);
                r
            }
            None => fut.as_mut().poll(cx),
        };
        match r {
            std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
            std::task::Poll::Pending if deadline.check().is_err() => std::task::Poll::Ready(None),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

fn classify(
    result: Option<wasmtime::Result<Vec<Val>>>,
    tripwire: &Tripwire,
    fuel: u64,
    allowance_bound: bool,
    command: bool,
) -> Ended {
    if let Some(stop) = tripwire.reason() {
        return Ended::new(stop.outcome(), Some(stop.to_string()));
    }
    let err = match result {
        Some(Ok(returned)) => {
            return Ended {
                exit_code: command.then_some(0),
                returned,
                ..Ended::new(Outcome::Ok, None)
            };
        }
        Some(Err(e)) => e,
        // Unreachable: `supervise` trips the tripwire before returning `None`.
        None => return Ended::new(Outcome::Cancelled, None),
    };
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        let outcome = if exit.0 == 0 {
            Outcome::Ok
        } else {
            Outcome::Exit
        };
        return Ended {
            exit_code: Some(exit.0),
            ..Ended::new(outcome, None)
        };
    }
    if let Some(fault) = err.downcast_ref::<HostFault>() {
        return Ended {
            trap: Some(TrapKind::HostError),
            ..Ended::new(Outcome::Trap, Some(fault.to_string()))
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            let why = if allowance_bound {
                "the authorize hook's fuel allowance"
            } else {
                "the fuel limit"
            };
            Ended::new(
                Outcome::OutOfFuel,
                Some(format!("{why} of {fuel} is used up")),
            )
        }
        Some(trap) => Ended {
            trap: Some(TrapKind::of(*trap)),
            ..Ended::new(Outcome::Trap, Some(format!("{err:#}")))
        },
        None => Ended {
            trap: Some(TrapKind::HostError),
            ..Ended::new(Outcome::Trap, Some(format!("{err:#}")))
        },
    }
}
