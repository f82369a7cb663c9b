//! SBOM vectors pass or fail as `shared/testdata/sbom/PROVENANCE.md` lists, and SBOM rules
//! (required, module binding, licenses) refuse through the policy verifier.

use crate::signing::{fixture, package, sbom_for};
use crate::{read, testdata};
use serde_json::Value;
use spell_core::{ErrorCode, HasCode};
use spell_verify::{LicenseError, Sbom, SbomError, VerifyError};

#[rstest::rstest]
#[case::trivy_alpine("valid_sbom-1.4_trivy-0.36.1_alpine-3.13.1.cdx.json", Some(15))]
#[case::spec_1_4("valid-bom-1.4.json", None)]
#[case::spec_1_5("valid-bom-1.5.json", None)]
#[case::hashes("valid-component-hashes-1.5.json", None)]
#[case::license_expression("valid-license-expression-1.5.json", None)]
#[case::vulnerability("valid-vulnerability-1.5.json", None)]
#[case::laravel("laravel-7.12.0.bom.1.4.json", Some(62))]
#[case::synthetic("synthetic-cargo-1.5.cdx.json", Some(8))]
#[case::cbom_1_6_fallback("cbom-algorithm.bom.1.6.json", None)]
fn valid_sboms_are_read(#[case] file: &str, #[case] components: Option<usize>) {
    let Some(path) = testdata(&format!("sbom/{file}")) else {
        return;
    };
    let sbom = Sbom::parse(&read(&path)).unwrap_or_else(|e| panic!("{file}: {e}"));
    if let Some(n) = components {
        assert_eq!(sbom.components.len(), n, "{file}");
    }
}

#[rstest::rstest]
#[case::bad_hash("invalid-hash-sha256-1.5.json", "hashes")]
#[case::bad_license_id("invalid-license-id-1.5.json", "license")]
#[case::bad_serial("invalid-serialnumber-1.5.json", "serial_number")]
#[case::bad_component_type("invalid-component-type-1.5.json", "component_type")]
fn invalid_sboms_are_refused_with_their_validation_errors(#[case] file: &str, #[case] field: &str) {
    let Some(path) = testdata(&format!("sbom/{file}")) else {
        return;
    };
    let err = Sbom::parse(&read(&path)).expect_err(file);
    let SbomError::Invalid { errors, .. } = &err else {
        panic!("{file}: expected validation errors, got {err}")
    };
    assert!(
        errors.iter().any(|e| e.contains(field)),
        "{file}: {errors:?}"
    );
    assert_eq!(VerifyError::from(err).code(), ErrorCode::SbomInvalid);
}

#[test]
fn bad_bom_format_is_a_parse_error() {
    let Some(path) = testdata("sbom/invalid-bomformat-1.5.json") else {
        return;
    };
    assert!(matches!(
        Sbom::parse(&read(&path)),
        Err(SbomError::Parse { .. })
    ));
}

#[rstest::rstest]
#[case::bad_license_id(
    r#"{"type":"library","name":"x","licenses":[{"license":{"id":"Not-A-License"}}]}"#
)]
#[case::bad_hash(r#"{"type":"library","name":"x","hashes":[{"alg":"SHA-256","content":"abc"}]}"#)]
#[case::no_name(r#"{"type":"library"}"#)]
fn invalid_1_6_components_are_refused_by_the_fallback(#[case] component: &str) {
    let doc =
        format!(r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{component}]}}"#);
    assert!(
        matches!(Sbom::parse(doc.as_bytes()), Err(SbomError::Invalid { .. })),
        "{component}"
    );
}

#[test]
fn unsupported_spec_versions_are_refused() {
    let doc = br#"{"bomFormat":"CycloneDX","specVersion":"2.0"}"#;
    assert!(matches!(Sbom::parse(doc), Err(SbomError::Parse { .. })));
}

#[test]
fn sbom_rules_refuse_through_the_policy_verifier() {
    let f = fixture();
    let module = b"\0asm\x01\0\0\0";
    let required = f.policy("[sbom]\nrequired = true");
    let allow_unsigned = |mut p: spell_core::Policy| {
        p.allow_unsigned = true;
        p
    };
    let required = allow_unsigned(required);
    let none = package(
        br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#,
        module,
        None,
    );
    assert_eq!(
        f.verify(&required, &none).expect_err("missing").code(),
        ErrorCode::SbomMissing
    );
    let other = package(
        br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#,
        module,
        Some(&sbom_for(b"other module")),
    );
    let err = f.verify(&required, &other).expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::SbomModuleMismatch, "{err}");
    let Some(path) = testdata("sbom/invalid-license-id-1.5.json") else {
        return;
    };
    let invalid = package(
        br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#,
        module,
        Some(&read(&path)),
    );
    assert_eq!(
        f.verify(&required, &invalid).expect_err("invalid").code(),
        ErrorCode::SbomInvalid
    );
}

#[test]
fn license_refusals_list_every_denied_license() {
    let f = fixture();
    let module = b"\0asm\x01\0\0\0";
    let Some(path) = testdata("sbom/synthetic-cargo-1.5.cdx.json") else {
        return;
    };
    let mut sbom: Value = serde_json::from_slice(&read(&path)).expect("json");
    sbom["metadata"]["component"]["hashes"] = serde_json::json!([{"alg": "SHA-256", "content": spell_core::Sha256Digest::of(module).to_hex()}]);
    let sbom = serde_json::to_vec(&sbom).expect("json");
    let pkg = package(
        br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#,
        module,
        Some(&sbom),
    );
    let mut policy = f.policy("[sbom]\nlicense_allow = [\"Apache-2.0\"]");
    policy.allow_unsigned = true;
    let err = f.verify(&policy, &pkg).expect_err("licenses");
    assert_eq!(err.code(), ErrorCode::LicenseDenied);
    let VerifyError::License(LicenseError::Denied { findings }) = &err else {
        panic!("{err:?}")
    };
    let subjects: Vec<_> = findings.iter().map(|f| f.subject.as_str()).collect();
    // The spell's MIT, tokio's MIT twice (two versions), and serde's MIT; "MIT OR Apache-2.0" and Apache-2.0 pass.
    assert_eq!(
        subjects,
        [
            "spell demo",
            "pkg:cargo/tokio@1.12.0",
            "pkg:cargo/tokio@1.13.1",
            "pkg:cargo/serde@1.0.200"
        ],
        "{err}"
    );
}
