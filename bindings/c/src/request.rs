//! `spell_request_t`: what to cast with (`spell_runtime::CastRequest`), and `spell_cancel_t`,
//! a handle that cancels casts from any thread. A new request has no arguments beyond `argv[0]`,
//! no environment, empty stdin, no mounts, the grant's limits and the runtime's metering hook.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, shield, spell_error_t};
use crate::foreign::{ForeignEnv, spell_finalize_fn};
use crate::handle::{borrow, borrow_mut, delete, into_handle};
use crate::meter::{meter_in, spell_limits_t, spell_meter_t};
use crate::view::{bytes_in, str_in};
use spell_core::{Access, Limits};
use spell_runtime::{CancelHandle, CastRequest, Stream};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A cast request. Not thread-safe; reusable for many casts. Free it with
/// `spell_request_delete`.
pub struct spell_request_t {
    pub(crate) request: CastRequest,
}

/// Cancels the casts it is attached to, from any thread. Free it with `spell_cancel_delete`.
pub struct spell_cancel_t {
    handle: CancelHandle,
}

/// Access to a mounted folder: `SPELL_ACCESS_RO` or `SPELL_ACCESS_RW`.
pub type spell_access_t = u8;
/// Read-only.
pub const SPELL_ACCESS_RO: spell_access_t = 0;
/// Read and write (the grant must allow it).
pub const SPELL_ACCESS_RW: spell_access_t = 1;

/// An output stream: `SPELL_STREAM_STDOUT` or `SPELL_STREAM_STDERR`.
pub type spell_stream_t = u8;
/// Standard output.
pub const SPELL_STREAM_STDOUT: spell_stream_t = 0;
/// Standard error.
pub const SPELL_STREAM_STDERR: spell_stream_t = 1;

const _: () = {
    assert!(Access::Ro as u8 == SPELL_ACCESS_RO);
    assert!(Access::Rw as u8 == SPELL_ACCESS_RW);
    assert!(Stream::Stdout as u8 == SPELL_STREAM_STDOUT);
    assert!(Stream::Stderr as u8 == SPELL_STREAM_STDERR);
};

/// Sees each captured chunk of output as the guest writes it (`len` bytes at `data`, valid
/// during the call). Runs on the casting thread. Return NULL, or an error (from
/// `spell_error_new`) that does not stop the cast but is its hook error unless an earlier
/// failure is.
pub type spell_output_fn = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        stream: spell_stream_t,
        data: *const u8,
        len: usize,
    ) -> *mut spell_error_t,
>;

/// Updates a request.
///
/// # Safety
/// `request` is NULL or a live request used by no other thread.
unsafe fn update(
    request: *mut spell_request_t,
    f: impl FnOnce(CastRequest) -> CastRequest,
) -> Result<(), spell_error_t> {
    // SAFETY: the caller's contract above.
    let r = unsafe { borrow_mut(request, "request") }?;
    r.request = f(std::mem::take(&mut r.request));
    Ok(())
}

/// An empty request.
#[unsafe(no_mangle)]
pub extern "C" fn spell_request_new() -> *mut spell_request_t {
    shield(std::ptr::null_mut(), || {
        into_handle(spell_request_t {
            request: CastRequest::new(),
        })
    })
}

/// Frees a request. NULL does nothing.
///
/// # Safety
/// `request` is NULL or a live request, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_delete(request: *mut spell_request_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(request) })
}

/// Appends an argument (after `argv[0]`, the spell's name).
///
/// # Safety
/// `request` is live; `arg` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_arg(
    request: *mut spell_request_t,
    arg: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let arg = unsafe { str_in(arg, len, "argument") }?;
        unsafe { update(request, |r| r.arg(arg)) }
    })
}

/// Sets an environment variable; its name must be granted (checked by `spell_cast`).
///
/// # Safety
/// `request` is live; `key` and `value` point to their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_env(
    request: *mut spell_request_t,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let key = unsafe { str_in(key, key_len, "env name") }?;
        let value = unsafe { str_in(value, value_len, "env value") }?;
        unsafe { update(request, |r| r.env(key, value)) }
    })
}

/// The guest's stdin (copied).
///
/// # Safety
/// `request` is live; `data` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_stdin(
    request: *mut spell_request_t,
    data: *const u8,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let data = unsafe { bytes_in(data, len) }?;
        unsafe { update(request, |r| r.stdin(data)) }
    })
}

/// Mounts the host folder `host` at the granted guest path `guest`.
///
/// # Safety
/// `request` is live; `host` and `guest` point to their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_mount(
    request: *mut spell_request_t,
    host: *const c_char,
    host_len: usize,
    guest: *const c_char,
    guest_len: usize,
    access: spell_access_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let host = unsafe { str_in(host, host_len, "host folder") }?;
        let guest = unsafe { str_in(guest, guest_len, "guest path") }?;
        let access = match access {
            SPELL_ACCESS_RO => Access::Ro,
            SPELL_ACCESS_RW => Access::Rw,
            other => return Err(spell_error_t::invalid(format!("unknown access {other}"))),
        };
        unsafe { update(request, |r| r.mount(host, guest, access)) }
    })
}

/// Lowers limits for the casts of this request; a 0 field keeps the grant's value. Raising a
/// limit above the grant makes `spell_cast` fail with `SPELL_ERROR_CAST_REQUEST_DENIED`.
///
/// # Safety
/// `request` is live; `limits` is readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_limits(
    request: *mut spell_request_t,
    limits: *const spell_limits_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let l = unsafe { borrow(limits, "limits") }?;
        let set = |v: u64| (v != 0).then_some(v);
        let limits = Limits {
            memory_bytes: set(l.memory_bytes),
            fuel: set(l.fuel),
            wall_time_ms: set(l.wall_time_ms),
            output_bytes: set(l.output_bytes),
            net_requests: set(l.net_requests),
            net_bytes: set(l.net_bytes),
            open_files: set(l.open_files),
            disk_write_bytes: set(l.disk_write_bytes),
        };
        unsafe { update(request, |r| r.limits(limits)) }
    })
}

/// The metering hook for the casts of this request, instead of the runtime's. The request keeps
/// it until it is deleted or given another.
///
/// # Safety
/// `request` is live; `meter` follows spell.h's callback rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_meter(
    request: *mut spell_request_t,
    meter: *const spell_meter_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above; the hook is taken first so it is finalized on error.
        let hook = unsafe { meter_in(meter) }?;
        unsafe { update(request, |r| r.meter(hook)) }
    })
}

/// Attaches a cancel handle: cancelling it ends the request's casts as `SPELL_OUTCOME_CANCELLED`.
///
/// # Safety
/// `request` and `cancel` are live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_cancel(
    request: *mut spell_request_t,
    cancel: *const spell_cancel_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let handle = unsafe { borrow(cancel, "cancel") }?.handle.clone();
        unsafe { update(request, |r| r.cancel(handle)) }
    })
}

/// Calls this export (a function without parameters) instead of the spell's entrypoint.
///
/// # Safety
/// `request` is live; `name` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_export(
    request: *mut spell_request_t,
    name: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let name = unsafe { str_in(name, len, "export") }?;
        unsafe { update(request, |r| r.export(name)) }
    })
}

/// Joins the caller's W3C trace: `traceparent` is `00-<trace id>-<span id>-<flags>`. The usage
/// record names the trace (`trace_id`) and the spell's outbound requests carry a child
/// traceparent; a malformed one refuses the cast (`SPELL_E_CAST_REQUEST_DENIED`).
///
/// # Safety
/// `request` is live; `traceparent` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_traceparent(
    request: *mut spell_request_t,
    traceparent: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let tp = unsafe { str_in(traceparent, len, "traceparent") }?;
        unsafe { update(request, |r| r.traceparent(tp)) }
    })
}

/// The W3C `tracestate` passed on with the traceparent.
///
/// # Safety
/// `request` is live; `tracestate` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_tracestate(
    request: *mut spell_request_t,
    tracestate: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let ts = unsafe { str_in(tracestate, len, "tracestate") }?;
        unsafe { update(request, |r| r.tracestate(ts)) }
    })
}

/// Streams output: `callback` sees each captured chunk of stdout and stderr as it is written.
/// `finalize(env)` runs once when the request no longer needs it (or at once on error).
///
/// # Safety
/// `request` is live; `callback` and `env` follow spell.h's callback rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_on_output(
    request: *mut spell_request_t,
    callback: spell_output_fn,
    env: *mut c_void,
    finalize: spell_finalize_fn,
) -> *mut spell_error_t {
    guard(|| {
        let env = ForeignEnv::new(env, finalize);
        let callback = callback.ok_or_else(|| spell_error_t::invalid("`callback` is NULL"))?;
        let on_output = Arc::new(move |stream: Stream, chunk: &[u8]| {
            // SAFETY: `callback` came with `env`; the chunk outlives the call.
            let err = unsafe { callback(env.ptr(), stream as u8, chunk.as_ptr(), chunk.len()) };
            // SAFETY: a callback returns NULL or an error of this library, handed over.
            unsafe { spell_error_t::hook_result(err, "on_output") }
        });
        // SAFETY: the caller's contract above.
        unsafe { update(request, |r| r.on_output(on_output)) }
    })
}

/// A cancel handle that is not cancelled.
#[unsafe(no_mangle)]
pub extern "C" fn spell_cancel_new() -> *mut spell_cancel_t {
    shield(std::ptr::null_mut(), || {
        into_handle(spell_cancel_t {
            handle: CancelHandle::new(),
        })
    })
}

/// Cancels every cast using this handle, now and later (a handle stays cancelled). A cast
/// ends within about one epoch tick. Safe to call from any thread, during `spell_cast`.
///
/// # Safety
/// `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_cancel_cancel(cancel: *const spell_cancel_t) {
    shield((), || {
        // SAFETY: the caller's contract above.
        if let Some(c) = unsafe { cancel.as_ref() } {
            c.handle.cancel();
        }
    })
}

/// Whether `spell_cancel_cancel` was called.
///
/// # Safety
/// `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_cancel_is_cancelled(cancel: *const spell_cancel_t) -> bool {
    // SAFETY: the caller's contract above.
    shield(false, || {
        unsafe { cancel.as_ref() }.is_some_and(|c| c.handle.is_cancelled())
    })
}

/// Frees a cancel handle (requests keep their own reference). NULL does nothing.
///
/// # Safety
/// `cancel` is NULL or live, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_cancel_delete(cancel: *mut spell_cancel_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(cancel) })
}
