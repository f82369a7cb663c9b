//! `Sbom::parse` on arbitrary bytes, then the verifier's SBOM, license and OSV stages over what
//! it accepts (the SBOM attached to a package whose module digest it names). Oracles: an
//! accepted SBOM names its module by lowercase hex SHA-256; a verification that passes reports
//! every component.

use spell_core::{Package, Policy, Sha256Digest};
use spell_verify::{PolicyVerifier, Sbom};
use std::sync::OnceLock;

/// A verifier with license rules and an OSV database (two RustSec records in `fixtures/osv`).
fn verifier() -> &'static PolicyVerifier {
    static VERIFIER: OnceLock<PolicyVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let mut policy = Policy::from_toml(
            r#"
            allow_unsigned = true
            [sbom]
            required = true
            license_allow = ["MIT", "Apache-2.0", "BSD-3-Clause"]
            license_deny = ["GPL-3.0-only"]
            osv_database = "osv"
            refuse_vulnerabilities = "high"
            "#,
        )
        .expect("the fuzz policy parses");
        policy.base_dir = Some(crate::fixtures::path(""));
        PolicyVerifier::new(&policy).expect("the fuzz verifier builds")
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(sbom) = Sbom::parse(data) else { return };
    let subject = sbom.subject_sha256.as_deref().map(|h| {
        h.parse::<Sha256Digest>()
            .expect("the module digest is SHA-256 hex")
    });
    if let Some(h) = &sbom.subject_sha256 {
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "digest {h:?} is not lowercase hex"
        );
    }
    sbom.components.iter().for_each(|c| drop(c.label()));
    let mut package: Package = crate::fixtures::hello_package();
    package.manifest.module.sha256 = subject.unwrap_or(package.manifest.module.sha256);
    package.sbom = Some(data.to_vec());
    package.bundle = None;
    if let Ok(v) = verifier().verify(&package) {
        let report = v
            .sbom
            .expect("a verified package with an SBOM has a report");
        assert_eq!(report.components, sbom.components.len());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_sbom_verifies() {
        let package = crate::fixtures::hello_package();
        let sbom = package.sbom.clone().expect("the example has an SBOM");
        super::run(&sbom);
        assert!(super::verifier().verify(&package).is_ok());
    }
}
