//! `spell_runtime_t` (`spell_runtime::Runtime`) and `spell_t`, a loaded spell
//! (`spell_runtime::Spell`): verified, granted, compiled and ready to cast.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::config::spell_config_t;
use crate::error::{guard, shield, spell_error_t};
use crate::handle::{borrow, delete, into_handle, out_param};
use crate::policy::spell_policy_t;
use crate::view::{bytes_in, spell_buf_t, spell_str_t, str_in, write_view};
use spell_runtime::{Runtime, RuntimeBuilder, Spell, UnverifiedModule};
use std::ffi::c_char;

/// A runtime: one engine, its caches and host functions. Thread-safe; one per process is
/// typical. Free it with `spell_runtime_delete` (spells loaded from it stay usable).
pub struct spell_runtime_t {
    runtime: Runtime,
}

/// A loaded spell. Thread-safe: cast it from many threads at once. Free it with `spell_delete`.
pub struct spell_t {
    pub(crate) spell: Spell,
    digest: String,
    /// The grant as JSON, made on the first `spell_grant_json`.
    grant: std::sync::OnceLock<String>,
}

impl spell_t {
    /// A loaded spell as the handle C holds.
    fn handle(spell: Spell) -> *mut spell_t {
        into_handle(spell_t {
            digest: spell.digest().to_hex(),
            spell,
            grant: std::sync::OnceLock::new(),
        })
    }
}

/// Builds a runtime from `config` (consumed, even on error; NULL for the defaults).
///
/// # Safety
/// `config` is NULL or a live config, not used afterwards; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_new(
    config: *mut spell_config_t,
    out: *mut *mut spell_runtime_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above: the config is ours from here on.
        let builder = (!config.is_null()).then(|| unsafe { Box::from_raw(config) }.builder);
        let out = unsafe { out_param(out, "out") }?;
        let runtime = builder.unwrap_or_else(RuntimeBuilder::new).build()?;
        *out = into_handle(spell_runtime_t { runtime });
        Ok(())
    })
}

/// Counters of a runtime's module cache (`spell_runtime_stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spell_cache_stats_t {
    /// Modules compiled from WebAssembly.
    pub compiled: u64,
    /// Loads served from memory.
    pub memory_hits: u64,
    /// Loads served from an on-disk artifact.
    pub disk_hits: u64,
    /// On-disk artifacts refused (bad MAC, corrupt, incompatible) and compiled again.
    pub disk_rejected: u64,
}

/// Writes the counters of `runtime`'s module cache to `out`; returns false for NULL.
///
/// # Safety
/// `runtime` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_stats(
    runtime: *const spell_runtime_t,
    out: *mut spell_cache_stats_t,
) -> bool {
    shield(false, || {
        // SAFETY: the caller's contract above.
        let (Some(runtime), Some(out)) = (unsafe { runtime.as_ref() }, unsafe { out.as_mut() })
        else {
            return false;
        };
        let s = runtime.runtime.stats();
        *out = spell_cache_stats_t {
            compiled: s.compiled,
            memory_hits: s.memory_hits,
            disk_hits: s.disk_hits,
            disk_rejected: s.disk_rejected,
        };
        true
    })
}

/// Frees a runtime. NULL does nothing.
///
/// # Safety
/// `runtime` is NULL or a live runtime, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_delete(runtime: *mut spell_runtime_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(runtime) })
}

/// Loads a `.spell` package through the whole verified-loading pipeline (package rules,
/// signature and SBOM per `policy`, grant, compile, imports, entrypoint).
///
/// # Safety
/// `runtime` and `policy` are live; `package` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_load(
    runtime: *const spell_runtime_t,
    package: *const u8,
    len: usize,
    policy: *const spell_policy_t,
    out: *mut *mut spell_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe {
        loading(runtime, out, |runtime| {
            let policy = borrow(policy, "policy")?;
            Ok(runtime.load(bytes_in(package, len)?, &policy.policy)?)
        })
    }
}

/// Loads a bare WebAssembly module without a package: no signature, SBOM or license check; the
/// host vouches for it. `ask_json` (`ask_len` bytes; NULL with 0 for `{}`) is what it asks for:
/// `{"name", "entrypoint", "capabilities", "limits"}`, each optional, the last two as in
/// `spell.json`. It gets that, bounded by `policy` when one is given (NULL: all it asks). An
/// unknown field is `SPELL_ERROR_MANIFEST_PARSE`; otherwise the errors of `spell_load`.
///
/// # Safety
/// `runtime` is live; `policy` is NULL or live; `module` points to `len` bytes; `ask_json` to
/// `ask_len` bytes or is NULL with 0; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_load_unverified(
    runtime: *const spell_runtime_t,
    module: *const u8,
    len: usize,
    ask_json: *const c_char,
    ask_len: usize,
    policy: *const spell_policy_t,
    out: *mut *mut spell_t,
) -> *mut spell_error_t {
    // SAFETY: the caller's contract above.
    unsafe {
        loading(runtime, out, |runtime| {
            let policy = policy.as_ref().map(|p| &p.policy);
            let wasm = bytes_in(module, len)?;
            let ask = match str_in(ask_json, ask_len, "ask_json")? {
                "" => "{}",
                ask => ask,
            };
            let module = UnverifiedModule::from_json(wasm, ask, policy)?;
            Ok(runtime.load_unverified(wasm, module)?)
        })
    }
}

/// Runs `load` on the runtime and writes the spell it loads to `out`.
///
/// # Safety
/// `runtime` is NULL or live; `out` is NULL or writable; `load` follows its caller's contract.
unsafe fn loading(
    runtime: *const spell_runtime_t,
    out: *mut *mut spell_t,
    load: impl FnOnce(&Runtime) -> Result<Spell, spell_error_t>,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        let runtime = unsafe { borrow(runtime, "runtime") }?;
        *out = spell_t::handle(load(&runtime.runtime)?);
        Ok(())
    })
}

/// Checks a `.spell` package exactly as `spell_load` does (package rules, signature and signer
/// rule, SBOM rules, grant) without compiling it, and writes what it established to
/// `report_json`: `{"name", "version", "digest", "verification": {"signer", "sbom",
/// "warnings"}, "grant"}` (what `spell verify --json` prints); free it with `spell_buf_delete`.
/// A refusal is the error `spell_load` would return.
///
/// # Safety
/// `runtime` and `policy` are live; `package` points to `len` bytes; `report_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_verify(
    runtime: *const spell_runtime_t,
    package: *const u8,
    len: usize,
    policy: *const spell_policy_t,
    report_json: *mut spell_buf_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(report_json, "report_json") }?;
        let runtime = unsafe { borrow(runtime, "runtime") }?;
        let policy = unsafe { borrow(policy, "policy") }?;
        let verified = runtime
            .runtime
            .verify(unsafe { bytes_in(package, len) }?, &policy.policy)?;
        let json = serde_json::to_vec(&verified)
            .map_err(|e| spell_error_t::invalid(format!("report: {e}")))?;
        *out = json.into();
        Ok(())
    })
}

/// Re-verifies every spell `runtime` loaded against `policy` as it is now (its trusted roots,
/// keys and OSV database read again if they changed) and revokes those it refuses: their next
/// cast fails with `SPELL_ERROR_SPELL_REVOKED` (E-SIG-008); casts in flight finish; the runtime's
/// meter observes a `SPELL_EVENT_SPELL_REVOKED` for each. Writes the spells whose verdict changed
/// to `report_json` as JSON: `{"spells": n, "changes": [{"digest", "name", "version", "before",
/// "after"}]}`, each verdict `{"verdict": "accepted", "warnings": [...]}` or `{"verdict":
/// "refused", "code", "message"}`; free it with `spell_buf_delete`.
///
/// # Safety
/// `runtime` and `policy` are live; `report_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_rescan(
    runtime: *const spell_runtime_t,
    policy: *const spell_policy_t,
    report_json: *mut spell_buf_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(report_json, "report_json") }?;
        let runtime = unsafe { borrow(runtime, "runtime") }?;
        let policy = unsafe { borrow(policy, "policy") }?;
        let report = runtime.runtime.rescan(&policy.policy)?;
        let json = serde_json::to_vec(&report)
            .map_err(|e| spell_error_t::invalid(format!("report: {e}")))?;
        *out = json.into();
        Ok(())
    })
}

/// Writes the runtime's metrics in the Prometheus text format (0.0.4) to `text`, for the host's
/// own `/metrics`: casts by spell and outcome, refusals by code, histograms of time, fuel,
/// memory and network bytes, casts in flight, queue wait, cache hits and misses. Free `text`
/// with `spell_buf_delete`.
///
/// # Safety
/// `runtime` is live; `text` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_runtime_metrics(
    runtime: *const spell_runtime_t,
    text: *mut spell_buf_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(text, "text") }?;
        let runtime = unsafe { borrow(runtime, "runtime") }?;
        *out = runtime.runtime.metrics().into_bytes().into();
        Ok(())
    })
}

/// Frees a spell. NULL does nothing.
///
/// # Safety
/// `spell` is NULL or a live spell, not used afterwards (no cast may be running on it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_delete(spell: *mut spell_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(spell) })
}

/// Writes a view of one of the spell's strings to `out`; false when either is NULL.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
unsafe fn spell_str(
    spell: *const spell_t,
    out: *mut spell_str_t,
    field: impl FnOnce(&spell_t) -> &str,
) -> bool {
    shield(false, || {
        // SAFETY: the caller's contract above.
        unsafe { spell.as_ref() }.is_some_and(|s| unsafe { write_view(out, field(s)) })
    })
}

/// Writes the spell's name (valid while the spell lives) to `out`.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_name(spell: *const spell_t, out: *mut spell_str_t) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { spell_str(spell, out, |s| s.spell.name()) }
}

/// Writes the spell's version to `out`.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_version(spell: *const spell_t, out: *mut spell_str_t) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { spell_str(spell, out, |s| s.spell.version()) }
}

/// Writes the spell's identity, the sha256 of its `spell.json` in hex, to `out`.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_digest(spell: *const spell_t, out: *mut spell_str_t) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { spell_str(spell, out, |s| &s.digest) }
}

/// Writes the export a cast calls unless the request names another to `out`.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_entrypoint(spell: *const spell_t, out: *mut spell_str_t) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { spell_str(spell, out, |s| s.spell.entrypoint()) }
}

/// Writes what the spell may use as JSON to `out`: `{"env", "mounts", "network",
/// "host_functions", "limits"}`, the serialization Python's `Spell.grant` and Node's
/// `spell.grant` give. Made on the first call; valid while the spell lives.
///
/// # Safety
/// `spell` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_grant_json(spell: *const spell_t, out: *mut spell_str_t) -> bool {
    // SAFETY: the caller's contract above.
    unsafe {
        spell_str(spell, out, |s| {
            // Serializing a grant cannot fail (string keys, plain values).
            s.grant
                .get_or_init(|| serde_json::to_string(s.spell.grant()).unwrap_or_default())
        })
    }
}

/// A handle must be `Send + Sync` for the thread rules of spell.h to hold.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<spell_runtime_t>();
    assert_send_sync::<spell_t>();
    assert_send_sync::<spell_policy_t>();
};
