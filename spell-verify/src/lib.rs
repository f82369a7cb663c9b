//! # spell-verify
//!
//! Verification of a package against a policy's trust and SBOM rules, offline, before anything
//! runs: Sigstore bundles (with `sigstore-verify`), signer identity rules, CycloneDX SBOMs, SPDX
//! license rules and an offline OSV database. Also offline key-based signing ([`SigningKey`]) and
//! SBOM generation ([`SbomBuilder`]).
//!
//! ```
//! use spell_core::{Package, PackageLimits, Policy};
//! use spell_verify::{PolicyVerifier, SigningKey};
//! use std::time::SystemTime;
//!
//! // A maker's key, and what a host needs to verify it offline.
//! let dir = tempfile::tempdir()?;
//! let key = SigningKey::generate()?;
//! let now = SystemTime::now();
//! std::fs::write(dir.path().join("trusted_root.json"), key.trusted_root_json(now)?)?;
//! std::fs::write(dir.path().join("maker.pub"), key.public_key_pem()?)?;
//! let mut policy = Policy::from_toml(r#"
//!     [trust]
//!     trusted_roots = ["trusted_root.json"]
//!     signers = [{ name = "maker", public_key = "maker.pub" }]
//! "#)?;
//! policy.base_dir = Some(dir.path().to_path_buf());
//!
//! let manifest = br#"{"name":"demo","version":"0.1.0","license":"MIT"}"#;
//! let limits = PackageLimits::default();
//! let unsigned = Package::read(&Package::pack(manifest, b"\0asm\x01\0\0\0", None, None)?, &limits)?;
//! let signed = Package::read(&key.sign_package(&unsigned, now)?, &limits)?;
//!
//! let verifier = PolicyVerifier::new(&policy)?; // once per policy
//! let verification = verifier.verify(&signed)?;
//! assert_eq!(verification.signer.map(|s| s.rule).as_deref(), Some("maker"));
//! assert!(verifier.verify(&unsigned).is_err()); // unsigned, and allow_unsigned is false
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::panic)]

mod bundle;
pub mod error;
mod generate;
mod identity;
mod inputs;
mod keys;
mod license;
mod osv;
mod purl;
mod sbom;
mod severity;
mod verifier;

pub use bundle::{SignatureVerifier, Signer, SignerKind, TrustRoot};
pub use error::{
    BundleError, GenerateError, IdentityError, LicenseError, RevocationError, SbomError,
    SignatureError, SigningError, TrustError, VerifyError, VulnerabilityError,
};
pub use generate::SbomBuilder;
pub use keys::SigningKey;
pub use license::{LicenseFinding, LicensePolicy, LicenseVerdict};
pub use osv::{Finding, OsvDatabase};
pub use sbom::{Component, Sbom};
pub use severity::{Severity, cvss3_base_score};
pub use verifier::{PolicyVerifier, SbomReport, SignatureCheck, Verification};

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn verifiers_are_send_and_sync() {
        assert_send_sync::<super::PolicyVerifier>();
        assert_send_sync::<super::Verification>();
    }
}
