//! Why a package was refused, layered by verification stage.
//!
//! [`VerifyError`] is transparent over one error kind per stage: [`TrustError`] (the policy's own
//! trust material), [`BundleError`], [`SignatureError`], [`IdentityError`], [`SbomError`],
//! [`LicenseError`] and [`VulnerabilityError`]. Every kind maps to a catalog code through
//! [`HasCode`]. Refusals that come from rules list every finding, not only the first.

use crate::license::LicenseFinding;
use crate::osv::Finding;
use spell_core::{ErrorCode, HasCode, VulnerabilityThreshold};
use std::fmt;
use std::path::PathBuf;

/// Why a package was refused, or a policy's trust material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The policy's trusted roots, keys or rules could not be loaded.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The package's signature bundle is missing or malformed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The signature verified but no signer rule matches the signer.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The SBOM is missing, invalid, or does not describe the module.
    #[error(transparent)]
    Sbom(#[from] SbomError),
    /// A license is denied or not allowed.
    #[error(transparent)]
    License(#[from] LicenseError),
    /// Components have vulnerabilities the policy refuses.
    #[error(transparent)]
    Vulnerability(#[from] VulnerabilityError),
    /// The spell, its signer or its signature was revoked by the policy.
    #[error(transparent)]
    Revoked(#[from] RevocationError),
}

/// The policy's trust material could not be loaded (raised by `PolicyVerifier::new`).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A trusted root file could not be read.
    #[error("trusted root {path}: {source}")]
    RootUnreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A trusted root is not a usable Sigstore `trusted_root.json`.
    #[error("trusted root {path} is not a valid sigstore trusted root: {reason}")]
    RootInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Signer rules are configured but no trusted root to verify signatures against.
    #[error(
        "trust.signers needs at least one trust.trusted_roots entry to verify signatures against"
    )]
    NoTrustedRoot,
    /// A signer rule's public key could not be read or parsed.
    #[error("signer rule {rule}: public key {path} must be a PEM public key: {reason}")]
    KeyInvalid {
        /// The rule's label.
        rule: String,
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A signer rule's `subject_regex` does not compile.
    #[error("signer rule {rule}: subject_regex is not a valid regular expression: {source}")]
    SubjectRegex {
        /// The rule's label.
        rule: String,
        /// The cause.
        #[source]
        source: Box<regex::Error>,
    },
    /// A signer rule is neither keyless (issuer plus subject or subject_regex) nor key-based.
    #[error("signer rule {rule} needs `public_key`, or `issuer` with `subject` or `subject_regex`")]
    RuleIncomplete {
        /// The rule's label.
        rule: String,
    },
    /// `trust.revoked_before` is not an RFC 3339 time.
    #[error("trust.revoked_before {value:?} must be an RFC 3339 time: {reason}")]
    RevokedBefore {
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The OSV database could not be read.
    #[error("osv database {path}: {reason}")]
    OsvDatabase {
        /// The folder or zip.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The signature bundle is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The package has no bundle and the policy requires a signature.
    #[error("the spell is unsigned and the policy requires a signature (allow_unsigned = false)")]
    Missing,
    /// The bundle is not a Sigstore bundle this verifier can read.
    #[error("signature bundle is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

/// The signature did not verify against any trusted root.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The signature, certificate chain, log proof or timestamp is invalid.
    #[error("signature must verify against a trusted root: {source}")]
    Invalid {
        /// What sigstore-verify reported (for the root that knew the bundle's log).
        #[source]
        source: Box<sigstore_verify::Error>,
    },
    /// The bundle signs other bytes than this `spell.json`.
    #[error("signature must cover the exact spell.json bytes: {source}")]
    ArtifactMismatch {
        /// What sigstore-verify reported.
        #[source]
        source: Box<sigstore_verify::Error>,
    },
    /// A digest given instead of the artifact is not `sha256:`, `sha384:` or `sha512:` hex.
    #[error(
        "artifact digest {digest:?} must be sha256:, sha384: or sha512: followed by the hex digest"
    )]
    DigestInvalid {
        /// The digest as given.
        digest: String,
    },
}

/// The signature verified, but the signer is not trusted by the policy.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No signer rule matches.
    #[error("signer {signer} matches none of the {rules} trust.signers rules")]
    NotTrusted {
        /// Who signed (identity and issuer, or public key fingerprint).
        signer: String,
        /// How many rules were tried.
        rules: usize,
    },
}

/// The SBOM is missing, invalid, or describes another module.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The policy requires an SBOM and the package has none.
    #[error("the spell has no SBOM and the policy requires one (sbom.required = true)")]
    Missing,
    /// Not JSON, or not readable as CycloneDX.
    #[error("sbom must be a CycloneDX JSON document: {reason}")]
    Parse {
        /// What is wrong.
        reason: String,
    },
    /// CycloneDX, but invalid against its own spec version.
    #[error("sbom must be valid CycloneDX {spec_version}: {}", errors.join("; "))]
    Invalid {
        /// The document's `specVersion`.
        spec_version: String,
        /// Every validation error, as `path: message`.
        errors: Vec<String>,
    },
    /// `metadata.component` does not carry the module's sha256.
    #[error("sbom metadata.component must carry the module sha256 {expected}, found {}", found.as_deref().unwrap_or("none"))]
    ModuleMismatch {
        /// The module's sha256.
        expected: String,
        /// The SHA-256 hash in `metadata.component`, if any.
        found: Option<String>,
    },
}

/// Licenses denied or not allowed by the policy.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// At least one license refuses the load.
    #[error(
        "licenses must satisfy sbom.license_allow / sbom.license_deny: {}",
        list(findings)
    )]
    Denied {
        /// Every refused license.
        findings: Vec<LicenseFinding>,
    },
}

/// The policy's `trust.revoked_*` lists refuse the spell.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The spell's digest is in `trust.revoked_digests`.
    #[error("spell sha256:{digest} is withdrawn: it is listed in trust.revoked_digests")]
    Digest {
        /// The spell's digest (hex).
        digest: String,
    },
    /// The signer is in `trust.revoked_signers`.
    #[error("signer {signer} (rule {rule}) is revoked: trust.revoked_signers lists {entry:?}")]
    Signer {
        /// Who signed (identity or key fingerprint).
        signer: String,
        /// The signer rule that matched.
        rule: String,
        /// The entry of `revoked_signers` that names it.
        entry: String,
    },
    /// The signature was made before `trust.revoked_before`, or has no verified time.
    #[error("signature made {} must be at or after trust.revoked_before = {revoked_before}", signed_at.as_deref().unwrap_or("at no verified time"))]
    SignedBefore {
        /// The verified signing time, if any.
        signed_at: Option<String>,
        /// The policy's cut-off.
        revoked_before: String,
    },
}

/// Known vulnerabilities at or above the policy's threshold.
#[derive(Debug, thiserror::Error)]
pub enum VulnerabilityError {
    /// At least one vulnerability refuses the load.
    #[error(
        "components must have no known vulnerability at sbom.refuse_vulnerabilities = {threshold:?}: {}",
        list(findings)
    )]
    Found {
        /// The policy's threshold.
        threshold: VulnerabilityThreshold,
        /// Every refusing vulnerability.
        findings: Vec<Finding>,
    },
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl HasCode for VerifyError {
    fn code(&self) -> ErrorCode {
        match self {
            VerifyError::Trust(e) => e.code(),
            VerifyError::Bundle(BundleError::Missing) => ErrorCode::SignatureMissing,
            VerifyError::Bundle(BundleError::Malformed { .. }) => ErrorCode::BundleInvalid,
            VerifyError::Signature(SignatureError::Invalid { .. }) => ErrorCode::SignatureInvalid,
            VerifyError::Signature(SignatureError::ArtifactMismatch { .. }) => {
                ErrorCode::SignatureArtifactMismatch
            }
            VerifyError::Signature(SignatureError::DigestInvalid { .. }) => {
                ErrorCode::InvalidArgument
            }
            VerifyError::Identity(_) => ErrorCode::SignerNotTrusted,
            VerifyError::Sbom(SbomError::Missing) => ErrorCode::SbomMissing,
            VerifyError::Sbom(SbomError::Parse { .. } | SbomError::Invalid { .. }) => {
                ErrorCode::SbomInvalid
            }
            VerifyError::Sbom(SbomError::ModuleMismatch { .. }) => ErrorCode::SbomModuleMismatch,
            VerifyError::License(_) => ErrorCode::LicenseDenied,
            VerifyError::Vulnerability(_) => ErrorCode::VulnerabilityFound,
            VerifyError::Revoked(RevocationError::Digest { .. }) => ErrorCode::DigestRevoked,
            VerifyError::Revoked(RevocationError::Signer { .. }) => ErrorCode::SignerRevoked,
            VerifyError::Revoked(RevocationError::SignedBefore { .. }) => {
                ErrorCode::SignatureRevoked
            }
        }
    }
}

impl HasCode for TrustError {
    fn code(&self) -> ErrorCode {
        match self {
            TrustError::RootUnreadable { .. }
            | TrustError::RootInvalid { .. }
            | TrustError::KeyInvalid { .. } => ErrorCode::TrustRootInvalid,
            TrustError::NoTrustedRoot
            | TrustError::SubjectRegex { .. }
            | TrustError::RuleIncomplete { .. }
            | TrustError::RevokedBefore { .. } => ErrorCode::PolicyInvalid,
            TrustError::OsvDatabase { .. } => ErrorCode::OsvDatabaseInvalid,
        }
    }
}

/// Signing failed (`spell keygen`, `spell sign`).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The key file is not a Spell signing key.
    #[error(
        "signing key must hold two PEM PKCS#8 ECDSA P-256 private keys (signer, then log): {reason}"
    )]
    KeyInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The cryptographic backend failed.
    #[error("signing failed: {reason}")]
    Crypto {
        /// What failed.
        reason: String,
    },
}

impl HasCode for SigningError {
    fn code(&self) -> ErrorCode {
        ErrorCode::SigningFailed
    }
}

/// An SBOM could not be generated (`spell sbom generate`).
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The `Cargo.lock` is not valid TOML.
    #[error("Cargo.lock must be valid TOML: {reason}")]
    CargoLock {
        /// What is wrong.
        reason: String,
    },
    /// A component argument is not a package URL with a version.
    #[error("component {purl:?} must be a package URL with a version (pkg:type/name@version)")]
    Purl {
        /// The argument.
        purl: String,
    },
}

impl HasCode for GenerateError {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidArgument
    }
}
