//! `spell keygen`, `sbom generate`, `sign`, `verify` and `verify-blob` through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn spell(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(args)
        .output()
        .expect("run spell")
}

pub fn ok(args: &[&str]) -> String {
    let out = spell(args);
    assert!(
        out.status.success(),
        "spell {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code 1 with `error[CODE]` on stderr.
fn refused(args: &[&str], code: &str) {
    let out = spell(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "spell {args:?}: {stderr}");
    assert!(
        stderr.contains(&format!("error[{code}]")),
        "spell {args:?}: {stderr}"
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A maker's key (`maker.*`) and an unsigned package with an SBOM, in a temp folder.
fn maker() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(&["keygen", "--out", s(dir.path()), "--name", "maker"]);
    let pkg = package(dir.path(), "demo", "pkg:cargo/serde@1.0.200");
    (dir, pkg)
}

/// Packs `<dir>/<name>.spell`, unsigned, whose SBOM lists one component, `purl`.
pub fn package(dir: &Path, name: &str, purl: &str) -> PathBuf {
    let src = dir.join(format!("{name}-src"));
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(
        src.join("spell.json"),
        format!(r#"{{"name":"{name}","version":"0.1.0","license":"MIT"}}"#),
    )
    .expect("write");
    std::fs::write(src.join("module.wasm"), b"\0asm\x01\0\0\0").expect("write");
    let sbom = src.join("sbom.cdx.json");
    let module = src.join("module.wasm");
    ok(&[
        "sbom",
        "generate",
        s(&module),
        "--name",
        name,
        "--version",
        "0.1.0",
        "--purl",
        purl,
        "-o",
        s(&sbom),
    ]);
    let pkg = dir.join(format!("{name}.spell"));
    ok(&["pack", s(&src), "-o", s(&pkg)]);
    pkg
}

#[test]
fn keygen_sign_verify_round_trip() {
    let (dir, pkg) = maker();
    let policy = dir.path().join("maker.policy.toml");
    refused(&["verify", s(&pkg), "--policy", s(&policy)], "E-SIG-001");
    let unsigned = spell(&["verify", s(&pkg), "--policy", s(&policy), "--json"]);
    assert_eq!(unsigned.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&unsigned.stdout).expect("json");
    assert_eq!(json["error"]["code"], "E-SIG-001", "{json}");
    assert!(json["verification"].is_null() && json["grant"].is_null());
    ok(&["sign", s(&pkg), "--key", s(&dir.path().join("maker.key"))]);
    let text = ok(&["verify", s(&pkg), "--policy", s(&policy)]);
    assert!(text.contains("rule        maker"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["verify", s(&pkg), "--policy", s(&policy), "--json"]))
            .expect("json");
    assert_eq!(json["verification"]["signer"]["rule"], "maker");
    assert_eq!(json["verification"]["signer"]["kind"], "public_key");
    assert_eq!(json["verification"]["sbom"]["components"], 1);
    assert!(json["grant"]["env"].is_array());
    assert!(json["error"].is_null());
}

#[test]
fn another_makers_policy_refuses_with_the_signer_named() {
    let (dir, pkg) = maker();
    ok(&["sign", s(&pkg), "--key", s(&dir.path().join("maker.key"))]);
    let other = tempfile::tempdir().expect("tempdir");
    ok(&["keygen", "--out", s(other.path()), "--name", "other"]);
    refused(
        &[
            "verify",
            s(&pkg),
            "--policy",
            s(&other.path().join("other.policy.toml")),
        ],
        "E-SIG-004",
    );
    let out = spell(&["keygen", "--out", s(other.path()), "--name", "other"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "keygen does not overwrite keys without --force"
    );
}

#[test]
fn verify_blob_checks_key_based_bundles() {
    let (dir, pkg) = maker();
    ok(&["sign", s(&pkg), "--key", s(&dir.path().join("maker.key"))]);
    let package = spell_core::Package::read_file(&pkg, &Default::default()).expect("read");
    let (artifact, bundle) = (
        dir.path().join("spell.json"),
        dir.path().join("spell.sigstore.json"),
    );
    std::fs::write(&artifact, &package.manifest_bytes).expect("write");
    std::fs::write(&bundle, package.bundle.as_deref().expect("signed")).expect("write");
    let d = |n: &str| dir.path().join(n);
    let args = |a: &Path| {
        [
            "verify-blob",
            "--bundle",
            s(&bundle),
            "--key",
            s(&d("maker.pub")),
            "--trusted-root",
            s(&d("maker.trusted_root.json")),
            s(a),
        ]
        .map(str::to_string)
    };
    let run = |a: &Path| spell(&args(a).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run(&artifact).status.success());
    std::fs::write(&artifact, b"{}").expect("write");
    let out = run(&artifact);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[E-SIG-007]"));
}

#[test]
fn verify_blob_checks_public_sigstore_bundles() {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/sigstore"
    ));
    if !root.is_dir() {
        eprintln!(
            "skipping: {} is absent (shared test vectors not checked out)",
            root.display()
        );
        return;
    }
    let (blob, bundle) = (
        root.join("sigstore-rust/cosign-v3-blob.txt"),
        root.join("sigstore-rust/cosign-v3-blob.sigstore.json"),
    );
    let issuer = "https://github.com/login/oauth";
    let base = [
        "verify-blob",
        "--bundle",
        s(&bundle),
        "--certificate-oidc-issuer",
        issuer,
    ];
    // Default root: the embedded public-good production root.
    let out = ok(&[
        &base[..],
        &["--certificate-identity", "w.vollprecht@gmail.com", s(&blob)],
    ]
    .concat());
    assert!(out.starts_with("Verified OK"), "{out}");
    refused(
        &[
            &base[..],
            &["--certificate-identity", "someone@else.dev", s(&blob)],
        ]
        .concat(),
        "E-SIG-004",
    );
    let staging = root.join("trusted_roots/staging.trusted_root.json");
    let with_staging = [
        &base[..],
        &[
            "--certificate-identity",
            "w.vollprecht@gmail.com",
            "--trusted-root",
            s(&staging),
            s(&blob),
        ],
    ]
    .concat();
    refused(&with_staging, "E-SIG-003");
}

#[test]
fn the_hello_example_verifies_under_the_example_policy() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let text = ok(&[
        "verify",
        s(&root.join("examples/hello/hello.spell")),
        "--policy",
        s(&root.join("examples/policy.toml")),
    ]);
    assert!(text.contains("rule        spell-examples"), "{text}");
    assert!(
        text.contains("sbom        CycloneDX 1.5, 1 components"),
        "{text}"
    );
}

#[test]
fn sbom_generate_refuses_purls_without_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("m.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").expect("write");
    refused(
        &[
            "sbom",
            "generate",
            s(&module),
            "--name",
            "d",
            "--version",
            "1.0.0",
            "--purl",
            "pkg:cargo/serde",
        ],
        "E-RUN-006",
    );
}
