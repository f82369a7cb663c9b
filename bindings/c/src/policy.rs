//! `spell_policy_t`: a host policy (`spell_core::Policy`), what `spell_load` checks a package
//! against. An empty policy is deny-all; see `examples/policy.toml`.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, shield, spell_error_t};
use crate::handle::{delete, into_handle, out_param};
use crate::view::{bytes_in, str_in};
use spell_core::{Package, PackageLimits, Policy};
use std::ffi::c_char;

/// A policy. Thread-safe; free it with `spell_policy_delete`.
pub struct spell_policy_t {
    pub(crate) policy: Policy,
}

/// Writes the policy `make` gives to `out`, checking `out` first.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn policy_out(
    out: *mut *mut spell_policy_t,
    make: impl FnOnce() -> Result<Policy, spell_error_t>,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        *out = into_handle(spell_policy_t { policy: make()? });
        Ok(())
    })
}

/// Parses a policy from TOML text.
///
/// # Safety
/// `toml` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_policy_from_toml(
    toml: *const c_char,
    len: usize,
    out: *mut *mut spell_policy_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe { policy_out(out, || Ok(Policy::from_toml(str_in(toml, len, "policy")?)?)) }
}

/// Reads a policy file; relative paths in it start at its folder.
///
/// # Safety
/// `path` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_policy_from_file(
    path: *const c_char,
    len: usize,
    out: *mut *mut spell_policy_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe {
        policy_out(out, || {
            Ok(Policy::from_file(str_in(path, len, "path")?.as_ref())?)
        })
    }
}

/// The policy that trusts a package the way `wasmtime run` trusts a module (as `spell cast`
/// without `--policy` does): unsigned allowed, exactly the capabilities and limits its manifest
/// asks for. For development and for packages the host vouches for itself.
///
/// # Safety
/// `package` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_policy_trusting(
    package: *const u8,
    len: usize,
    out: *mut *mut spell_policy_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe {
        policy_out(out, || {
            let package = Package::read(bytes_in(package, len)?, &PackageLimits::default())?;
            Ok(Policy::trusting(&package.manifest))
        })
    }
}

/// Frees a policy. NULL does nothing.
///
/// # Safety
/// `policy` is NULL or a live policy, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_policy_delete(policy: *mut spell_policy_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(policy) })
}
