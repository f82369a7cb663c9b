//! The synthetic SBOM against the RustSec OSV records gives exactly the expected findings, from a
//! folder and from an osv.dev-style zip, and the policy threshold decides what refuses.

use crate::signing::{fixture, package};
use crate::{read, testdata};
use serde_json::Value;
use spell_core::{ErrorCode, HasCode, Policy};
use spell_verify::{OsvDatabase, Sbom, Severity, VerifyError, VulnerabilityError};
use std::io::Write;

const EXPECTED: [(&str, &str, Option<&str>); 5] = [
    ("pkg:cargo/time@0.1.45", "RUSTSEC-2020-0071", None),
    ("pkg:cargo/openssl@0.10.54", "RUSTSEC-2023-0044", None),
    ("pkg:cargo/tokio@1.12.0", "RUSTSEC-2021-0124", None),
    ("pkg:cargo/h2@0.4.1", "RUSTSEC-2024-0003", None),
    (
        "pkg:cargo/rust-crypto@0.2.36",
        "RUSTSEC-2016-0005",
        Some("unmaintained"),
    ),
];

fn findings(db: &OsvDatabase, sbom: &Sbom) -> Vec<(String, String, Option<String>)> {
    sbom.components
        .iter()
        .filter_map(|c| c.purl.as_deref())
        .flat_map(|p| db.findings(p))
        .map(|f| (f.purl, f.id, f.informational))
        .collect()
}

fn expected() -> Vec<(String, String, Option<String>)> {
    EXPECTED
        .iter()
        .map(|(p, id, i)| (p.to_string(), id.to_string(), i.map(str::to_string)))
        .collect()
}

#[test]
fn synthetic_sbom_gives_exactly_the_expected_findings() {
    let (Some(dir), Some(sbom)) = (
        testdata("osv"),
        testdata("sbom/synthetic-cargo-1.5.cdx.json"),
    ) else {
        return;
    };
    let db = OsvDatabase::load(&dir).expect("load folder");
    assert_eq!(
        db.counts(),
        (6, 0),
        "six records, the withdrawn one included"
    );
    let sbom = Sbom::parse(&read(&sbom)).expect("sbom");
    assert_eq!(findings(&db, &sbom), expected());
    let time = db.findings("pkg:cargo/time@0.1.45").remove(0);
    assert_eq!((time.severity, time.score), (Severity::Medium, Some(6.2)));
    assert_eq!(time.aliases, ["CVE-2020-26235", "GHSA-wcg3-cvx6-7396"]);
}

#[test]
fn osv_dev_zip_export_gives_the_same_findings() {
    let (Some(dir), Some(sbom)) = (
        testdata("osv/crates"),
        testdata("sbom/synthetic-cargo-1.5.cdx.json"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let zip_path = tmp.path().join("all.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("create"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for path in files {
        zip.start_file(
            path.file_name().and_then(|n| n.to_str()).expect("name"),
            options,
        )
        .expect("start");
        zip.write_all(&read(&path)).expect("write");
    }
    zip.start_file("README.json", options).expect("start");
    zip.write_all(b"not an OSV record").expect("write");
    zip.finish().expect("finish");
    let db = OsvDatabase::load(&zip_path).expect("load zip");
    assert_eq!(db.counts(), (6, 1));
    assert_eq!(
        findings(&db, &Sbom::parse(&read(&sbom)).expect("sbom")),
        expected()
    );
}

fn bound_synthetic_package(module: &[u8]) -> Option<spell_core::Package> {
    let path = testdata("sbom/synthetic-cargo-1.5.cdx.json")?;
    let mut sbom: Value = serde_json::from_slice(&read(&path)).expect("json");
    sbom["metadata"]["component"]["hashes"] = serde_json::json!([{"alg": "SHA-256", "content": spell_core::Sha256Digest::of(module).to_hex()}]);
    Some(package(
        br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#,
        module,
        Some(&serde_json::to_vec(&sbom).expect("json")),
    ))
}

fn osv_policy(f: &crate::signing::Fixture, threshold: &str) -> Option<Policy> {
    let osv = testdata("osv")?;
    let mut p = f.policy(&format!(
        "[sbom]\nosv_database = {:?}\nrefuse_vulnerabilities = \"{threshold}\"",
        osv.display().to_string()
    ));
    p.allow_unsigned = true;
    Some(p)
}

#[rstest::rstest]
#[case::any("any", 4)]
#[case::medium("medium", 4)]
// Only time's record has a CVSS vector (6.2, medium); the other three have no score and count as
// critical, so they refuse at every threshold but `none`.
#[case::high("high", 3)]
#[case::critical("critical", 3)]
#[case::none("none", 0)]
fn the_threshold_decides_what_refuses(#[case] threshold: &str, #[case] refusing: usize) {
    let f = fixture();
    let module = b"\0asm\x01\0\0\0";
    let (Some(pkg), Some(policy)) = (bound_synthetic_package(module), osv_policy(&f, threshold))
    else {
        return;
    };
    match f.verify(&policy, &pkg) {
        Ok(v) => {
            assert_eq!(refusing, 0, "{threshold}");
            let report = v.sbom.expect("report");
            assert_eq!(report.vulnerabilities.len(), 4);
            assert_eq!(report.informational.len(), 1);
            assert!(
                v.warnings
                    .iter()
                    .any(|w| w.contains("RUSTSEC-2016-0005") && w.contains("unmaintained")),
                "{:?}",
                v.warnings
            );
        }
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::VulnerabilityFound);
            let VerifyError::Vulnerability(VulnerabilityError::Found { findings, .. }) = &err
            else {
                panic!("{err:?}")
            };
            assert_eq!(findings.len(), refusing, "{threshold}: {err}");
            assert!(
                findings.iter().all(|f| f.informational.is_none()),
                "informational advisories never refuse"
            );
        }
    }
}
