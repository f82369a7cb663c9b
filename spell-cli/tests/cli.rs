//! The `spell` binary end to end: pack, inspect, cast (terminal and JSON), exit codes, errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run spell")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Packs a WAT guest with `manifest` into `dir/x.spell`.
fn pack(dir: &Path, manifest: &str, wat: &str) -> PathBuf {
    std::fs::write(dir.join("spell.json"), manifest).expect("manifest");
    std::fs::write(dir.join("module.wasm"), wat::parse_str(wat).expect("wat")).expect("module");
    let out = dir.join("x.spell");
    let o = spell(&[
        "pack",
        dir.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

const EXIT_7: &str = r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1) (func (export "_start") (call $exit (i32.const 7))))"#;

#[test]
fn casts_the_bundled_example_like_the_readme_says() {
    let o = spell(&["cast", "examples/hello/hello.spell", "--", "world"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "Hello, world!\n");
}

#[test]
fn json_output_has_the_documented_fields() {
    let o = spell(&[
        "cast",
        "examples/hello/hello.spell",
        "--json",
        "--env",
        "HELLO_NAME=json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["stdout"], "Hello, json!\n");
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["spell"]["name"], "hello");
    for field in [
        "fuel",
        "wall_ns",
        "cpu_ns",
        "memory_peak_bytes",
        "stdout_bytes",
        "stderr_bytes",
        "net_requests",
        "net_bytes_in",
        "net_bytes_out",
        "disk_bytes_written",
    ] {
        assert!(v["usage"][field].is_u64(), "usage.{field}: {}", v["usage"]);
    }
    assert_eq!(v["usage"]["stdout_bytes"], 13);
}

#[test]
fn pack_is_deterministic_and_inspect_reads_it_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = r#"{"name":"seven","version":"1.0.0","license":"MIT"}"#;
    let a = std::fs::read(pack(dir.path(), manifest, EXIT_7)).expect("a");
    let b = std::fs::read(pack(dir.path(), manifest, EXIT_7)).expect("b");
    assert_eq!(a, b);
    let o = spell(&[
        "inspect",
        dir.path().join("x.spell").to_str().expect("utf8"),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["manifest"]["name"], "seven");
    assert_eq!(v["signed"], false);
}

#[test]
fn the_guest_exit_code_becomes_the_process_exit_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = pack(
        dir.path(),
        r#"{"name":"seven","version":"1.0.0","license":"MIT"}"#,
        EXIT_7,
    );
    let o = spell(&["cast", p.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(7));
    let module = dir.path().join("module.wasm");
    let o = spell(&["cast", "--unverified", module.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(7));
}

#[test]
fn limits_end_the_cast_with_exit_code_3() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = pack(
        dir.path(),
        r#"{"name":"spin","version":"1.0.0","license":"MIT"}"#,
        r#"(module (func (export "_start") (loop br 0)))"#,
    );
    let o = spell(&["cast", p.to_str().expect("utf8"), "--fuel", "10000"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("out_of_fuel"),
        "{}",
        text(&o.stderr)
    );
    let o = spell(&[
        "cast",
        p.to_str().expect("utf8"),
        "--timeout",
        "100ms",
        "--fuel",
        "1000000000",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["outcome"], "timeout");
}

#[test]
fn refusals_print_their_code_and_exit_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut bytes = std::fs::read(root().join("examples/hello/hello.spell")).expect("hello");
    let manifest_len = usize::from_str_radix(
        std::str::from_utf8(&bytes[124..135])
            .expect("size")
            .trim_end_matches('\0'),
        8,
    )
    .expect("octal");
    let module_start = 512 + manifest_len.div_ceil(512) * 512 + 512;
    bytes[module_start + 100] ^= 0xff; // inside the module: its digest no longer matches the manifest
    let bad = dir.path().join("bad.spell");
    std::fs::write(&bad, bytes).expect("write");
    let o = spell(&["cast", bad.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("error[E-PKG-"),
        "{}",
        text(&o.stderr)
    );
    let o = spell(&["cast", bad.to_str().expect("utf8"), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["error"]["code"]
            .as_str()
            .expect("code")
            .starts_with("E-PKG-"),
        "{v}"
    );
    // A policy that does not grant the env name refuses the request.
    let o = spell(&[
        "cast",
        "examples/hello/hello.spell",
        "--policy",
        "examples/policy.toml",
        "--env",
        "HOME=/root",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("E-POL-004"), "{}", text(&o.stderr));
}
