//! `spell_package_pack`: builds a `.spell` package in memory, so hosts and tests can make
//! packages from a manifest and a module (binary or WebAssembly text).

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, spell_error_t};
use crate::handle::out_param;
use crate::view::{bytes_in, spell_buf_t};
use spell_core::Package;
use std::ffi::c_char;

/// Packs `spell.json` text and a module into an unsigned package without SBOM, filling in the
/// manifest's module pin (like `spell pack`). `module` is WebAssembly binary or text (WAT).
/// Free `out` with `spell_buf_delete`.
///
/// # Safety
/// `manifest` and `module` point to their lengths; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_package_pack(
    manifest: *const c_char,
    manifest_len: usize,
    module: *const u8,
    module_len: usize,
    out: *mut spell_buf_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        let manifest = unsafe { bytes_in(manifest.cast(), manifest_len) }?;
        let module = unsafe { bytes_in(module, module_len) }?;
        let wasm =
            wat::parse_bytes(module).map_err(|e| spell_error_t::invalid(format!("module: {e}")))?;
        *out = Package::pack(manifest, &wasm, None, None)?.into();
        Ok(())
    })
}

/// Writes what a package says about itself, checked for form and pins only, to `info_json`:
/// `{"digest", "manifest", "signed", "has_sbom", "imports", "exports"}` (what `spell inspect --json` prints); free it
/// with `spell_buf_delete`. Trust it only after `spell_runtime_verify` or `spell_load`.
///
/// # Safety
/// `package` points to `len` bytes; `info_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_package_inspect(
    package: *const u8,
    len: usize,
    info_json: *mut spell_buf_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(info_json, "info_json") }?;
        let package = Package::read(unsafe { bytes_in(package, len) }?, &Default::default())?;
        let json = serde_json::to_vec(&package.info())
            .map_err(|e| spell_error_t::invalid(format!("info: {e}")))?;
        *out = json.into();
        Ok(())
    })
}
