//! `spell_config_t`: a runtime configuration (`spell_runtime::RuntimeBuilder`) before
//! `spell_runtime_new` consumes it. Every setter's default is the builder's (see
//! `spell_runtime::config`); setters on a NULL config do nothing.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, shield, spell_error_t};
use crate::handle::{borrow_mut, delete, into_handle};
use crate::meter::{meter_in, spell_meter_t};
use crate::view::{bytes_in, str_in};
use spell_runtime::{Metering, RuntimeBuilder};
use std::ffi::c_char;
use std::time::Duration;

/// A runtime configuration. Free it with `spell_config_delete` unless `spell_runtime_new`
/// consumed it.
pub struct spell_config_t {
    pub(crate) builder: RuntimeBuilder,
}

/// How CPU is metered: one of the `SPELL_METERING_*` constants.
pub type spell_metering_t = u8;
/// Fuel: deterministic, what billing wants (the default).
pub const SPELL_METERING_FUEL: spell_metering_t = 0;
/// Wall and CPU time only: cheaper on CPU-bound guests; fuel limits are not enforced.
pub const SPELL_METERING_TIME: spell_metering_t = 1;

const _: () = {
    assert!(Metering::Fuel as u8 == SPELL_METERING_FUEL);
    assert!(Metering::Time as u8 == SPELL_METERING_TIME);
};

/// Updates the builder of a config; NULL does nothing.
///
/// # Safety
/// `config` is NULL or a live config used by no other thread.
unsafe fn set(config: *mut spell_config_t, f: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder) {
    shield((), || {
        // SAFETY: the caller's contract above.
        if let Some(c) = unsafe { config.as_mut() } {
            c.builder = f(std::mem::take(&mut c.builder));
        }
    })
}

/// A configuration with the secure defaults: no host functions, no disk cache, fuel metering,
/// the pooling allocator, 256 casts at once.
#[unsafe(no_mangle)]
pub extern "C" fn spell_config_new() -> *mut spell_config_t {
    shield(std::ptr::null_mut(), || {
        into_handle(spell_config_t {
            builder: RuntimeBuilder::new(),
        })
    })
}

/// Frees a config. NULL does nothing.
///
/// # Safety
/// `config` is NULL or a live config, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_delete(config: *mut spell_config_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(config) })
}

/// At most `n` casts run at once (default 256); further casts wait for the queue timeout, then
/// fail with `SPELL_ERROR_BUSY`.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_max_concurrent_casts(config: *mut spell_config_t, n: usize) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.max_concurrent_casts(n)) }
}

/// How long a cast waits for a free slot, in milliseconds (default 1000).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_queue_timeout_ms(config: *mut spell_config_t, ms: u64) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.queue_timeout(Duration::from_millis(ms))) }
}

/// Compiled modules kept in memory (default 64).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_module_cache_capacity(config: *mut spell_config_t, n: usize) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.module_cache_capacity(n)) }
}

/// The epoch tick in microseconds (default 1000, at least 100): how late a timeout or a
/// cancellation may take effect.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_epoch_tick_us(config: *mut spell_config_t, us: u64) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.epoch_tick(Duration::from_micros(us))) }
}

/// The largest linear memory any spell may have, in bytes (default 4 GiB); sizes the pooling
/// allocator's slots.
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_max_memory_bytes(config: *mut spell_config_t, bytes: u64) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.max_memory_bytes(bytes)) }
}

/// Whether to use the pooling allocator (default true).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_pooling(config: *mut spell_config_t, on: bool) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.pooling(on)) }
}

/// Whether to cast WASI preview 3 components (`wasi:cli@0.3`, the async component model) with
/// wasmtime's experimental support (default false: they are refused at load with
/// `SPELL_ERROR_MODULE_INVALID`).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_wasi_p3(config: *mut spell_config_t, on: bool) {
    // SAFETY: the caller's contract above.
    unsafe { set(config, |b| b.wasi_p3(on)) }
}

/// How CPU is metered (default `SPELL_METERING_FUEL`).
///
/// # Safety
/// `config` is NULL or a live config.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_metering(
    config: *mut spell_config_t,
    metering: spell_metering_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let c = unsafe { borrow_mut(config, "config") }?;
        let m = match metering {
            SPELL_METERING_FUEL => Metering::Fuel,
            SPELL_METERING_TIME => Metering::Time,
            other => return Err(spell_error_t::invalid(format!("unknown metering {other}"))),
        };
        c.builder = std::mem::take(&mut c.builder).metering(m);
        Ok(())
    })
}

/// Keep authenticated compiled modules in this folder (default: none).
///
/// # Safety
/// `config` is NULL or a live config; `dir` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_cache_dir(
    config: *mut spell_config_t,
    dir: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let c = unsafe { borrow_mut(config, "config") }?;
        let dir = unsafe { str_in(dir, len, "cache folder") }?;
        c.builder = std::mem::take(&mut c.builder).cache_dir(dir);
        Ok(())
    })
}

/// Also trust this CA certificate (DER, `len` bytes) for spells' HTTPS requests, besides
/// Mozilla's roots: a private deployment's internal CA. `spell_runtime_new` refuses one rustls
/// cannot use (`E-RUN` runtime_config).
///
/// # Safety
/// `config` is NULL or a live config; `der` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_tls_root_certificate(
    config: *mut spell_config_t,
    der: *const u8,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let c = unsafe { borrow_mut(config, "config") }?;
        let der = unsafe { bytes_in(der, len) }?;
        c.builder = std::mem::take(&mut c.builder).tls_root_certificate(der);
        Ok(())
    })
}

/// The metering hook for casts whose request names none (default: none). The runtime keeps it
/// until it is deleted.
///
/// # Safety
/// `config` is NULL or a live config; `meter` follows spell.h's callback rules.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_config_meter(
    config: *mut spell_config_t,
    meter: *const spell_meter_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above; the hook is taken first so it is finalized on error.
        let hook = unsafe { meter_in(meter) }?;
        let c = unsafe { borrow_mut(config, "config") }?;
        c.builder = std::mem::take(&mut c.builder).meter(hook);
        Ok(())
    })
}
