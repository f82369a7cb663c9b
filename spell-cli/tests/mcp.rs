//! `spell mcp` end to end: the C example tool (`examples/primes`) built with clang-14, packed and
//! signed with `spell`, served by `spell mcp` over stdio to the official MCP Python SDK
//! (`tests/mcp_client.py`, PyPI `mcp`, installed by scripts/install-deps.sh); and the pack-time
//! refusal of a malformed tool section.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{root, spell, text};

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The example's spell.json with `name` and, when `tool` is false, no tool section.
fn manifest(name: &str, tool: bool) -> String {
    let text =
        std::fs::read_to_string(root().join("examples/primes/spell.json")).expect("manifest");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["name"] = name.into();
    if !tool {
        v.as_object_mut().expect("object").remove("tool");
    }
    v.to_string()
}

/// Packs `module` with `manifest` as `out`, signed with `key` when given; returns the pack output.
fn pack(work: &Path, module: &Path, manifest: &str, out: &Path, key: Option<&Path>) -> Output {
    let src = work.join(format!(
        "src-{}",
        out.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::copy(module, src.join("module.wasm")).expect("module");
    std::fs::write(src.join("spell.json"), manifest).expect("manifest");
    let o = spell(&["pack", utf8(&src), "-o", utf8(out)]);
    if let (true, Some(key)) = (o.status.success(), key) {
        let s = spell(&["sign", utf8(out), "--key", utf8(key)]);
        assert!(s.status.success(), "{}", text(&s.stderr));
    }
    o
}

fn build_primes(work: &Path) -> PathBuf {
    let module = work.join("primes.wasm");
    let status = Command::new("clang-14")
        .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all"])
        .arg(root().join("examples/primes/primes.c"))
        .arg("-o")
        .arg(&module)
        .status()
        .expect("clang-14 not found: run scripts/install-deps.sh");
    assert!(status.success(), "clang-14 failed on primes.c");
    module
}

#[test]
fn python_sdk_client_lists_calls_cancels_and_sees_list_changes_over_stdio_and_http() {
    let work = tempfile::tempdir().expect("tmp");
    let work = work.path();
    let module = build_primes(work);
    let example_key = root().join("examples/keys/example.key");
    let dir = work.join("spells");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let ok = |o: Output| assert!(o.status.success(), "{}", text(&o.stderr));
    ok(pack(
        work,
        &module,
        &manifest("primes", true),
        &dir.join("primes.spell"),
        Some(&example_key),
    ));
    // Its output does not match its output schema (a field the guest never writes).
    let mut strict: serde_json::Value =
        serde_json::from_str(&manifest("strict", true)).expect("json");
    strict["tool"]["output_schema"]["required"] = serde_json::json!(["below", "proof"]);
    ok(pack(
        work,
        &module,
        &strict.to_string(),
        &dir.join("strict.spell"),
        Some(&example_key),
    ));
    // Refused by the policy (no signature; a signer it does not trust), or not a tool.
    ok(pack(
        work,
        &module,
        &manifest("unsigned", true),
        &dir.join("unsigned.spell"),
        None,
    ));
    let o = spell(&[
        "keygen",
        "--out",
        utf8(&work.join("keys")),
        "--name",
        "stranger",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stranger_key = work.join("keys/stranger.key");
    ok(pack(
        work,
        &module,
        &manifest("stranger", true),
        &dir.join("stranger.spell"),
        Some(&stranger_key),
    ));
    ok(pack(
        work,
        &module,
        &manifest("plain", false),
        &dir.join("plain.spell"),
        Some(&example_key),
    ));
    // Added to the folder while the server runs.
    let extra = work.join("primes-two.spell");
    ok(pack(
        work,
        &module,
        &manifest("primes-two", true),
        &extra,
        Some(&example_key),
    ));

    let keys = root().join("examples/keys");
    let policy = work.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[trust]\ntrusted_roots = [\"{}\"]\nsigners = [{{ name = \"example\", public_key = \"{}\" }}]\n",
            utf8(&keys.join("example.trusted_root.json")),
            utf8(&keys.join("example.pub")),
        ),
    )
    .expect("policy");
    let server_log = work.join("server.log");
    let o = Command::new("python3")
        .arg(root().join("spell-cli/tests/mcp_client.py"))
        .args(["--spell", env!("CARGO_BIN_EXE_spell")])
        .args([
            "--policy",
            utf8(&policy),
            "--dir",
            utf8(&dir),
            "--extra",
            utf8(&extra),
        ])
        .args([
            "--manifest",
            utf8(&root().join("examples/primes/spell.json")),
        ])
        .args(["--usage-log", utf8(&work.join("usage.jsonl"))])
        .args(["--server-log", utf8(&server_log)])
        .args([
            "--cache-dir",
            utf8(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-cache")),
        ])
        .output()
        .expect("python3 (with PyPI mcp: run scripts/install-deps.sh)");
    let log = std::fs::read_to_string(&server_log).unwrap_or_default();
    assert!(
        o.status.success(),
        "{}{}\nserver log:\n{log}",
        text(&o.stdout),
        text(&o.stderr)
    );
    // Over HTTP, billed to a ledger account: the `spell cast --ledger` code path.
    let ledger = work.join("ledger.db");
    let o = spell(&[
        "ledger",
        "account",
        "set",
        utf8(&ledger),
        "acme",
        "--budget",
        "1000000",
        "--period",
        "prepaid",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let prices = root().join("examples/prices.toml");
    let o = spell(&["ledger", "prices", utf8(&ledger), utf8(&prices)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = Command::new("python3")
        .arg(root().join("spell-cli/tests/mcp_client.py"))
        .args(["--http", "--spell", env!("CARGO_BIN_EXE_spell")])
        .args(["--policy", utf8(&policy), "--dir", utf8(&dir)])
        .args([
            "--cache-dir",
            utf8(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-cache")),
        ])
        .args([
            "--server-args",
            &format!("--ledger {} --account acme", utf8(&ledger)),
        ])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let o = spell(&["ledger", "report", utf8(&ledger), "--by", "spell", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report json");
    assert_eq!(report[0]["key"], "primes", "{report}");
    assert_eq!(
        report[0]["casts"], 1,
        "the HTTP call is in the ledger: {report}"
    );
    assert!(report[0]["fuel"].as_i64() > Some(0), "{report}");
    assert!(report[0]["charged"].as_i64() > Some(0), "{report}");
    // Each refusal is logged with its code.
    for (file, reason) in [
        ("unsigned.spell", "error[E-SIG-001]"),
        ("stranger.spell", "error[E-SIG-004]"),
        ("plain.spell", "no `tool` section"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("not offered") && l.contains(file) && l.contains(reason)),
            "{file} refused with {reason}:\n{log}"
        );
    }
}

#[test]
fn a_malformed_tool_section_is_refused_at_pack_time() {
    let work = tempfile::tempdir().expect("tmp");
    let work = work.path();
    let module = work.join("m.wasm");
    std::fs::write(&module, wat::parse_str("(module)").expect("wat")).expect("module");
    let mut v: serde_json::Value = serde_json::from_str(&manifest("bad", true)).expect("json");
    for (field, value) in [
        ("input_schema", serde_json::json!({"type": "array"})),
        (
            "input_schema",
            serde_json::json!({"type": "object", "properties": {"a": {"type": 7}}}),
        ),
        (
            "output_schema",
            serde_json::json!({"type": "object", "$ref": "http://127.0.0.1/x.json"}),
        ),
        ("description", serde_json::json!("")),
    ] {
        v["tool"][field] = value.clone();
        let out = work.join("bad.spell");
        let o = pack(work, &module, &v.to_string(), &out, None);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{field}: {value}: {}",
            text(&o.stderr)
        );
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains("error[E-MAN-003]") && stderr.contains(&format!("tool.{field}")),
            "{field}: {value}: {stderr}"
        );
        assert!(!out.exists(), "no package is written");
        v = serde_json::from_str(&manifest("bad", true)).expect("json");
    }
}
