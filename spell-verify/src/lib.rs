//! # spell-verify
//!
//! Verification of a package against a policy's trust and SBOM rules, before anything runs.
//! (Interim: only the unsigned-spell rule; signature and SBOM checks are being built.)

#![forbid(unsafe_code)]

use serde::Serialize;
use spell_core::{ErrorCode, HasCode, Package, Policy};

/// Checks packages against one policy. Build once per policy and reuse.
#[derive(Debug)]
pub struct PolicyVerifier {
    allow_unsigned: bool,
}

/// What verification established about a package.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Who signed it, if it is signed.
    pub signer: Option<String>,
    /// Findings that did not refuse the load.
    pub warnings: Vec<String>,
}

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Unsigned and the policy requires a signature.
    #[error("the spell is unsigned and the policy requires a signature")]
    SignatureMissing,
    /// Signature verification is not available yet.
    #[error("signature verification is not available in this build")]
    Unsupported,
}

impl HasCode for VerifyError {
    fn code(&self) -> ErrorCode {
        match self {
            VerifyError::SignatureMissing => ErrorCode::SignatureMissing,
            VerifyError::Unsupported => ErrorCode::SignatureInvalid,
        }
    }
}

impl PolicyVerifier {
    /// Prepares a verifier for `policy`.
    pub fn new(policy: &Policy) -> Result<Self, VerifyError> {
        Ok(PolicyVerifier { allow_unsigned: policy.allow_unsigned })
    }

    /// Verifies `package`.
    pub fn verify(&self, package: &Package) -> Result<Verification, VerifyError> {
        match (&package.bundle, self.allow_unsigned) {
            (None, true) => Ok(Verification::default()),
            (None, false) => Err(VerifyError::SignatureMissing),
            (Some(_), _) => Err(VerifyError::Unsupported),
        }
    }
}
