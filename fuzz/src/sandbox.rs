//! Casts arbitrary modules under small limits and checks the sandbox's promises.
//!
//! Input: a WebAssembly module, binary or text (the seeds are real modules and the benches'
//! fixtures), or else bytes from which `wasm-smith` builds a module exporting `run: [] -> []`
//! that may import WASI functions. Each module is packed, loaded (refusals are fine) and cast once.
//!
//! Oracles: the host does not crash; the cast starts; exactly one usage record reaches the
//! metering hook and equals the outcome's; memory peak, fuel, output and disk writes stay within
//! the limits and wall time within the limit plus a grace; the outcome is a documented one that
//! this cast can reach, with the fields that outcome promises.

use arbitrary::Unstructured;
use spell_core::{Package, Policy};
use spell_runtime::{CastOutcome, CastRequest, Metering, Outcome, Runtime, Spell, UsageLog};
use std::sync::{Arc, OnceLock};

/// The limits every cast runs under.
const POLICY: &str = r#"
allow_unsigned = true
[limits.default]
memory_bytes = 1048576
fuel = 500000
wall_time_ms = 300
output_bytes = 512
disk_write_bytes = 65536
"#;

/// How late a cast may end after its wall-time limit: the deadline is checked every epoch tick
/// (1 ms), but a slow or loaded machine (sanitizers) delays the check and the teardown.
const WALL_GRACE_MS: u64 = 2_000;

/// The WASI functions generated modules may import.
const WASI_IMPORTS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#;

pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| builder().build().expect("the fuzz runtime builds"))
}

/// The sandbox's runtime configuration.
pub(crate) fn builder() -> spell_runtime::RuntimeBuilder {
    Runtime::builder()
        .metering(Metering::Fuel)
        .max_concurrent_casts(2)
        .max_memory_bytes(16 << 20)
}

/// The module an input stands for, if it makes one.
pub fn module(data: &[u8]) -> Option<Vec<u8>> {
    if data.starts_with(b"\0asm") {
        return Some(data.to_vec());
    }
    if data.starts_with(b"(module") || data.starts_with(b";;") {
        return std::str::from_utf8(data)
            .ok()
            .and_then(|text| wat::parse_str(text).ok());
    }
    let config = wasm_smith::Config {
        available_imports: Some(wat::parse_str(WASI_IMPORTS).expect("WASI imports")),
        exports: Some(wat::parse_str(r#"(module (func (export "run")))"#).expect("exports")),
        max_memory32_bytes: 2 << 20,
        max_table_elements: 1_000,
        max_instructions: 1_000,
        ..wasm_smith::Config::default()
    };
    smith_module(config, data)
}

/// A `wasm-smith` module from `data` under `config`, without the proposals Spell's engine does
/// not enable.
pub(crate) fn smith_module(mut config: wasm_smith::Config, data: &[u8]) -> Option<Vec<u8>> {
    config.threads_enabled = false;
    config.exceptions_enabled = false;
    config.gc_enabled = false;
    config.memory64_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.compact_imports_enabled = false;
    wasm_smith::Module::new(config, &mut Unstructured::new(data))
        .ok()
        .map(|m| m.to_bytes())
}

fn load(wasm: &[u8]) -> Option<Spell> {
    load_as(
        runtime(),
        &policy(""),
        &serde_json::json!({}),
        wasm,
        ["run", "_start"],
    )
}

/// The sandbox's limits with `capabilities` (the body of the policy's `[capabilities]`).
pub(crate) fn policy(capabilities: &str) -> Policy {
    Policy::from_toml(&format!("{POLICY}[capabilities]\n{capabilities}"))
        .expect("the sandbox policy parses")
}

/// `wasm` loaded on `runtime` under `policy`, its manifest asking for `capabilities`, with the
/// first of `entrypoints` that loads.
pub(crate) fn load_as<'a>(
    runtime: &Runtime,
    policy: &Policy,
    capabilities: &serde_json::Value,
    wasm: &[u8],
    entrypoints: impl IntoIterator<Item = &'a str>,
) -> Option<Spell> {
    entrypoints.into_iter().find_map(|entrypoint| {
        let manifest = serde_json::json!({
            "name": "fuzz", "version": "1.0.0", "license": "MIT", "entrypoint": entrypoint,
            "capabilities": capabilities,
        });
        let package = Package::pack(manifest.to_string().as_bytes(), wasm, None, None).ok()?;
        runtime.load(&package, policy).ok()
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Some(spell) = module(data).as_deref().and_then(load) {
        cast_checked(&spell, CastRequest::new());
    }
}

/// Casts `spell` once with `request` and checks every promise of the sandbox (see the module
/// doc).
pub(crate) fn cast_checked(spell: &Spell, request: CastRequest) -> CastOutcome {
    let log = Arc::new(UsageLog::new());
    let out = spell
        .cast(request.meter(log.clone()))
        .expect("a loaded spell's cast starts");
    let limits = spell.grant().limits;
    let u = &out.usage;
    assert_eq!(
        log.records(),
        std::slice::from_ref(u),
        "exactly one usage record, the outcome's"
    );
    assert!(
        u.memory_peak_bytes <= limits.memory_bytes,
        "memory peak {} over {}",
        u.memory_peak_bytes,
        limits.memory_bytes
    );
    let fuel = u.fuel.expect("fuel is metered");
    assert!(fuel <= limits.fuel, "fuel {fuel} over {}", limits.fuel);
    let output = (out.stdout.len() + out.stderr.len()) as u64;
    assert!(
        output <= limits.output_bytes,
        "output {output} over {}",
        limits.output_bytes
    );
    assert_eq!(
        (u.stdout_bytes, u.stderr_bytes),
        (out.stdout.len() as u64, out.stderr.len() as u64)
    );
    assert!(
        u.disk_bytes_written <= limits.disk_write_bytes,
        "wrote {} bytes",
        u.disk_bytes_written
    );
    let wall_ms = u.wall_ns / 1_000_000;
    assert!(
        wall_ms <= limits.wall_time_ms + WALL_GRACE_MS,
        "ran {wall_ms} ms"
    );
    assert_eq!((u.outcome, u.exit_code), (out.outcome, out.exit_code));
    match out.outcome {
        Outcome::Ok => assert!(matches!(out.exit_code, None | Some(0)) && out.trap.is_none()),
        Outcome::Exit => assert!(out.exit_code.is_some_and(|c| c != 0)),
        Outcome::Trap => assert!(out.trap.is_some() && out.detail.is_some()),
        Outcome::Timeout
        | Outcome::OutOfFuel
        | Outcome::MemoryLimit
        | Outcome::OutputLimit
        | Outcome::DiskLimit => {
            assert!(out.detail.is_some(), "{:?} without detail", out.outcome)
        }
        other => panic!("outcome {other:?} is impossible here (no network, hook or cancel handle)"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_modules_load_and_cast() {
        let mut loaded = 0;
        for seed in 0..20u8 {
            let data: Vec<u8> = (0..4096u32)
                .map(|i| {
                    (i as u8)
                        .wrapping_mul(31)
                        .wrapping_add(seed.wrapping_mul(97))
                })
                .collect();
            let wasm = module(&data).expect("wasm-smith makes a module from any bytes");
            loaded += usize::from(load(&wasm).is_some());
            run(&data);
        }
        assert!(loaded > 0, "no generated module loaded");
    }
}
