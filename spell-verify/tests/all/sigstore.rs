//! Every vector in `shared/testdata/sigstore` behaves as its PROVENANCE.md says.

use crate::{flip_b64_at, read, testdata};
use serde_json::Value;
use spell_core::{ErrorCode, HasCode, SignerRule};
use spell_verify::{SignatureError, SignatureVerifier, SignerKind, TrustRoot, VerifyError};
use std::path::Path;

const GH_OAUTH: &str = "https://github.com/login/oauth";
const GH_ACTIONS: &str = "https://token.actions.githubusercontent.com";
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const SIGSTORE_JS: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";

fn rule(name: &str, issuer: &str, subject: Option<&str>, regex: Option<&str>) -> SignerRule {
    SignerRule {
        name: Some(name.into()),
        issuer: Some(issuer.into()),
        subject: subject.map(Into::into),
        subject_regex: regex.map(Into::into),
        public_key: None,
    }
}

fn verifier(root: &str, rules: &[SignerRule]) -> Option<SignatureVerifier> {
    let path = testdata(&format!("sigstore/trusted_roots/{root}.trusted_root.json"))?;
    let root = TrustRoot::from_file(&path).expect("trusted root");
    Some(SignatureVerifier::new(vec![root], rules, Path::to_path_buf).expect("verifier"))
}

/// An artifact and its bundle, both under `shared/testdata/sigstore`.
fn pair(artifact: &str, bundle: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (a, b) = (
        testdata(&format!("sigstore/{artifact}"))?,
        testdata(&format!("sigstore/{bundle}"))?,
    );
    Some((read(&a), read(&b)))
}

#[rstest::rstest]
#[case::bundle_v3(
    "sigstore-python/bundle_v3.txt",
    "sigstore-python/bundle_v3.txt.sigstore",
    "staging",
    "william@yossarian.net",
    GH_OAUTH
)]
#[case::bundle_v3_alt(
    "sigstore-python/bundle_v3_alt.txt",
    "sigstore-python/bundle_v3_alt.txt.sigstore",
    "staging",
    "william@yossarian.net",
    GH_OAUTH
)]
#[case::bundle_v01(
    "sigstore-python/bundle.txt",
    "sigstore-python/bundle.txt.sigstore",
    "staging",
    "a@tny.town",
    GH_OAUTH
)]
#[case::rekor_v2_tsa(
    "sigstore-python/staging-rekor-v2.txt",
    "sigstore-python/staging-rekor-v2.txt.sigstore.json",
    "staging",
    "jku@goto.fi",
    GH_OAUTH
)]
#[case::dsse_rekor_v2(
    "a.txt",
    "sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json",
    "staging",
    BEACON,
    GH_ACTIONS
)]
#[case::cosign_v3(
    "sigstore-rust/cosign-v3-blob.txt",
    "sigstore-rust/cosign-v3-blob.sigstore.json",
    "production",
    "w.vollprecht@gmail.com",
    GH_OAUTH
)]
fn vector_passes_with_its_root_and_fails_with_the_other(
    #[case] artifact: &str,
    #[case] bundle: &str,
    #[case] root: &str,
    #[case] subject: &str,
    #[case] issuer: &str,
) {
    let Some((artifact, bundle)) = pair(artifact, bundle) else {
        return;
    };
    let rules = [rule("maker", issuer, Some(subject), None)];
    let Some(good) = verifier(root, &rules) else {
        return;
    };
    let signer = good
        .verify(&artifact, &bundle)
        .expect("passes with its own root");
    assert_eq!(
        (
            signer.identity.as_str(),
            signer.issuer.as_deref(),
            signer.rule.as_str()
        ),
        (subject, Some(issuer), "maker")
    );
    assert_eq!(signer.kind, SignerKind::Keyless);
    assert!(signer.signed_at.is_some(), "a verified signing time");

    let other = if root == "staging" {
        "production"
    } else {
        "staging"
    };
    let Some(wrong_root) = verifier(other, &rules) else {
        return;
    };
    let err = wrong_root
        .verify(&artifact, &bundle)
        .expect_err("fails with the other root");
    assert_eq!(err.code(), ErrorCode::SignatureInvalid, "{err}");

    let mut tampered = artifact.clone();
    tampered.push(b'!');
    let err = good
        .verify(&tampered, &bundle)
        .expect_err("tampered artifact");
    assert_eq!(err.code(), ErrorCode::SignatureArtifactMismatch, "{err}");

    for rules in [
        [rule("x", issuer, Some("someone@else.dev"), None)],
        [rule(
            "x",
            "https://accounts.google.com",
            Some(subject),
            None,
        )],
    ] {
        let Some(v) = verifier(root, &rules) else {
            return;
        };
        let err = v
            .verify(&artifact, &bundle)
            .expect_err("wrong identity or issuer");
        assert_eq!(err.code(), ErrorCode::SignerNotTrusted, "{err}");
        assert!(
            err.to_string().contains(subject),
            "the refusal names the signer: {err}"
        );
    }
}

#[test]
fn cve_2022_36056_entry_mismatch_is_refused() {
    let Some((a, b)) = pair(
        "sigstore-python/bundle_cve_2022_36056.txt",
        "sigstore-python/bundle_cve_2022_36056.txt.sigstore",
    ) else {
        return;
    };
    let Some(v) = verifier("staging", &[rule("any", GH_OAUTH, None, Some(".*"))]) else {
        return;
    };
    let err = v.verify(&a, &b).expect_err("entry mismatch");
    assert_eq!(err.code(), ErrorCode::SignatureInvalid, "{err}");
    let VerifyError::Signature(SignatureError::Invalid { source }) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            **source,
            sigstore_verify::Error::TransparencyLog(
                sigstore_verify::TransparencyLogError::EntryMismatch(_)
            )
        ),
        "{source:?}"
    );
}

#[test]
fn dsse_companion_text_is_not_the_signed_subject() {
    let Some((a, b)) = pair(
        "sigstore-python/a.dsse.staging-rekor-v2.txt",
        "sigstore-python/a.dsse.staging-rekor-v2.txt.sigstore.json",
    ) else {
        return;
    };
    let Some(v) = verifier("staging", &[rule("beacon", GH_ACTIONS, Some(BEACON), None)]) else {
        return;
    };
    let err = v.verify(&a, &b).expect_err("artifact mismatch");
    assert_eq!(err.code(), ErrorCode::SignatureArtifactMismatch, "{err}");
}

#[test]
fn npm_provenance_verifies_by_its_sha512_subject() {
    let Some(b) = testdata("sigstore/sigstore-rust/sigstore.js@2.0.0-provenance.sigstore.json")
    else {
        return;
    };
    let digest = "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c";
    let Some(v) = verifier(
        "production",
        &[rule(
            "sigstore-js",
            GH_ACTIONS,
            None,
            Some("https://github.com/sigstore/sigstore-js/.*"),
        )],
    ) else {
        return;
    };
    let signer = v
        .verify_digest(digest, &read(&b))
        .expect("provenance verifies");
    assert_eq!(
        (signer.identity.as_str(), signer.rule.as_str()),
        (SIGSTORE_JS, "sigstore-js")
    );
    let wrong = digest.replace("46d4", "46d5");
    assert_eq!(
        v.verify_digest(&wrong, &read(&b))
            .expect_err("other digest")
            .code(),
        ErrorCode::SignatureArtifactMismatch
    );
    assert_eq!(
        v.verify_digest("md5:00", &read(&b))
            .expect_err("bad digest")
            .code(),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn subject_regex_rules_match_the_whole_subject_and_report_the_rule() {
    let Some((a, b)) = pair(
        "sigstore-rust/cosign-v3-blob.txt",
        "sigstore-rust/cosign-v3-blob.sigstore.json",
    ) else {
        return;
    };
    let rules = [
        rule("other", GH_OAUTH, Some("x@y.z"), None),
        rule("gmail", GH_OAUTH, None, Some(r".*@gmail\.com")),
    ];
    let Some(v) = verifier("production", &rules) else {
        return;
    };
    assert_eq!(v.verify(&a, &b).expect("regex rule").rule, "gmail");
    let Some(v) = verifier(
        "production",
        &[rule("partial", GH_OAUTH, None, Some("gmail"))],
    ) else {
        return;
    };
    assert_eq!(
        v.verify(&a, &b).expect_err("unanchored part").code(),
        ErrorCode::SignerNotTrusted
    );
}

#[test]
fn the_embedded_production_root_verifies_production_bundles() {
    let Some((a, b)) = pair(
        "sigstore-rust/cosign-v3-blob.txt",
        "sigstore-rust/cosign-v3-blob.sigstore.json",
    ) else {
        return;
    };
    let root = TrustRoot::production().expect("embedded root");
    let v = SignatureVerifier::new(
        vec![root],
        &[rule("w", GH_OAUTH, Some("w.vollprecht@gmail.com"), None)],
        Path::to_path_buf,
    )
    .expect("verifier");
    assert!(v.verify(&a, &b).is_ok());
}

/// One field of a real production bundle changed per case.
#[rstest::rstest]
#[case::certificate(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["certificate"]["rawBytes"], 400), ErrorCode::SignatureInvalid)]
#[case::signature(|b: &mut Value| flip_b64_at(&mut b["messageSignature"]["signature"], 20), ErrorCode::SignatureInvalid)]
#[case::message_digest(|b: &mut Value| flip_b64_at(&mut b["messageSignature"]["messageDigest"]["digest"], 5), ErrorCode::SignatureArtifactMismatch)]
#[case::integrated_time(|b: &mut Value| b["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1764787004".into(), ErrorCode::SignatureInvalid)]
#[case::signed_entry_timestamp(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"], 20), ErrorCode::SignatureInvalid)]
#[case::proof_hash(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][3], 5), ErrorCode::SignatureInvalid)]
#[case::body(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"], 40), ErrorCode::SignatureInvalid)]
#[case::log_id(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"], 5), ErrorCode::SignatureInvalid)]
#[case::tsa_timestamp(|b: &mut Value| flip_b64_at(&mut b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"], 900), ErrorCode::SignatureInvalid)]
#[case::no_certificate(|b: &mut Value| b["verificationMaterial"]["certificate"] = Value::Null, ErrorCode::BundleInvalid)]
#[case::no_tlog_entries(|b: &mut Value| b["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]), ErrorCode::BundleInvalid)]
fn mutated_production_bundle_is_refused_with_its_code(
    #[case] mutate: fn(&mut Value),
    #[case] code: ErrorCode,
) {
    let Some((a, b)) = pair(
        "sigstore-rust/cosign-v3-blob.txt",
        "sigstore-rust/cosign-v3-blob.sigstore.json",
    ) else {
        return;
    };
    let Some(v) = verifier(
        "production",
        &[rule("w", GH_OAUTH, Some("w.vollprecht@gmail.com"), None)],
    ) else {
        return;
    };
    let mut bundle: Value = serde_json::from_slice(&b).expect("json");
    mutate(&mut bundle);
    let err = v
        .verify(&a, &serde_json::to_vec(&bundle).expect("json"))
        .expect_err("refused");
    assert_eq!(err.code(), code, "{err}");
}
