//! The `spell` binary end to end: pack, inspect, cast (terminal and JSON), exit codes, errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(args)
        .env(
            "SPELL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
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
    // Every field of the shared shape (schema/fields.json), and nothing else but `spell` and
    // `error`.
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    let fields: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/fields.json")).expect("fields.json");
    let listed = |part: &str| -> Vec<String> {
        serde_json::from_value(fields[part].clone()).expect("a list")
    };
    let mut outcome = listed("outcome");
    outcome.extend(["error".to_string(), "spell".to_string()]);
    outcome.sort();
    assert_eq!(keys(&v), outcome);
    assert_eq!(keys(&v["usage"]), listed("usage"));
    assert_eq!(v["usage"]["stdout_bytes"], 13);
    assert_eq!(v["usage"]["spell_name"], "hello");
    assert_eq!(
        v["usage"]["trace_id"],
        serde_json::Value::Null,
        "no trace given"
    );
}

#[test]
fn a_traceparent_names_the_trace_in_the_usage_and_json_logs_parse() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let o = Command::new(env!("CARGO_BIN_EXE_spell"))
        .current_dir(root())
        .env(
            "SPELL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
        )
        .env("RUST_LOG", "spell_runtime=info")
        .args([
            "--log-format",
            "json",
            "cast",
            "examples/hello/hello.spell",
            "--json",
        ])
        .args(["--traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")])
        .output()
        .expect("run spell");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["usage"]["trace_id"], trace);
    // No spinner when piped: every stderr line is a JSON log line.
    let lines: Vec<serde_json::Value> = text(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let cast = lines
        .iter()
        .find(|l| l["span"]["name"] == "cast")
        .unwrap_or_else(|| panic!("no cast span closed: {lines:?}"));
    assert_eq!(cast["span"]["trace_id"], trace);
    assert_eq!(cast["span"]["cast_id"], v["usage"]["cast_id"]);
    assert_eq!(cast["span"]["fuel"], v["usage"]["fuel"]);
    assert_eq!(cast["level"], "INFO");
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
    assert!(v["usage"].is_null() && v["trap"].is_null() && v["denial_code"].is_null());
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

/// Writes 1 MiB to stdout (more than a pipe holds), then spins.
const FLOOD_THEN_SPIN: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 0) "\10\00\00\00\00\00\10\00")
  ;; The first and last bytes of the 1 MiB it writes.
  (data (i32.const 16) "<")
  (data (i32.const 1048591) ">")
  (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop br 0)))"#;

#[test]
fn a_stalled_stdout_reader_does_not_hold_the_cast_past_its_deadline() {
    // Before: `--timeout 1s` with nobody reading stdout ended when the reader came back (6 s).
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("flood.wasm"),
        wat::parse_str(FLOOD_THEN_SPIN).expect("wat"),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(["cast", "--unverified", "flood.wasm", "--timeout", "300ms"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let reported = std::thread::spawn(move || {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stderr.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        (started.elapsed(), text(&line))
    });
    // Nobody reads stdout for 3 s.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read");
    let status = child.wait().expect("wait");
    let (at, line) = reported.join().expect("join");
    assert_eq!(out.len(), 1 << 20, "all of stdout arrives in the end");
    // Written in place until the pipe was full, then by the writer thread: in order.
    assert_eq!((out[0], out[out.len() - 1]), (b'<', b'>'));
    assert_eq!(status.code(), Some(3));
    assert!(line.contains("cast ended: timeout"), "{line}");
    assert!(
        at < std::time::Duration::from_millis(2500),
        "reported after {at:?}"
    );
}

#[test]
fn unverified_casts_obey_the_policy_and_the_module_size_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A valid module of 6 MiB (a data segment), over the default 5 MiB cap.
    let big = format!(
        r#"(module (memory 100) (data (i32.const 0) "{}") (func (export "_start")))"#,
        "\\00".repeat(6 << 20)
    );
    let module = dir.path().join("big.wasm");
    std::fs::write(&module, wat::parse_str(&big).expect("wat")).expect("write");
    let m = module.to_str().expect("utf8");
    let o = spell(&["cast", "--unverified", m]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("E-"), "{}", text(&o.stderr));
    let o = spell(&["cast", "--unverified", m, "--max-module-size", "8MiB"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // With a policy, its module cap and limits apply (before: --policy was ignored).
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "allow_unsigned = true\n[package]\nmax_module_bytes = 16777216\n[limits.default]\nmemory_bytes = 1048576\n[limits.max]\nmemory_bytes = 1048576\n",
    )
    .expect("policy");
    let p = policy.to_str().expect("utf8");
    let o = spell(&["cast", "--unverified", m, "--policy", p, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["outcome"], "memory_limit", "{v}");
    let o = spell(&[
        "cast",
        "--unverified",
        m,
        "--policy",
        p,
        "--max-module-size",
        "8MiB",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "the policy sets the cap: a usage error"
    );
}

#[test]
fn a_refused_pack_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("spell.json"),
        r#"{"name":"big","version":"1.0.0","license":"MIT"}"#,
    )
    .expect("manifest");
    let big = format!(
        r#"(module (memory 100) (data (i32.const 0) "{}") (func (export "_start")))"#,
        "\\00".repeat(6 << 20)
    );
    std::fs::write(
        dir.path().join("module.wasm"),
        wat::parse_str(&big).expect("wat"),
    )
    .expect("module");
    let out = dir.path().join("big.spell");
    let o = spell(&[
        "pack",
        dir.path().to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(!out.exists(), "a refused package must not be written");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        2,
        "no temporary left"
    );
}

#[test]
fn a_ledger_bills_casts_refuses_a_spent_account_and_names_an_edited_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.db");
    let db = db.to_str().expect("utf8");
    let prices = dir.path().join("prices.toml");
    std::fs::write(&prices, "version = \"t1\"\nper_cast = 100\n").expect("prices");
    let ok = |o: Output| assert!(o.status.success(), "{}", text(&o.stderr));
    ok(spell(&[
        "ledger", "account", "set", db, "acme", "--budget", "150", "--period", "prepaid",
    ]));
    ok(spell(&[
        "ledger",
        "prices",
        db,
        prices.to_str().expect("utf8"),
    ]));
    let cast = |json: bool| {
        let mut args = vec!["cast", "--ledger", db, "--account", "acme"];
        if json {
            args.push("--json");
        }
        args.extend(["examples/hello/hello.spell", "--", "world"]);
        spell(&args)
    };
    let first = cast(false);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = cast(true);
    assert_eq!(second.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(v["outcome"], "denied");
    assert_eq!(v["error"]["code"], "E-BILL-001");
    let report = spell(&["ledger", "report", db, "--by", "spell", "--json"]);
    let lines: serde_json::Value = serde_json::from_slice(&report.stdout).expect("json");
    assert_eq!(lines[0]["casts"], 2);
    assert_eq!(lines[0]["denied"], 1);
    assert_eq!(lines[0]["charged"], 100);
    let export = spell(&["ledger", "export", db, "--csv", "--account", "acme"]);
    assert_eq!(
        text(&export.stdout).lines().count(),
        3,
        "header and two rows"
    );

    let head = dir.path().join("head");
    let head = head.to_str().expect("utf8");
    ok(spell(&[
        "ledger",
        "head",
        db,
        "--sign",
        "examples/keys/example.key",
        "-o",
        head,
    ]));
    ok(spell(&[
        "verify-blob",
        "--bundle",
        &format!("{head}.sigstore.json"),
        "--key",
        "examples/keys/example.pub",
        "--trusted-root",
        "examples/keys/example.trusted_root.json",
        head,
    ]));
    ok(spell(&["ledger", "verify", db, "--head", head]));

    let edit = Command::new("sqlite3")
        .args([
            db,
            "DROP TRIGGER usage_no_update; UPDATE usage SET charged = 0 WHERE seq = 1;",
        ])
        .output()
        .expect("sqlite3 CLI (scripts/install-deps.sh installs it)");
    assert!(edit.status.success());
    let verify = spell(&["ledger", "verify", db]);
    assert_eq!(verify.status.code(), Some(1));
    let err = text(&verify.stderr);
    assert!(err.contains("E-BILL-004") && err.contains("row 1"), "{err}");
}

#[test]
fn cast_keeps_compiled_modules_and_never_trusts_a_damaged_one() {
    let cache = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spell"))
            .args(args)
            .env("SPELL_CACHE_DIR", cache.path())
            .current_dir(root())
            .output()
            .expect("run spell")
    };
    let hello = ["cast", "examples/hello/hello.spell", "--", "world"];
    let artifacts = || {
        std::fs::read_dir(cache.path())
            .expect("cache folder")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect::<Vec<_>>()
    };
    // --no-cache keeps nothing.
    assert!(
        run(&["cast", "--no-cache", "examples/hello/hello.spell"])
            .status
            .success()
    );
    assert!(!cache.path().exists() || artifacts().is_empty());
    // The first cast compiles and keeps the module; the next ones load it.
    for _ in 0..2 {
        let o = run(&hello);
        assert_eq!(text(&o.stdout), "Hello, world!\n", "{}", text(&o.stderr));
    }
    assert_eq!(artifacts().len(), 1);
    assert!(text(&run(&["cache", "info"]).stdout).contains("1 compiled modules"));
    // A damaged artifact fails its MAC: compiled again, the cast is unaffected.
    let file = &artifacts()[0];
    let mut bytes = std::fs::read(file).expect("artifact");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(file, bytes).expect("damage");
    let o = run(&hello);
    assert_eq!(text(&o.stdout), "Hello, world!\n", "{}", text(&o.stderr));
    let cleaned = run(&["cache", "clean"]);
    assert!(
        text(&cleaned.stdout).contains("removed 1 compiled modules"),
        "{}",
        text(&cleaned.stdout)
    );
    assert!(artifacts().is_empty());
}

/// A component without WASI: a top-level export and one inside an exported interface.
const ANSWER_COMPONENT: &str = r#"(component
  (import "acme:demo/log" (instance (export "write" (func (param "line" string)))))
  (core module $m (func (export "answer") (result i32) i32.const 42))
  (core instance $i (instantiate $m))
  (func $answer (export "answer") (result s32) (canon lift (core func $i "answer")))
  (instance $api (export "answer" (func $answer)))
  (export "acme:demo/api" (instance $api)))"#;

/// A WASI preview 3 command: `wasi:cli/run@0.3.0`, lifted with the async ABI, returns success.
const P3_COMMAND: &str = r#"(component
  (core module $m
    (import "" "task.return" (func $task_return (param i32)))
    (func (export "run") (result i32) (call $task_return (i32.const 0)) (i32.const 0))
    (func (export "callback") (param i32 i32 i32) (result i32) unreachable))
  (core func $task_return (canon task.return (result (result))))
  (core instance $i (instantiate $m
    (with "" (instance (export "task.return" (func $task_return))))))
  (func $run async (result (result))
    (canon lift (core func $i "run") async (callback (core func $i "callback"))))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $cli)))"#;

#[test]
fn a_preview_3_command_casts_with_wasi_p3_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = r#"{"name":"p3","version":"1.0.0","license":"MIT"}"#;
    let p = pack(dir.path(), manifest, P3_COMMAND);
    let path = p.to_str().expect("utf8");
    let o = spell(&["inspect", path, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["exports"], serde_json::json!(["wasi:cli/run@0.3.0"]));
    let o = spell(&["cast", path]);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E-MOD-002") && stderr.contains("--wasi-p3"),
        "{stderr}"
    );
    let o = spell(&["cast", path, "--wasi-p3", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (&v["outcome"], &v["exit_code"]),
        (&serde_json::json!("ok"), &serde_json::json!(0))
    );
}

#[test]
fn components_pack_inspect_invoke_and_get_an_sbom() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = r#"{"name":"answer","version":"1.0.0","license":"MIT","entrypoint":"answer"}"#;
    let p = pack(dir.path(), manifest, ANSWER_COMPONENT);
    let path = p.to_str().expect("utf8");
    let o = spell(&["inspect", path, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["manifest"]["module"]["kind"], "component");
    assert_eq!(v["imports"], serde_json::json!(["acme:demo/log"]));
    assert_eq!(v["exports"], serde_json::json!(["acme:demo/api", "answer"]));
    let o = spell(&["inspect", path]);
    let out = text(&o.stdout);
    assert!(out.contains("module      component "), "{out}");
    assert!(out.contains("imports     acme:demo/log\n"), "{out}");
    // Its import is no WASI: refused at load, named.
    let o = spell(&["cast", path, "--invoke", "answer"]);
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E-MOD-003") && stderr.contains("acme:demo/log#write"),
        "{stderr}"
    );
    // Without it, `--invoke` calls an export without parameters, at the top level or in an
    // interface.
    let wat = ANSWER_COMPONENT.replace(
        r#"(import "acme:demo/log" (instance (export "write" (func (param "line" string)))))"#,
        "",
    );
    let p = pack(dir.path(), manifest, &wat);
    let path = p.to_str().expect("utf8");
    for export in ["answer", "acme:demo/api#answer"] {
        let o = spell(&["cast", path, "--invoke", export, "--json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["returned"], serde_json::json!([42]), "{export}");
    }
    let module = dir.path().join("module.wasm");
    let o = spell(&[
        "cast",
        "--unverified",
        module.to_str().expect("utf8"),
        "--invoke",
        "answer",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = spell(&[
        "sbom",
        "generate",
        module.to_str().expect("utf8"),
        "--name",
        "answer",
        "--version",
        "1.0.0",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sbom: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sbom");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
}
