//! `spell_cast` and its `spell_outcome_t` (`spell_runtime::CastOutcome`): how the cast ended,
//! what it printed and returned, and its usage record.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, shield, spell_error_code_t, spell_error_t};
use crate::handle::{borrow, delete, into_handle, out_param};
use crate::host::spell_val_t;
use crate::meter::{spell_outcome_kind_t, spell_usage_t};
use crate::request::spell_request_t;
use crate::runtime::spell_t;
use crate::trap::spell_trap_kind_t;
use crate::view::{spell_bytes_t, spell_str_t, write_view};
use spell_runtime::{CastOutcome, CastRequest, Spell};

/// How a cast ended. Free it with `spell_outcome_delete`.
pub struct spell_outcome_t {
    outcome: CastOutcome,
    returned: Vec<spell_val_t>,
    hook_error: Option<String>,
    /// The outcome's JSON, made on the first `spell_outcome_json`.
    json: std::sync::OnceLock<String>,
}

/// Casts `spell` with `request` (NULL: an empty request) and waits for the outcome, blocking
/// this thread.
///
/// Fails only when the cast could not start (the request exceeds the grant, no slot became
/// free, setup failed). Once started, every end (traps, limits, cancellation, a denial by the
/// authorize hook) is an outcome whose usage the metering hook's `record` has already seen,
/// exactly once.
///
/// # Safety
/// `spell` is live; `request` is NULL or live and used by no other thread; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_cast(
    spell: *const spell_t,
    request: *const spell_request_t,
    out: *mut *mut spell_outcome_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe { casting(spell, request, out, Spell::cast) }
}

/// `spell_cast` on a thread of Spell's cast pool, blocking this thread until the cast ends: for
/// hosts whose callbacks (hooks, host functions, the output callback) must not run on the
/// calling thread. Go's binding casts this way when it has callbacks, since Go code may run on
/// wasmtime's fiber stack only on a thread Go did not make. Pool threads are started on
/// demand and exit after `spell_pool_idle_timeout` without work.
///
/// # Safety
/// As `spell_cast`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_cast_on_pool(
    spell: *const spell_t,
    request: *const spell_request_t,
    out: *mut *mut spell_outcome_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe { casting(spell, request, out, Spell::cast_on_pool) }
}

/// Casts with `cast` and writes the outcome to `out`.
///
/// # Safety
/// As `spell_cast`.
unsafe fn casting(
    spell: *const spell_t,
    request: *const spell_request_t,
    out: *mut *mut spell_outcome_t,
    cast: fn(&Spell, CastRequest) -> Result<CastOutcome, spell_runtime::Error>,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        let spell = unsafe { borrow(spell, "spell") }?;
        let request =
            unsafe { request.as_ref() }.map_or_else(CastRequest::new, |r| r.request.clone());
        *out = spell_outcome_t::handle(cast(&spell.spell, request)?);
        Ok(())
    })
}

/// Sets how long an idle thread of the cast pool waits for work before it exits, in
/// milliseconds (at least 1; 10000 by default).
#[unsafe(no_mangle)]
pub extern "C" fn spell_pool_idle_timeout(ms: u64) {
    shield((), || {
        spell_runtime::pool::set_idle_timeout(std::time::Duration::from_millis(ms))
    })
}

impl spell_outcome_t {
    /// An outcome as the handle C holds.
    fn handle(outcome: CastOutcome) -> *mut spell_outcome_t {
        into_handle(spell_outcome_t {
            returned: outcome.returned.iter().map(|&v| v.into()).collect(),
            hook_error: outcome.hook_error.as_ref().map(ToString::to_string),
            outcome,
            json: std::sync::OnceLock::new(),
        })
    }
}

/// Frees an outcome. NULL does nothing.
///
/// # Safety
/// `outcome` is NULL or live, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_delete(outcome: *mut spell_outcome_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(outcome) })
}

/// Reads a live outcome, or returns `fallback` for NULL.
///
/// # Safety
/// `outcome` is NULL or live.
unsafe fn read<T: Copy>(
    outcome: *const spell_outcome_t,
    fallback: T,
    f: impl FnOnce(&spell_outcome_t) -> T,
) -> T {
    // SAFETY: the caller's contract above.
    shield(fallback, || unsafe { outcome.as_ref() }.map_or(fallback, f))
}

/// Writes `value` to a non-NULL out-parameter; false when it is NULL.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put<T>(out: *mut T, value: T) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { out.as_mut() }.map(|o| *o = value).is_some()
}

/// How the cast ended: one of `SPELL_OUTCOME_*`; 255 for NULL.
///
/// # Safety
/// `outcome` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_kind(
    outcome: *const spell_outcome_t,
) -> spell_outcome_kind_t {
    // SAFETY: the caller's contract above.
    unsafe { read(outcome, u8::MAX, |o| o.outcome.outcome as u8) }
}

/// Writes the exit code to `out` when the guest exited (a `_start` that returned counts as 0);
/// returns whether it did.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_exit_code(
    outcome: *const spell_outcome_t,
    out: *mut i32,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            o.outcome.exit_code.is_some_and(|c| put(out, c))
        })
    }
}

/// For `SPELL_OUTCOME_TRAP`, writes the trap kind's name (`unreachable_code_reached`,
/// `stack_overflow`, `memory_out_of_bounds`, `host_error`, ...; static) to `out`; returns
/// whether there is one.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_trap(
    outcome: *const spell_outcome_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            o.outcome.trap.is_some_and(|t| write_view(out, t.as_str()))
        })
    }
}

/// For `SPELL_OUTCOME_TRAP`, writes the trap kind (one of `SPELL_TRAP_*`) to `out`; returns
/// whether there is one.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_trap_kind(
    outcome: *const spell_outcome_t,
    out: *mut spell_trap_kind_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            o.outcome.trap.is_some_and(|t| put(out, t as u8))
        })
    }
}

/// Writes the human-readable reason (every outcome but ok and exit has one) to `out`; returns
/// whether there is one.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_detail(
    outcome: *const spell_outcome_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            o.outcome
                .detail
                .as_deref()
                .is_some_and(|d| write_view(out, d))
        })
    }
}

/// Writes the captured stdout to `out`.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_stdout(
    outcome: *const spell_outcome_t,
    out: *mut spell_bytes_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            put(out, spell_bytes_t::of(&o.outcome.stdout))
        })
    }
}

/// Writes the captured stderr to `out`.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_stderr(
    outcome: *const spell_outcome_t,
    out: *mut spell_bytes_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            put(out, spell_bytes_t::of(&o.outcome.stderr))
        })
    }
}

/// Writes what a named export returned: `*len` values at `*vals` (valid while the outcome
/// lives).
///
/// # Safety
/// `outcome` is NULL or live; `vals` and `len` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_returned(
    outcome: *const spell_outcome_t,
    vals: *mut *const spell_val_t,
    len: *mut usize,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            put(vals, o.returned.as_ptr()) & put(len, o.returned.len())
        })
    }
}

/// Writes the cast's usage record, the one the metering hook's `record` saw, to `out` (views
/// valid while the outcome lives).
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_usage(
    outcome: *const spell_outcome_t,
    out: *mut spell_usage_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            put(out, spell_usage_t::from(&o.outcome.usage))
        })
    }
}

/// The catalog code the authorize hook gave a `SPELL_OUTCOME_DENIED` cast (e.g.
/// `SPELL_ERROR_BILL_BUDGET_EXHAUSTED` from a ledger); 0 when it gave none, and for NULL.
///
/// # Safety
/// `outcome` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_denial_code(
    outcome: *const spell_outcome_t,
) -> spell_error_code_t {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, 0, |o| {
            o.outcome.denial_code.map_or(0, |c| c.as_u16())
        })
    }
}

/// When a hook failed during the cast, writes the failure (`"record hook failed: …"`; a host
/// function's names it, `"math::div hook failed: …"`) to `out` and returns true: the `record`
/// hook's failure if it failed (a host may retry storing the usage), else the first failure of
/// `authorize`, `observe`, the output callback or a host function. The outcome stands either way.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_hook_error(
    outcome: *const spell_outcome_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            o.hook_error.as_deref().is_some_and(|e| write_view(out, e))
        })
    }
}

/// Writes the outcome as JSON to `out`: the shape `spell cast --json` prints and every binding
/// shares (field names in `schema/fields.json`), valid while the outcome lives. Made once, on
/// the first call. Returns false for NULL.
///
/// # Safety
/// `outcome` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_outcome_json(
    outcome: *const spell_outcome_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        read(outcome, false, |o| {
            // Serializing these types cannot fail (string keys, no maps with other keys).
            let json = o
                .json
                .get_or_init(|| serde_json::to_string(&o.outcome).unwrap_or_default());
            write_view(out, json)
        })
    }
}
