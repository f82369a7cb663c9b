//! Local key-based signing (the `spell sign` code path) verified by the policy verifier, and
//! negative tests that each change one thing in a signed package.

use rstest::rstest;
use serde_json::Value;
use spell_core::{ErrorCode, HasCode, Package, PackageLimits, Policy};
use spell_verify::{PolicyVerifier, SbomBuilder, SignerKind, SigningKey, VerifyError};
use std::time::{Duration, Instant, SystemTime};

const MANIFEST: &[u8] = br#"{"name":"demo","version":"0.1.0","license":"Apache-2.0"}"#;
const MODULE: &[u8] = b"\0asm\x01\0\0\0";

/// A maker's key, a host policy trusting it, and a package signed with it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: SigningKey,
    pub signed: Package,
}

pub fn sbom_for(module: &[u8]) -> Vec<u8> {
    SbomBuilder::new("demo", "0.1.0", module)
        .purl("pkg:cargo/serde@1.0.200")
        .expect("purl")
        .build()
}

pub fn package(manifest: &[u8], module: &[u8], sbom: Option<&[u8]>) -> Package {
    let bytes = Package::pack(manifest, module, sbom, None).expect("pack");
    Package::read(&bytes, &PackageLimits::default()).expect("read")
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::generate().expect("keygen");
    // The root starts a minute ago, so the signature time below is inside it.
    let start = SystemTime::now() - Duration::from_secs(60);
    std::fs::write(
        dir.path().join("trusted_root.json"),
        key.trusted_root_json(start).expect("root"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("maker.pub"),
        key.public_key_pem().expect("pem"),
    )
    .expect("write");
    let unsigned = package(MANIFEST, MODULE, Some(&sbom_for(MODULE)));
    let signed = Package::read(
        &key.sign_package(&unsigned, SystemTime::now())
            .expect("sign"),
        &PackageLimits::default(),
    )
    .expect("read");
    Fixture { dir, key, signed }
}

impl Fixture {
    pub fn policy(&self, extra: &str) -> Policy {
        let text = format!(
            "[trust]\ntrusted_roots = [\"trusted_root.json\"]\nsigners = [{{ name = \"maker\", public_key = \"maker.pub\" }}]\n{extra}"
        );
        let mut policy = Policy::from_toml(&text).expect("policy");
        policy.base_dir = Some(self.dir.path().to_path_buf());
        policy
    }

    pub fn verify(
        &self,
        policy: &Policy,
        package: &Package,
    ) -> Result<spell_verify::Verification, VerifyError> {
        PolicyVerifier::new(policy)
            .expect("verifier")
            .verify(package)
    }

    fn bundle(&self) -> &[u8] {
        self.signed.bundle.as_deref().expect("signed")
    }
}

#[test]
fn locally_signed_package_verifies_and_reports_the_signer() {
    let f = fixture();
    let v = f
        .verify(&f.policy("[sbom]\nrequired = true"), &f.signed)
        .expect("verifies");
    let signer = v.signer.expect("signer");
    assert_eq!(signer.kind, SignerKind::PublicKey);
    assert_eq!(signer.rule, "maker");
    assert_eq!(signer.identity, f.key.fingerprint());
    assert!(signer.signed_at.is_some());
    assert_eq!(v.sbom.expect("sbom report").components, 1);
}

#[test]
fn timing_of_policy_preparation_and_verification() {
    let f = fixture();
    let Some(osv) = crate::testdata("osv") else {
        return;
    };
    let policy = f.policy(&format!(
        "[sbom]\nrequired = true\nlicense_deny = [\"GPL-3.0-only\"]\nosv_database = {:?}",
        osv.display().to_string()
    ));
    let t = Instant::now();
    let verifier = PolicyVerifier::new(&policy).expect("verifier");
    let new = t.elapsed();
    let n = 50;
    let t = Instant::now();
    for _ in 0..n {
        verifier.verify(&f.signed).expect("verifies");
    }
    let per = t.elapsed() / n;
    eprintln!(
        "PolicyVerifier::new: {new:?}; verify (signed, SBOM, licenses, OSV): {per:?} per package"
    );
}

#[rstest]
#[case::module("module")]
#[case::sbom("sbom")]
#[case::manifest("manifest")]
fn package_changed_after_signing_is_refused(#[case] what: &str) {
    let f = fixture();
    let other_module = b"\0asm\x01\0\0\0\0".to_vec();
    let other_sbom = SbomBuilder::new("demo", "0.1.0", MODULE)
        .purl("pkg:cargo/time@0.1.45")
        .expect("purl")
        .build();
    let mut manifest: Value = serde_json::from_slice(MANIFEST).expect("json");
    let (module, sbom) = match what {
        "module" => (other_module.clone(), sbom_for(&other_module)),
        "sbom" => (MODULE.to_vec(), other_sbom),
        _ => {
            manifest["description"] = "changed after signing".into();
            (MODULE.to_vec(), sbom_for(MODULE))
        }
    };
    // Re-packing pins the new members in spell.json; the old bundle is carried over.
    let repacked = package(
        &serde_json::to_vec(&manifest).expect("json"),
        &module,
        Some(&sbom),
    );
    let tampered =
        Package::read(&repacked.with_bundle(f.bundle()), &PackageLimits::default()).expect("read");
    let err = f.verify(&f.policy(""), &tampered).expect_err("refused");
    assert_eq!(
        err.code(),
        ErrorCode::SignatureArtifactMismatch,
        "{what}: {err}"
    );
}

#[test]
fn member_swapped_without_repinning_is_refused_by_the_package_reader() {
    let f = fixture();
    let swapped = Package::assemble(
        &f.signed.manifest_bytes,
        b"\0asm\x01\0\0\x02",
        f.signed.sbom.as_deref(),
        Some(f.bundle()),
    );
    let err = Package::read(&swapped, &PackageLimits::default()).expect_err("digest pin");
    assert_eq!(err.code(), ErrorCode::PackageDigestMismatch);
}

fn flip_b64(v: &mut Value) {
    crate::flip_b64_at(v, 0);
}

#[rstest]
#[case::signature(|b: &mut Value| flip_b64(&mut b["messageSignature"]["signature"]), ErrorCode::SignatureInvalid)]
#[case::message_digest(|b: &mut Value| flip_b64(&mut b["messageSignature"]["messageDigest"]["digest"]), ErrorCode::SignatureArtifactMismatch)]
#[case::integrated_time(|b: &mut Value| b["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1".into(), ErrorCode::SignatureInvalid)]
#[case::signed_entry_timestamp(|b: &mut Value| flip_b64(&mut b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"]), ErrorCode::SignatureInvalid)]
// The root hash is cross-checked with the checkpoint structurally, before any signature.
#[case::root_hash(|b: &mut Value| flip_b64(&mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["rootHash"]), ErrorCode::BundleInvalid)]
#[case::tree_size(|b: &mut Value| b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["treeSize"] = "2".into(), ErrorCode::SignatureInvalid)]
#[case::checkpoint(|b: &mut Value| {
    let e = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"];
    *e = e.as_str().expect("text").replacen("\n1\n", "\n2\n", 1).into();
}, ErrorCode::SignatureInvalid)]
#[case::body(|b: &mut Value| flip_b64(&mut b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]), ErrorCode::SignatureInvalid)]
#[case::log_id(|b: &mut Value| flip_b64(&mut b["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"]), ErrorCode::SignatureInvalid)]
#[case::no_tlog_entry(|b: &mut Value| b["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]), ErrorCode::BundleInvalid)]
#[case::media_type(|b: &mut Value| b["mediaType"] = "application/octet-stream".into(), ErrorCode::BundleInvalid)]
#[case::not_a_bundle(|b: &mut Value| *b = Value::String("x".into()), ErrorCode::BundleInvalid)]
fn mutated_bundle_is_refused_with_its_code(
    #[case] mutate: fn(&mut Value),
    #[case] code: ErrorCode,
) {
    let f = fixture();
    let mut bundle: Value = serde_json::from_slice(f.bundle()).expect("json");
    mutate(&mut bundle);
    let mutated = Package::read(
        &f.signed
            .with_bundle(&serde_json::to_vec(&bundle).expect("json")),
        &PackageLimits::default(),
    )
    .expect("read");
    let err = f.verify(&f.policy(""), &mutated).expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
}

#[test]
fn the_public_key_hint_is_not_trusted_but_not_needed() {
    let f = fixture();
    let mut bundle: Value = serde_json::from_slice(f.bundle()).expect("json");
    bundle["verificationMaterial"]["publicKey"]["hint"] = "someone else".into();
    let pkg = Package::read(
        &f.signed
            .with_bundle(&serde_json::to_vec(&bundle).expect("json")),
        &PackageLimits::default(),
    )
    .expect("read");
    assert!(f.verify(&f.policy(""), &pkg).is_ok());
}

#[test]
fn another_makers_key_is_not_trusted_and_is_named() {
    let f = fixture();
    let other = fixture();
    let err = f
        .verify(&f.policy(""), &other.signed)
        .expect_err("other maker");
    assert_eq!(err.code(), ErrorCode::SignerNotTrusted, "{err}");
    assert!(err.to_string().contains(&other.key.fingerprint()), "{err}");
}

#[test]
fn trusted_key_with_a_log_missing_from_the_roots_is_refused() {
    let f = fixture();
    let other = fixture();
    // Trust other's key, but only f's log: the log entry cannot be verified.
    std::fs::copy(
        other.dir.path().join("maker.pub"),
        f.dir.path().join("maker.pub"),
    )
    .expect("copy");
    let err = f
        .verify(&f.policy(""), &other.signed)
        .expect_err("unknown log");
    assert_eq!(err.code(), ErrorCode::SignatureInvalid, "{err}");
    // The public-good production root does not know local logs either.
    let Some(production) = crate::testdata("sigstore/trusted_roots/production.trusted_root.json")
    else {
        return;
    };
    let mut prod = other.policy("");
    prod.trust.trusted_roots = vec![production];
    assert_eq!(
        other
            .verify(&prod, &other.signed)
            .expect_err("production root")
            .code(),
        ErrorCode::SignatureInvalid
    );
}

#[test]
fn unsigned_spells_need_allow_unsigned() {
    let f = fixture();
    let unsigned = package(MANIFEST, MODULE, None);
    assert_eq!(
        f.verify(&f.policy(""), &unsigned)
            .expect_err("unsigned")
            .code(),
        ErrorCode::SignatureMissing
    );
    let mut allow = f.policy("");
    allow.allow_unsigned = true;
    let v = f.verify(&allow, &unsigned).expect("allowed");
    assert!(v.signer.is_none() && !v.warnings.is_empty());
}

#[test]
fn signed_spells_without_signer_rules_are_refused_unless_unsigned_is_allowed() {
    let f = fixture();
    let mut policy = Policy::default();
    assert_eq!(
        f.verify(&policy, &f.signed).expect_err("no rules").code(),
        ErrorCode::SignerNotTrusted
    );
    policy.allow_unsigned = true;
    assert!(f.verify(&policy, &f.signed).expect("not checked").warnings[0].contains("not checked"));
}

#[test]
fn broken_trust_material_fails_policy_preparation() {
    let f = fixture();
    let code = |p: &Policy| PolicyVerifier::new(p).expect_err("refused").code();
    let mut p = f.policy("");
    p.trust.trusted_roots = vec!["missing.json".into()];
    assert_eq!(code(&p), ErrorCode::TrustRootInvalid);
    std::fs::write(f.dir.path().join("bad.json"), "{}").expect("write");
    p.trust.trusted_roots = vec!["bad.json".into()];
    assert_eq!(code(&p), ErrorCode::TrustRootInvalid);
    p.trust.trusted_roots.clear();
    assert_eq!(code(&p), ErrorCode::PolicyInvalid);
    let mut p = f.policy("");
    p.sbom.osv_database = Some("no-such-db".into());
    assert_eq!(code(&p), ErrorCode::OsvDatabaseInvalid);
}
