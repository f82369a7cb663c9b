//! [`PolicyVerifier`]: a policy's trust and SBOM rules, prepared once, applied to packages.
//!
//! Stages, in order (the first refusing stage wins; a stage's refusal lists all its findings):
//! 1. signature: unsigned spells load only with `allow_unsigned`; a bundle is verified over the
//!    exact `spell.json` bytes against the trusted roots and must match a signer rule;
//! 2. SBOM: required if `sbom.required`; when present it must be valid CycloneDX and its
//!    `metadata.component` must carry the module's sha256;
//! 3. licenses: the spell's license expression and every component's licenses;
//! 4. vulnerabilities: component purls against the OSV database; findings at or above
//!    `sbom.refuse_vulnerabilities` refuse, others and informational advisories are warnings.

use crate::bundle::{SignatureVerifier, Signer, TrustRoot};
use crate::error::{
    BundleError, IdentityError, LicenseError, SbomError, TrustError, VerifyError,
    VulnerabilityError,
};
use crate::license::{LicensePolicy, LicenseVerdict};
use crate::osv::{Finding, OsvDatabase};
use crate::sbom::Sbom;
use serde::Serialize;
use spell_core::{Package, Policy, VulnerabilityThreshold};

/// Checks packages against one policy. Build once per policy (this parses the trusted roots,
/// prepares the verifiers, compiles the regexes and indexes the OSV database) and reuse.
#[derive(Debug)]
pub struct PolicyVerifier {
    allow_unsigned: bool,
    signatures: Option<SignatureVerifier>,
    sbom_required: bool,
    licenses: LicensePolicy,
    osv: Option<OsvDatabase>,
    threshold: VulnerabilityThreshold,
}

/// What verification established about a package.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Who signed it, if it is signed and the signature was checked.
    pub signer: Option<Signer>,
    /// What the SBOM says, if the package has one.
    pub sbom: Option<SbomReport>,
    /// Findings that did not refuse the load.
    pub warnings: Vec<String>,
}

/// SBOM findings that did not refuse the load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SbomReport {
    /// The SBOM's CycloneDX version.
    pub spec_version: String,
    /// How many components it lists.
    pub components: usize,
    /// Vulnerabilities below the policy's threshold.
    pub vulnerabilities: Vec<Finding>,
    /// Informational advisories (unmaintained, unsound, …).
    pub informational: Vec<Finding>,
}

impl PolicyVerifier {
    /// Prepares a verifier for `policy`. Paths resolve through `policy.resolve`.
    pub fn new(policy: &Policy) -> Result<Self, VerifyError> {
        let trust = &policy.trust;
        let signatures = if trust.signers.is_empty() {
            None
        } else {
            let roots = trust
                .trusted_roots
                .iter()
                .map(|p| TrustRoot::from_file(&policy.resolve(p)))
                .collect::<Result<Vec<_>, TrustError>>()?;
            Some(SignatureVerifier::new(roots, &trust.signers, |p| {
                policy.resolve(p)
            })?)
        };
        let osv = policy
            .sbom
            .osv_database
            .as_ref()
            .map(|p| OsvDatabase::load(&policy.resolve(p)))
            .transpose()?;
        Ok(PolicyVerifier {
            allow_unsigned: policy.allow_unsigned,
            signatures,
            sbom_required: policy.sbom.required,
            licenses: LicensePolicy::new(&policy.sbom.license_allow, &policy.sbom.license_deny),
            osv,
            threshold: policy.sbom.refuse_vulnerabilities,
        })
    }

    /// Verifies `package`: signature, SBOM, licenses, vulnerabilities.
    pub fn verify(&self, package: &Package) -> Result<Verification, VerifyError> {
        let mut out = Verification::default();
        match (&package.bundle, &self.signatures) {
            (Some(bundle), Some(signatures)) => {
                out.signer = Some(signatures.verify(&package.manifest_bytes, bundle)?)
            }
            (None, _) if self.allow_unsigned => out
                .warnings
                .push("the spell is unsigned (allowed by allow_unsigned)".into()),
            (None, _) => return Err(BundleError::Missing.into()),
            (Some(_), None) if self.allow_unsigned => {
                out.warnings
                    .push("the signature was not checked: the policy has no trust.signers".into());
            }
            (Some(_), None) => {
                return Err(IdentityError::NotTrusted {
                    signer: "unknown (not checked)".into(),
                    rules: 0,
                }
                .into());
            }
        }
        let sbom = match &package.sbom {
            Some(bytes) => Some(self.check_sbom(package, bytes)?),
            None if self.sbom_required => return Err(SbomError::Missing.into()),
            None => None,
        };
        self.check_licenses(package, sbom.as_ref(), &mut out.warnings)?;
        if let Some(sbom) = sbom {
            out.sbom = Some(self.check_vulnerabilities(&sbom, &mut out.warnings)?);
        }
        Ok(out)
    }

    fn check_sbom(&self, package: &Package, bytes: &[u8]) -> Result<Sbom, SbomError> {
        let sbom = Sbom::parse(bytes)?;
        let expected = package.manifest.module.sha256.to_hex();
        if sbom.subject_sha256.as_deref() != Some(expected.as_str()) {
            return Err(SbomError::ModuleMismatch {
                expected,
                found: sbom.subject_sha256,
            });
        }
        Ok(sbom)
    }

    fn check_licenses(
        &self,
        package: &Package,
        sbom: Option<&Sbom>,
        warnings: &mut Vec<String>,
    ) -> Result<(), LicenseError> {
        if self.licenses.is_empty() {
            return Ok(());
        }
        let spell = format!("spell {}", package.manifest.name);
        let mut subjects = vec![(spell, package.manifest.license.clone())];
        for c in sbom.iter().flat_map(|s| &s.components) {
            subjects.extend(c.licenses.iter().map(|l| (c.label(), l.clone())));
        }
        let mut findings = Vec::new();
        for (subject, license) in subjects {
            match self.licenses.check(&subject, &license) {
                LicenseVerdict::Accepted => {}
                LicenseVerdict::Warning(w) => warnings.push(w),
                LicenseVerdict::Refused(f) => findings.push(f),
            }
        }
        if findings.is_empty() {
            Ok(())
        } else {
            Err(LicenseError::Denied { findings })
        }
    }

    fn check_vulnerabilities(
        &self,
        sbom: &Sbom,
        warnings: &mut Vec<String>,
    ) -> Result<SbomReport, VulnerabilityError> {
        let mut report = SbomReport {
            spec_version: sbom.spec_version.clone(),
            components: sbom.components.len(),
            ..Default::default()
        };
        let Some(db) = &self.osv else {
            return Ok(report);
        };
        if db.counts().1 > 0 {
            warnings.push(format!(
                "osv database: {} files were not OSV records and were skipped",
                db.counts().1
            ));
        }
        let mut refusing = Vec::new();
        for finding in sbom
            .components
            .iter()
            .filter_map(|c| c.purl.as_deref())
            .flat_map(|p| db.findings(p))
        {
            if finding.informational.is_some() {
                warnings.push(format!("advisory: {finding}"));
                report.informational.push(finding);
            } else if finding.severity.refuses(self.threshold) {
                refusing.push(finding);
            } else {
                warnings.push(format!(
                    "vulnerability below the refusal threshold: {finding}"
                ));
                report.vulnerabilities.push(finding);
            }
        }
        if refusing.is_empty() {
            Ok(report)
        } else {
            Err(VulnerabilityError::Found {
                threshold: self.threshold,
                findings: refusing,
            })
        }
    }
}
