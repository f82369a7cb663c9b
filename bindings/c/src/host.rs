//! Host functions as C callbacks, WebAssembly values (`spell_val_t`), and the guest memory a
//! host function may read and write during its call (`spell_host_call_t`).

#![expect(unsafe_code, reason = "C callbacks, a C union, and caller pointers")]

use crate::config::spell_config_t;
use crate::error::{guard, spell_error_t};
use crate::foreign::{ForeignEnv, spell_finalize_fn};
use crate::handle::{borrow_mut, out_param};
use crate::view::{bytes_in, spell_str_t, str_in};
use spell_runtime::{HostCall, HostError, HostFunction, Val, ValType};
use std::ffi::{c_char, c_void};

/// A value type: one of the `SPELL_I32`, `SPELL_I64`, `SPELL_F32`, `SPELL_F64` constants.
pub type spell_valkind_t = u8;
/// 32-bit integer.
pub const SPELL_I32: spell_valkind_t = 0;
/// 64-bit integer.
pub const SPELL_I64: spell_valkind_t = 1;
/// 32-bit float.
pub const SPELL_F32: spell_valkind_t = 2;
/// 64-bit float.
pub const SPELL_F64: spell_valkind_t = 3;

const _: () = {
    assert!(ValType::I32 as u8 == SPELL_I32);
    assert!(ValType::I64 as u8 == SPELL_I64);
    assert!(ValType::F32 as u8 == SPELL_F32);
    assert!(ValType::F64 as u8 == SPELL_F64);
};

/// The payload of a `spell_val_t`, read by its `kind`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union spell_valunion_t {
    /// For `SPELL_I32`.
    pub i32: i32,
    /// For `SPELL_I64`.
    pub i64: i64,
    /// For `SPELL_F32`.
    pub f32: f32,
    /// For `SPELL_F64`.
    pub f64: f64,
}

/// A WebAssembly value.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct spell_val_t {
    /// Which member of `of` is set.
    pub kind: spell_valkind_t,
    /// The value.
    pub of: spell_valunion_t,
}

impl From<Val> for spell_val_t {
    fn from(v: Val) -> spell_val_t {
        let of = match v {
            Val::I32(i32) => spell_valunion_t { i32 },
            Val::I64(i64) => spell_valunion_t { i64 },
            Val::F32(f32) => spell_valunion_t { f32 },
            Val::F64(f64) => spell_valunion_t { f64 },
        };
        spell_val_t {
            kind: v.ty() as u8,
            of,
        }
    }
}

impl spell_val_t {
    /// The zero value of a type.
    fn zero(ty: ValType) -> spell_val_t {
        spell_val_t {
            kind: ty as u8,
            of: spell_valunion_t { i64: 0 },
        }
    }

    /// The value, if its kind is known.
    fn to_val(self) -> Option<Val> {
        // SAFETY: every member is plain data of at most 8 bytes, all initialized by `zero` or
        // by the caller; `kind` picks the member that was meant.
        unsafe {
            match self.kind {
                SPELL_I32 => Some(Val::I32(self.of.i32)),
                SPELL_I64 => Some(Val::I64(self.of.i64)),
                SPELL_F32 => Some(Val::F32(self.of.f32)),
                SPELL_F64 => Some(Val::F64(self.of.f64)),
                _ => None,
            }
        }
    }
}

fn valtype(kind: spell_valkind_t) -> Result<ValType, spell_error_t> {
    match kind {
        SPELL_I32 => Ok(ValType::I32),
        SPELL_I64 => Ok(ValType::I64),
        SPELL_F32 => Ok(ValType::F32),
        SPELL_F64 => Ok(ValType::F64),
        other => Err(spell_error_t::invalid(format!(
            "unknown value kind {other}"
        ))),
    }
}

/// The calling guest, during a host function call: read and write its memory (the export
/// named `memory`), bounds-checked. Only valid inside the callback.
pub struct spell_host_call_t {
    _opaque: [u8; 0],
}

/// A host function. `args` holds `nargs` values of the declared parameter types; `results`
/// holds `nresults` zero values of the declared result types to overwrite (keep each `kind`).
/// Return NULL, or an error from `spell_error_new` to trap the guest (the outcome is
/// `SPELL_OUTCOME_TRAP` of kind `host_error` with the message).
pub type spell_host_fn = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        call: *mut spell_host_call_t,
        args: *const spell_val_t,
        nargs: usize,
        results: *mut spell_val_t,
        nresults: usize,
    ) -> *mut spell_error_t,
>;

/// Offers the host function `module::name` to spells whose policy grants it
/// (`[capabilities] host_functions`). `finalize(env)` runs once when the last runtime built from
/// this config is deleted, or at once if this call fails. Registration errors (a reserved module,
/// a duplicate) surface from `spell_runtime_new`.
///
/// # Safety
/// `config` is NULL or a live config; the strings and kind arrays point to their lengths;
/// `callback` and `env` follow spell.h's callback rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_host_function(
    config: *mut spell_config_t,
    module: *const c_char,
    module_len: usize,
    name: *const c_char,
    name_len: usize,
    params: *const spell_valkind_t,
    nparams: usize,
    results: *const spell_valkind_t,
    nresults: usize,
    callback: spell_host_fn,
    env: *mut c_void,
    finalize: spell_finalize_fn,
) -> *mut spell_error_t {
    guard(|| {
        let env = ForeignEnv::new(env, finalize);
        // SAFETY: the caller's contract above.
        let c = unsafe { borrow_mut(config, "config") }?;
        let module = unsafe { str_in(module, module_len, "module") }?.to_string();
        let name = unsafe { str_in(name, name_len, "name") }?.to_string();
        let params = unsafe { bytes_in(params, nparams) }?
            .iter()
            .map(|&k| valtype(k))
            .collect::<Result<Vec<_>, _>>()?;
        let results = unsafe { bytes_in(results, nresults) }?
            .iter()
            .map(|&k| valtype(k))
            .collect::<Result<Vec<_>, _>>()?;
        let callback = callback.ok_or_else(|| spell_error_t::invalid("`callback` is NULL"))?;
        let result_types = results.clone();
        let f = HostFunction::new(module, name, params, results, move |call, args| {
            let args: Vec<spell_val_t> = args.iter().map(|&v| v.into()).collect();
            let mut out: Vec<spell_val_t> =
                result_types.iter().map(|&t| spell_val_t::zero(t)).collect();
            let call: *mut HostCall<'_> = call;
            // SAFETY: `callback` came with `env`; `call` and both arrays outlive the call.
            let err = unsafe {
                callback(
                    env.ptr(),
                    call.cast(),
                    args.as_ptr(),
                    args.len(),
                    out.as_mut_ptr(),
                    out.len(),
                )
            };
            if let Some(e) = unsafe { spell_error_t::take(err) } {
                return Err(HostError::new(e.callback_message()));
            }
            out.into_iter()
                .map(|v| {
                    v.to_val().ok_or_else(|| {
                        HostError::new(format!("returned a value of unknown kind {}", v.kind))
                    })
                })
                .collect()
        });
        c.builder = std::mem::take(&mut c.builder).host_function(f);
        Ok(())
    })
}

/// The call behind a `spell_host_call_t`.
///
/// # Safety
/// `call` is NULL or the pointer a host function callback received, used during the callback.
unsafe fn host_call<'a, 'c>(
    call: *mut spell_host_call_t,
) -> Result<&'a mut HostCall<'c>, spell_error_t> {
    // SAFETY: the caller's contract above; the pointer is a `HostCall` cast in the callback.
    unsafe { borrow_mut(call.cast::<HostCall<'c>>(), "call") }
}

/// Copies `len` bytes of guest memory at `ptr` into `buf`. Out of bounds is an
/// `SPELL_ERROR_INVALID_ARGUMENT` error.
///
/// # Safety
/// `call` is the callback's call; `buf` is writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_host_call_read(
    call: *mut spell_host_call_t,
    ptr: u32,
    len: u32,
    buf: *mut u8,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let call = unsafe { host_call(call) }?;
        let bytes = call
            .read(ptr, len)
            .map_err(|e| spell_error_t::invalid(e.message))?;
        if bytes.is_empty() {
            return Ok(());
        }
        let out = unsafe { out_param(buf, "buf") }?;
        // SAFETY: `buf` is writable for `len` bytes and `bytes.len() == len`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
        Ok(())
    })
}

/// Writes `len` bytes at `data` into guest memory at `ptr`. Out of bounds is an
/// `SPELL_ERROR_INVALID_ARGUMENT` error.
///
/// # Safety
/// `call` is the callback's call; `data` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_host_call_write(
    call: *mut spell_host_call_t,
    ptr: u32,
    data: *const u8,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let call = unsafe { host_call(call) }?;
        let bytes = unsafe { bytes_in(data, len) }?;
        call.write(ptr, bytes)
            .map_err(|e| spell_error_t::invalid(e.message))
    })
}

/// Writes the id of the cast this call belongs to (valid during the callback) to `out`.
///
/// # Safety
/// `call` is the callback's call; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_host_call_cast_id(
    call: *mut spell_host_call_t,
    out: *mut spell_str_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let call = unsafe { host_call(call) }?;
        *unsafe { out_param(out, "out") }? = spell_str_t::of(call.cast_id());
        Ok(())
    })
}
