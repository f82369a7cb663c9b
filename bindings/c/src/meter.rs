//! Metering hooks as C callbacks (`spell_meter_t`), and what they see: the cast context, events
//! and the usage record (`spell_usage_t`, also read from outcomes). Mirrors
//! `spell_runtime::metering`: `authorize` before the cast, `observe` during it, `record` exactly
//! once after it.

#![expect(unsafe_code, reason = "calls C callbacks with views of Rust data")]

use crate::error::spell_error_t;
use crate::foreign::{ForeignEnv, spell_finalize_fn};
use crate::view::spell_str_t;
use spell_core::{EffectiveLimits, ErrorCode};
use spell_runtime::{
    Allowance, CastContext, Denied, Event, EventKind, HookError, MeteringHook, Outcome, UsageRecord,
};
use std::ffi::c_void;
use std::sync::Arc;

/// How a cast ended: one of the `SPELL_OUTCOME_*` constants.
pub type spell_outcome_kind_t = u8;
/// Exit code 0, or the entrypoint returned.
pub const SPELL_OUTCOME_OK: spell_outcome_kind_t = 0;
/// A non-zero exit code.
pub const SPELL_OUTCOME_EXIT: spell_outcome_kind_t = 1;
/// The guest trapped (`spell_outcome_trap` names the kind).
pub const SPELL_OUTCOME_TRAP: spell_outcome_kind_t = 2;
/// The wall-time limit ended the cast.
pub const SPELL_OUTCOME_TIMEOUT: spell_outcome_kind_t = 3;
/// The fuel limit (or the authorize hook's allowance) ended the cast.
pub const SPELL_OUTCOME_OUT_OF_FUEL: spell_outcome_kind_t = 4;
/// The memory limit ended the cast.
pub const SPELL_OUTCOME_MEMORY_LIMIT: spell_outcome_kind_t = 5;
/// The output limit ended the cast.
pub const SPELL_OUTCOME_OUTPUT_LIMIT: spell_outcome_kind_t = 6;
/// A network limit ended the cast.
pub const SPELL_OUTCOME_NETWORK_LIMIT: spell_outcome_kind_t = 7;
/// The host cancelled the cast.
pub const SPELL_OUTCOME_CANCELLED: spell_outcome_kind_t = 8;
/// The authorize hook refused the cast; nothing ran.
pub const SPELL_OUTCOME_DENIED: spell_outcome_kind_t = 9;
/// The disk write limit ended the cast.
pub const SPELL_OUTCOME_DISK_LIMIT: spell_outcome_kind_t = 10;

// The kinds are `Outcome as u8`: pin every one, so reordering `Outcome` cannot renumber the ABI.
const _: () = {
    assert!(Outcome::Ok as u8 == SPELL_OUTCOME_OK);
    assert!(Outcome::Exit as u8 == SPELL_OUTCOME_EXIT);
    assert!(Outcome::Trap as u8 == SPELL_OUTCOME_TRAP);
    assert!(Outcome::Timeout as u8 == SPELL_OUTCOME_TIMEOUT);
    assert!(Outcome::OutOfFuel as u8 == SPELL_OUTCOME_OUT_OF_FUEL);
    assert!(Outcome::MemoryLimit as u8 == SPELL_OUTCOME_MEMORY_LIMIT);
    assert!(Outcome::OutputLimit as u8 == SPELL_OUTCOME_OUTPUT_LIMIT);
    assert!(Outcome::NetworkLimit as u8 == SPELL_OUTCOME_NETWORK_LIMIT);
    assert!(Outcome::Cancelled as u8 == SPELL_OUTCOME_CANCELLED);
    assert!(Outcome::Denied as u8 == SPELL_OUTCOME_DENIED);
    assert!(Outcome::DiskLimit as u8 == SPELL_OUTCOME_DISK_LIMIT);
    assert!(Outcome::ALL.len() == 11);
};

/// Writes the snake_case name of an outcome kind (`"out_of_fuel"`, static) to `out`. Returns
/// false for an unknown kind.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_kind_name(
    kind: spell_outcome_kind_t,
    out: *mut spell_str_t,
) -> bool {
    crate::error::shield(false, || {
        let outcome = Outcome::ALL.get(usize::from(kind));
        // SAFETY: the caller's contract above.
        outcome.is_some_and(|o| unsafe { crate::view::write_view(out, o.as_str()) })
    })
}

/// Limits, in the units of `spell.json`. In a cast context all are set; in a request (see
/// `spell_request_limits`) 0 keeps the grant's value.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spell_limits_t {
    /// Linear memories plus tables, bytes.
    pub memory_bytes: u64,
    /// Fuel units.
    pub fuel: u64,
    /// Wall-clock milliseconds.
    pub wall_time_ms: u64,
    /// stdout plus stderr bytes.
    pub output_bytes: u64,
    /// Outbound requests.
    pub net_requests: u64,
    /// Network bytes, in plus out.
    pub net_bytes: u64,
    /// Descriptors the spell may hold open at once.
    pub open_files: u64,
    /// Bytes written to files (holes and growth by truncation included).
    pub disk_write_bytes: u64,
}

impl From<&EffectiveLimits> for spell_limits_t {
    fn from(l: &EffectiveLimits) -> spell_limits_t {
        spell_limits_t {
            memory_bytes: l.memory_bytes,
            fuel: l.fuel,
            wall_time_ms: l.wall_time_ms,
            output_bytes: l.output_bytes,
            net_requests: l.net_requests,
            net_bytes: l.net_bytes,
            open_files: l.open_files,
            disk_write_bytes: l.disk_write_bytes,
        }
    }
}

/// What the authorize hook sees. Views are valid during the callback.
#[repr(C)]
#[derive(Debug)]
pub struct spell_cast_context_t {
    /// Unique id of this cast (32 hex digits).
    pub cast_id: spell_str_t,
    /// sha256 of the spell's `spell.json`, hex.
    pub spell_digest: spell_str_t,
    /// The spell's name.
    pub spell_name: spell_str_t,
    /// The spell's version.
    pub spell_version: spell_str_t,
    /// The limits the cast will run under (before any allowance).
    pub limits: spell_limits_t,
}

/// What the authorize hook grants: with `has_max_fuel`, at most `max_fuel` fuel for this cast.
/// Zeroed before the callback.
#[repr(C)]
#[derive(Debug, Default)]
pub struct spell_allowance_t {
    /// Whether `max_fuel` applies.
    pub has_max_fuel: bool,
    /// The fuel cap for this cast.
    pub max_fuel: u64,
}

/// The kind of a `spell_event_t`: one of the `SPELL_EVENT_*` constants.
pub type spell_event_kind_t = u8;
/// A limit ended the cast; `outcome` says which.
pub const SPELL_EVENT_LIMIT_HIT: spell_event_kind_t = 0;
/// The guest tried something its grant does not allow; `capability` says what.
pub const SPELL_EVENT_POLICY_VIOLATION: spell_event_kind_t = 1;
/// A rescan revoked a loaded spell (outside any cast: `cast_id` is empty); `spell_digest`,
/// `spell_name` and `code` say which and why.
pub const SPELL_EVENT_SPELL_REVOKED: spell_event_kind_t = 2;

/// Something that happened during a cast, or to a loaded spell. Views are valid during the
/// callback.
#[repr(C)]
#[derive(Debug)]
pub struct spell_event_t {
    /// The cast it happened in.
    pub cast_id: spell_str_t,
    /// What happened.
    pub kind: spell_event_kind_t,
    /// For `SPELL_EVENT_LIMIT_HIT`: the outcome the limit caused.
    pub outcome: spell_outcome_kind_t,
    /// For `SPELL_EVENT_POLICY_VIOLATION`: the capability involved (`network`, ...); else empty.
    pub capability: spell_str_t,
    /// Details: which limit and its value, what was attempted, or the refusal.
    pub detail: spell_str_t,
    /// For `SPELL_EVENT_SPELL_REVOKED`: the spell's digest (hex); else empty.
    pub spell_digest: spell_str_t,
    /// For `SPELL_EVENT_SPELL_REVOKED`: the spell's name; else empty.
    pub spell_name: spell_str_t,
    /// For `SPELL_EVENT_SPELL_REVOKED`: the refusal's code (`E-SBOM-005`, ...); else empty.
    pub code: spell_str_t,
}

/// Everything one cast consumed. Views are valid as long as what it was read from (the outcome,
/// or the record callback).
#[repr(C)]
#[derive(Debug)]
pub struct spell_usage_t {
    /// Unique id of the cast.
    pub cast_id: spell_str_t,
    /// sha256 of the spell's `spell.json`, hex.
    pub spell_digest: spell_str_t,
    /// The spell's name.
    pub spell_name: spell_str_t,
    /// How the cast ended.
    pub outcome: spell_outcome_kind_t,
    /// Whether the guest exited (then `exit_code` is its code).
    pub has_exit_code: bool,
    /// The guest's exit code.
    pub exit_code: i32,
    /// Whether fuel was metered (then `fuel` is what the cast consumed).
    pub has_fuel: bool,
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time of the cast, nanoseconds.
    pub wall_ns: u64,
    /// CPU time of the thread running the guest, nanoseconds.
    pub cpu_ns: u64,
    /// Peak of linear memories plus tables, bytes.
    pub memory_peak_bytes: u64,
    /// Bytes captured from stdout.
    pub stdout_bytes: u64,
    /// Bytes captured from stderr.
    pub stderr_bytes: u64,
    /// Outbound requests made.
    pub net_requests: u64,
    /// Network bytes received.
    pub net_bytes_in: u64,
    /// Network bytes sent.
    pub net_bytes_out: u64,
    /// When the cast started, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// Bytes written to files, plus holes and growth by truncation.
    pub disk_bytes_written: u64,
    /// The W3C trace the cast joined (32 hex digits); empty without a traceparent.
    pub trace_id: spell_str_t,
}

impl From<&UsageRecord> for spell_usage_t {
    fn from(u: &UsageRecord) -> spell_usage_t {
        spell_usage_t {
            cast_id: spell_str_t::of(&u.cast_id),
            spell_digest: spell_str_t::of(&u.spell_digest),
            spell_name: spell_str_t::of(&u.spell_name),
            outcome: u.outcome as u8,
            has_exit_code: u.exit_code.is_some(),
            exit_code: u.exit_code.unwrap_or(0),
            has_fuel: u.fuel.is_some(),
            fuel: u.fuel.unwrap_or(0),
            wall_ns: u.wall_ns,
            cpu_ns: u.cpu_ns,
            memory_peak_bytes: u.memory_peak_bytes,
            stdout_bytes: u.stdout_bytes,
            stderr_bytes: u.stderr_bytes,
            net_requests: u.net_requests,
            net_bytes_in: u.net_bytes_in,
            net_bytes_out: u.net_bytes_out,
            started_at_ms: u.started_at_ms,
            disk_bytes_written: u.disk_bytes_written,
            trace_id: u
                .trace_id
                .as_deref()
                .map_or(spell_str_t::EMPTY, spell_str_t::of),
        }
    }
}

/// Runs before a cast. Return NULL to let it run (optionally filling `allowance`), an error from
/// `spell_denied_new` to refuse it (the outcome is then `SPELL_OUTCOME_DENIED` with the error's
/// message as the detail), or any other error (`spell_error_new`) when the hook itself failed:
/// the cast is denied all the same (fail closed) and the failure is the outcome's hook error.
pub type spell_authorize_fn = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        ctx: *const spell_cast_context_t,
        allowance: *mut spell_allowance_t,
    ) -> *mut spell_error_t,
>;
/// Runs exactly once after every cast that started. An error (from `spell_error_new`) does not
/// change the outcome; it is the outcome's hook error (`spell_outcome_hook_error`), ahead of any
/// earlier failure of the cast.
pub type spell_record_fn = Option<
    unsafe extern "C" fn(env: *mut c_void, usage: *const spell_usage_t) -> *mut spell_error_t,
>;
/// Runs as limits are hit and policy violations happen, from inside the cast. Return NULL, or an
/// error (from `spell_error_new`) that does not stop the cast but is its hook error unless an
/// earlier failure is.
pub type spell_observe_fn = Option<
    unsafe extern "C" fn(env: *mut c_void, event: *const spell_event_t) -> *mut spell_error_t,
>;

/// A metering hook: callbacks sharing one `env`. A NULL callback keeps the default (allow,
/// ignore). `finalize(env)` runs once when Spell drops the hook. Callbacks run on the casting
/// thread; keep them quick.
#[repr(C)]
#[derive(Debug)]
pub struct spell_meter_t {
    /// Passed to every callback.
    pub env: *mut c_void,
    /// Before each cast.
    pub authorize: spell_authorize_fn,
    /// Once after each cast.
    pub record: spell_record_fn,
    /// During casts.
    pub observe: spell_observe_fn,
    /// Once, when the hook is dropped.
    pub finalize: spell_finalize_fn,
}

/// A `MeteringHook` made of C callbacks.
struct ForeignMeter {
    env: ForeignEnv,
    authorize: spell_authorize_fn,
    record: spell_record_fn,
    observe: spell_observe_fn,
}

impl MeteringHook for ForeignMeter {
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        let Some(authorize) = self.authorize else {
            return Ok(Allowance::default());
        };
        let view = spell_cast_context_t {
            cast_id: spell_str_t::of(ctx.cast_id),
            spell_digest: spell_str_t::of(ctx.spell_digest),
            spell_name: spell_str_t::of(ctx.spell_name),
            spell_version: spell_str_t::of(ctx.spell_version),
            limits: (&ctx.limits).into(),
        };
        let mut allowance = spell_allowance_t::default();
        // SAFETY: `authorize` was given with `env`; both views outlive the call.
        let refused =
            unsafe { spell_error_t::take(authorize(self.env.ptr(), &view, &mut allowance)) };
        match refused {
            Some(e) if e.code() == ErrorCode::Denied => Err(Denied::new(e.message())),
            Some(e) => Err(Denied::failed(e.into_hook_error("authorize"))),
            None => Ok(Allowance {
                max_fuel: allowance.has_max_fuel.then_some(allowance.max_fuel),
                ..Allowance::default()
            }),
        }
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        let Some(record) = self.record else {
            return Ok(());
        };
        let view = spell_usage_t::from(usage);
        // SAFETY: `record` was given with `env`; the view outlives the call.
        unsafe { spell_error_t::hook_result(record(self.env.ptr(), &view), "record") }
    }

    fn observe(&self, event: &Event) -> Result<(), HookError> {
        let Some(observe) = self.observe else {
            return Ok(());
        };
        let mut view = spell_event_t {
            cast_id: spell_str_t::of(&event.cast_id),
            kind: SPELL_EVENT_LIMIT_HIT,
            outcome: 0,
            capability: spell_str_t::EMPTY,
            detail: spell_str_t::EMPTY,
            spell_digest: spell_str_t::EMPTY,
            spell_name: spell_str_t::EMPTY,
            code: spell_str_t::EMPTY,
        };
        match &event.kind {
            EventKind::LimitHit { outcome, detail } => {
                view.outcome = *outcome as u8;
                view.detail = spell_str_t::of(detail);
            }
            EventKind::PolicyViolation { capability, detail } => {
                view.kind = SPELL_EVENT_POLICY_VIOLATION;
                view.capability = spell_str_t::of(capability);
                view.detail = spell_str_t::of(detail);
            }
            EventKind::SpellRevoked {
                spell_digest,
                spell_name,
                code,
                detail,
            } => {
                view.kind = SPELL_EVENT_SPELL_REVOKED;
                view.spell_digest = spell_str_t::of(spell_digest);
                view.spell_name = spell_str_t::of(spell_name);
                view.code = spell_str_t::of(code);
                view.detail = spell_str_t::of(detail);
            }
        }
        // SAFETY: `observe` was given with `env`; the view outlives the call.
        unsafe { spell_error_t::hook_result(observe(self.env.ptr(), &view), "observe") }
    }
}

/// The hook a `spell_meter_t` describes. Takes charge of its `env` at once, so the finalizer
/// runs even when this fails.
///
/// # Safety
/// `meter` is NULL or readable; its callbacks and `env` follow spell.h's callback rules.
pub(crate) unsafe fn meter_in(
    meter: *const spell_meter_t,
) -> Result<Arc<dyn MeteringHook>, spell_error_t> {
    // SAFETY: the caller's contract above.
    let m = unsafe { crate::handle::borrow(meter, "meter") }?;
    Ok(Arc::new(ForeignMeter {
        env: ForeignEnv::new(m.env, m.finalize),
        authorize: m.authorize,
        record: m.record,
        observe: m.observe,
    }))
}
