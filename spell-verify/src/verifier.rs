//! [`PolicyVerifier`]: a policy's trust and SBOM rules, prepared once, applied to packages.
//!
//! Stages, in order (the first refusing stage wins; a stage's refusal lists all its findings):
//! 1. signature ([`PolicyVerifier::verify_signature`]): a digest in `trust.revoked_digests` is
//!    refused; unsigned spells load only with `allow_unsigned`; a bundle is verified over the
//!    exact `spell.json` bytes against the trusted roots, must match a signer rule, and its signer
//!    and signing time must not be revoked (`revoked_signers`, `revoked_before`);
//! 2. SBOM: required if `sbom.required`; when present it must be valid CycloneDX and its
//!    `metadata.component` must carry the module's sha256;
//! 3. licenses: the spell's license expression and every component's licenses;
//! 4. vulnerabilities: component purls against the OSV database; findings at or above
//!    `sbom.refuse_vulnerabilities` refuse, others and informational advisories are warnings.
//!
//! Stages 2 to 4 ([`PolicyVerifier::read_sbom`], then [`PolicyVerifier::verify_contents`]) do
//! not depend on the trust material, so a cache keyed by [`PolicyVerifier::trust_digest`] keeps
//! signature checks across an OSV database update, which changes only
//! [`PolicyVerifier::contents_digest`]; and reading the SBOM depends on the package alone.

use crate::bundle::{SignatureVerifier, Signer, TrustRoot};
use crate::error::{
    BundleError, IdentityError, LicenseError, RevocationError, SbomError, TrustError, VerifyError,
    VulnerabilityError,
};
use crate::inputs::InputFiles;
use crate::license::{LicensePolicy, LicenseVerdict};
use crate::osv::{Finding, OsvDatabase};
use crate::sbom::Sbom;
use serde::Serialize;
use spell_core::{Package, Policy, Sha256Digest, VulnerabilityThreshold};

/// Checks packages against one policy. Build once per policy (this parses the trusted roots,
/// prepares the verifiers, compiles the regexes and indexes the OSV database) and reuse while
/// [`PolicyVerifier::inputs_changed`] is false.
#[derive(Debug)]
pub struct PolicyVerifier {
    allow_unsigned: bool,
    signatures: Option<SignatureVerifier>,
    revoked_digests: Vec<Sha256Digest>,
    revoked_signers: Vec<String>,
    revoked_before: Option<jiff::Timestamp>,
    sbom_required: bool,
    licenses: LicensePolicy,
    osv: Option<OsvDatabase>,
    threshold: VulnerabilityThreshold,
    trust_files: InputFiles,
    osv_files: InputFiles,
    trust_digest: Sha256Digest,
    contents_digest: Sha256Digest,
}

/// What the signature stage established; [`PolicyVerifier::verify_contents`] completes it.
#[derive(Debug, Clone, Default)]
pub struct SignatureCheck {
    /// Who signed, if the package is signed and the signature was checked.
    pub signer: Option<Signer>,
    /// Findings that did not refuse the load.
    pub warnings: Vec<String>,
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
        let mut trust_files = InputFiles::default();
        let signatures = if trust.signers.is_empty() {
            None
        } else {
            let roots = trust
                .trusted_roots
                .iter()
                .map(|p| TrustRoot::read_with(&policy.resolve(p), |p| trust_files.read(p)))
                .collect::<Result<Vec<_>, TrustError>>()?;
            Some(SignatureVerifier::build(roots, &trust.signers, |p| {
                trust_files.read(&policy.resolve(p))
            })?)
        };
        let revoked_before = trust
            .revoked_before
            .as_deref()
            .map(|t| {
                t.parse::<jiff::Timestamp>()
                    .map_err(|e| TrustError::RevokedBefore {
                        value: t.to_string(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let mut osv_files = InputFiles::default();
        let osv = policy
            .sbom
            .osv_database
            .as_ref()
            .map(|p| OsvDatabase::load_from(&policy.resolve(p), &mut osv_files))
            .transpose()?;
        // Each stage's verdicts depend on its policy section, the folder paths resolve from,
        // and the bytes of the files it read.
        let digest = |section: serde_json::Value, files: &InputFiles| {
            let mut bytes = serde_json::to_vec(&(section, &policy.base_dir)).unwrap_or_default();
            bytes.extend_from_slice(&files.digest().0);
            Sha256Digest::of(&bytes)
        };
        let trust_digest = digest(
            serde_json::json!({"allow_unsigned": policy.allow_unsigned, "trust": trust}),
            &trust_files,
        );
        let contents_digest = digest(serde_json::json!({"sbom": policy.sbom}), &osv_files);
        Ok(PolicyVerifier {
            allow_unsigned: policy.allow_unsigned,
            signatures,
            revoked_digests: trust.revoked_digests.clone(),
            revoked_signers: trust.revoked_signers.clone(),
            revoked_before,
            sbom_required: policy.sbom.required,
            licenses: LicensePolicy::new(&policy.sbom.license_allow, &policy.sbom.license_deny),
            osv,
            threshold: policy.sbom.refuse_vulnerabilities,
            trust_files,
            osv_files,
            trust_digest,
            contents_digest,
        })
    }

    /// What [`PolicyVerifier::verify_signature`] depends on: the policy's `allow_unsigned` and
    /// `trust` section and the contents of the trusted roots and keys it names.
    pub fn trust_digest(&self) -> Sha256Digest {
        self.trust_digest
    }

    /// What [`PolicyVerifier::verify_contents`] depends on besides the signature check: the
    /// policy's `sbom` section and the contents of the OSV database.
    pub fn contents_digest(&self) -> Sha256Digest {
        self.contents_digest
    }

    /// Whether the files this verifier read (trusted roots, keys, the OSV database) may have
    /// changed on disk since; if so, build a new verifier. Costs a `stat` per file (and a folder
    /// listing for an OSV folder), plus reading again a file changed within 2 s of its last read.
    pub fn inputs_changed(&self) -> bool {
        self.trust_files.changed() || self.osv_files.changed()
    }

    /// Verifies `package`: signature, SBOM, licenses, vulnerabilities.
    pub fn verify(&self, package: &Package) -> Result<Verification, VerifyError> {
        let signature = self.verify_signature(package)?;
        let sbom = PolicyVerifier::read_sbom(package)?;
        self.verify_contents(package, signature, sbom.as_ref())
    }

    /// The signature stage: revoked digests, the signature and signer rules, revoked signers and
    /// signing times.
    pub fn verify_signature(&self, package: &Package) -> Result<SignatureCheck, VerifyError> {
        let digest = package.digest();
        if self.revoked_digests.contains(&digest) {
            return Err(RevocationError::Digest {
                digest: digest.to_hex(),
            }
            .into());
        }
        let mut out = SignatureCheck::default();
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
        if let Some(signer) = &out.signer {
            self.check_revoked(signer)?;
        }
        Ok(out)
    }

    /// The SBOM, license and vulnerability stages, after `signature`.
    ///
    /// `sbom` is what [`PolicyVerifier::read_sbom`] gave for `package`.
    pub fn verify_contents(
        &self,
        package: &Package,
        signature: SignatureCheck,
        sbom: Option<&Sbom>,
    ) -> Result<Verification, VerifyError> {
        let mut out = Verification {
            signer: signature.signer,
            sbom: None,
            warnings: signature.warnings,
        };
        if sbom.is_none() && self.sbom_required {
            return Err(SbomError::Missing.into());
        }
        self.check_licenses(package, sbom, &mut out.warnings)?;
        if let Some(sbom) = sbom {
            out.sbom = Some(self.check_vulnerabilities(sbom, &mut out.warnings)?);
        }
        Ok(out)
    }

    /// The package's SBOM, if it has one: valid CycloneDX whose `metadata.component` carries the
    /// module's sha256. Depends on the package alone, so it can be kept across policy and OSV
    /// database changes (parsing and validating is most of what the SBOM stages cost).
    pub fn read_sbom(package: &Package) -> Result<Option<Sbom>, VerifyError> {
        let Some(bytes) = &package.sbom else {
            return Ok(None);
        };
        let sbom = Sbom::parse(bytes)?;
        let expected = package.manifest.module.sha256.to_hex();
        if sbom.subject_sha256.as_deref() != Some(expected.as_str()) {
            return Err(SbomError::ModuleMismatch {
                expected,
                found: sbom.subject_sha256,
            }
            .into());
        }
        Ok(Some(sbom))
    }

    fn check_revoked(&self, signer: &Signer) -> Result<(), RevocationError> {
        if let Some(entry) = self
            .revoked_signers
            .iter()
            .find(|r| **r == signer.rule || **r == signer.identity)
        {
            return Err(RevocationError::Signer {
                signer: signer.identity.clone(),
                rule: signer.rule.clone(),
                entry: entry.clone(),
            });
        }
        if let Some(before) = self.revoked_before {
            let signed_at = signer.signed_at.as_deref();
            let after = signed_at
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t >= before);
            if !after {
                return Err(RevocationError::SignedBefore {
                    signed_at: signed_at.map(str::to_string),
                    revoked_before: before.to_string(),
                });
            }
        }
        Ok(())
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
