//! Sigstore bundle verification, offline, with `sigstore-verify`: bundle v0.1–v0.3, message
//! signatures and DSSE, Fulcio certificates or public keys, Rekor v1/v2 inclusion proofs, signed
//! entry timestamps, checkpoints and RFC 3161 timestamps.
//!
//! Every trusted root gets one prepared `sigstore_verify::Verifier`. A keyless bundle is verified
//! cryptographically against each root (certificate chain, SCT when the root has CT logs, log
//! proofs, signature), and only then is its certificate identity matched against the signer rules,
//! so the rule that matched can be reported and a `subject_regex` can be used. A key-based bundle is
//! verified with each trusted public key.

use crate::error::{BundleError, IdentityError, SignatureError, TrustError, VerifyError};
use crate::identity::SignerRules;
use crate::keys::key_fingerprint;
use base64::Engine as _;
use serde::Serialize;
use sigstore_verify::trust_root::{SIGSTORE_PRODUCTION_TRUSTED_ROOT, TrustedRoot};
use sigstore_verify::types::bundle::VerificationMaterialContent;
use sigstore_verify::types::{Artifact, ArtifactDigest, Bundle, DerPublicKey, HashAlgorithm};
use sigstore_verify::{
    CertificateError, Error as SigstoreError, PublicKeyVerificationPolicy, TransparencyLogError,
    VerificationPolicy, VerificationResult, Verifier,
};
use spell_core::SignerRule;
use std::path::{Path, PathBuf};

/// A Sigstore trusted root (`trusted_root.json`) and where it came from.
pub struct TrustRoot {
    label: String,
    root: TrustedRoot,
}

impl TrustRoot {
    /// Reads a `trusted_root.json` file. No TUF, no network.
    pub fn from_file(path: &Path) -> Result<TrustRoot, TrustError> {
        TrustRoot::read_with(path, |p| std::fs::read(p))
    }

    /// Reads a `trusted_root.json` file with `read` (which records what it read).
    pub(crate) fn read_with(
        path: &Path,
        read: impl FnOnce(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<TrustRoot, TrustError> {
        let unreadable = |source| TrustError::RootUnreadable {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read(path).map_err(unreadable)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let root = TrustedRoot::from_json(&text).map_err(|e| TrustError::RootInvalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(TrustRoot {
            label: path.display().to_string(),
            root,
        })
    }

    /// The Sigstore public-good production root embedded in `sigstore-trust-root` 0.15.1 (a
    /// snapshot: keys rotate, so deployments should ship their own file).
    pub fn production() -> Result<TrustRoot, TrustError> {
        let root = TrustedRoot::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT).map_err(|e| {
            TrustError::RootInvalid {
                path: PathBuf::from("<embedded production root>"),
                reason: e.to_string(),
            }
        })?;
        Ok(TrustRoot {
            label: "sigstore production (embedded)".into(),
            root,
        })
    }
}

/// Who signed, as established by a verified signature and a matching signer rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// Keyless: the certificate subject (email or URI). Key-based: the key's `sha256:` fingerprint.
    pub identity: String,
    /// Keyless: the OIDC issuer.
    pub issuer: Option<String>,
    /// Whether the bundle carried a certificate or a public key hint.
    pub kind: SignerKind,
    /// The signer rule that matched (its `name`, or `signers[i]`).
    pub rule: String,
    /// The verified signing time (Rekor integrated time or RFC 3161 timestamp), RFC 3339.
    pub signed_at: Option<String>,
    /// The trusted root the signature verified against.
    pub trusted_root: String,
}

/// How a bundle identifies its signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerKind {
    /// A Fulcio certificate bound to an OIDC identity.
    Keyless,
    /// A long-lived public key.
    PublicKey,
}

/// Verifies Sigstore bundles against trusted roots and signer rules. Build once, reuse.
pub struct SignatureVerifier {
    roots: Vec<(String, Verifier, bool)>,
    rules: SignerRules,
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let roots: Vec<&str> = self.roots.iter().map(|r| r.0.as_str()).collect();
        f.debug_struct("SignatureVerifier")
            .field("roots", &roots)
            .field("rules", &self.rules)
            .finish()
    }
}

impl SignatureVerifier {
    /// Prepares verifiers for `roots` and compiles `rules` (key paths go through `resolve`).
    pub fn new(
        roots: Vec<TrustRoot>,
        rules: &[SignerRule],
        resolve: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, TrustError> {
        SignatureVerifier::build(roots, rules, |p| std::fs::read(resolve(p)))
    }

    /// [`SignatureVerifier::new`] with the key files read by `read_key` (which resolves and
    /// records).
    pub(crate) fn build(
        roots: Vec<TrustRoot>,
        rules: &[SignerRule],
        read_key: impl FnMut(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Self, TrustError> {
        if roots.is_empty() {
            return Err(TrustError::NoTrustedRoot);
        }
        let roots = roots
            .into_iter()
            .map(|r| {
                let verifier = Verifier::new(&r.root).map_err(|e| TrustError::RootInvalid {
                    path: PathBuf::from(&r.label),
                    reason: e.to_string(),
                })?;
                Ok((r.label, verifier, !r.root.ctlogs.is_empty()))
            })
            .collect::<Result<_, TrustError>>()?;
        Ok(SignatureVerifier {
            roots,
            rules: SignerRules::new(rules, read_key)?,
        })
    }

    /// Verifies `bundle` (Sigstore bundle JSON) over the exact `artifact` bytes and matches the
    /// signer against the rules.
    pub fn verify(&self, artifact: &[u8], bundle: &[u8]) -> Result<Signer, VerifyError> {
        self.verify_artifact(Artifact::from_blob(artifact), bundle)
    }

    /// Like [`SignatureVerifier::verify`] for an artifact known only by its digest,
    /// `sha256:<hex>`, `sha384:<hex>` or `sha512:<hex>` (e.g. an npm tarball's sha512).
    /// Ed25519 message signatures need the bytes and fail here.
    pub fn verify_digest(&self, digest: &str, bundle: &[u8]) -> Result<Signer, VerifyError> {
        let invalid = || SignatureError::DigestInvalid {
            digest: digest.to_string(),
        };
        let (algorithm, hex_value) = digest.split_once(':').ok_or_else(invalid)?;
        let algorithm = match algorithm {
            "sha256" => HashAlgorithm::Sha2256,
            "sha384" => HashAlgorithm::Sha2384,
            "sha512" => HashAlgorithm::Sha2512,
            _ => return Err(invalid().into()),
        };
        let bytes = hex::decode(hex_value).map_err(|_| invalid())?;
        let digest = ArtifactDigest::new(algorithm, bytes).map_err(|_| invalid())?;
        self.verify_artifact(Artifact::Digest(digest), bundle)
    }

    fn verify_artifact(
        &self,
        artifact: Artifact<'_>,
        bundle: &[u8],
    ) -> Result<Signer, VerifyError> {
        let malformed = |reason: String| BundleError::Malformed { reason };
        let text = std::str::from_utf8(bundle).map_err(|e| malformed(e.to_string()))?;
        let bundle = Bundle::from_json(text).map_err(|e| malformed(e.to_string()))?;
        match &bundle.verification_material.content {
            VerificationMaterialContent::PublicKey(id) => {
                self.verify_key_based(&artifact, &bundle, &id.hint)
            }
            _ => self.verify_keyless(&artifact, &bundle),
        }
    }

    fn verify_keyless(
        &self,
        artifact: &Artifact<'_>,
        bundle: &Bundle,
    ) -> Result<Signer, VerifyError> {
        let mut errors = Vec::new();
        for (label, verifier, has_ct) in &self.roots {
            let mut policy = VerificationPolicy::any_identity();
            if !has_ct {
                // A private root without CT logs cannot check SCTs; the chain is still verified.
                policy = policy.skip_sct();
            }
            match verifier.verify(artifact.clone(), bundle, &policy) {
                Ok(result) => {
                    let identity = result
                        .identity()
                        .map(|i| i.as_str().to_string())
                        .unwrap_or_default();
                    let issuer = result.issuer().map(str::to_string);
                    let Some(rule) = self.rules.match_keyless(&identity, issuer.as_deref()) else {
                        let signer = format!(
                            "{identity} (issuer {})",
                            issuer.as_deref().unwrap_or("none")
                        );
                        return Err(IdentityError::NotTrusted {
                            signer,
                            rules: self.rules.len(),
                        }
                        .into());
                    };
                    return Ok(Signer {
                        rule: rule.to_string(),
                        signed_at: signing_time(&result),
                        trusted_root: label.clone(),
                        kind: SignerKind::Keyless,
                        identity,
                        issuer,
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        Err(most_relevant(errors))
    }

    fn verify_key_based(
        &self,
        artifact: &Artifact<'_>,
        bundle: &Bundle,
        hint: &str,
    ) -> Result<Signer, VerifyError> {
        let mut errors = Vec::new();
        for rule in self.rules.keys() {
            for (label, verifier, _) in &self.roots {
                let policy = PublicKeyVerificationPolicy::new(rule.key.clone());
                match verifier.verify(artifact.clone(), bundle, &policy) {
                    Ok(result) => {
                        return Ok(Signer {
                            identity: rule.fingerprint.clone(),
                            issuer: None,
                            kind: SignerKind::PublicKey,
                            rule: rule.label.clone(),
                            signed_at: signing_time(&result),
                            trusted_root: label.clone(),
                        });
                    }
                    Err(e) => errors.push((rule.fingerprint.as_str(), e)),
                }
            }
        }
        // The log entry names the signing key; it is unauthenticated, so it only picks the message.
        let claimed = claimed_key(bundle).map(|k| key_fingerprint(&k));
        let trusted_key = claimed
            .as_deref()
            .is_some_and(|c| self.rules.keys().iter().any(|r| r.fingerprint == c));
        if trusted_key {
            let errors = errors
                .into_iter()
                .filter(|(fp, _)| Some(*fp) == claimed.as_deref())
                .map(|(_, e)| e)
                .collect();
            return Err(most_relevant(errors));
        }
        let wrong_key = |e: &SigstoreError| matches!(e, SigstoreError::SignatureInvalid(_));
        if errors.iter().all(|(_, e)| wrong_key(e)) || claimed.is_some() {
            let signer = match claimed {
                Some(fp) => format!("public key {fp}"),
                None => format!("public key with hint {hint:?}"),
            };
            return Err(IdentityError::NotTrusted {
                signer,
                rules: self.rules.len(),
            }
            .into());
        }
        Err(most_relevant(errors.into_iter().map(|(_, e)| e).collect()))
    }
}

/// The verified signing time: Rekor's integrated time, else the first verified timestamp.
fn signing_time(result: &VerificationResult) -> Option<String> {
    result
        .integrated_time()
        .or_else(|| result.verified_timestamps().first().copied())
        .map(|t| t.to_string())
}

/// The public key a `hashedrekord` log entry names (v0.0.1 PEM key content), if any.
fn claimed_key(bundle: &Bundle) -> Option<DerPublicKey> {
    let entry = bundle.verification_material.tlog_entries.first()?;
    let body: serde_json::Value =
        serde_json::from_slice(entry.canonicalized_body.as_bytes()).ok()?;
    let content = body
        .pointer("/spec/signature/publicKey/content")?
        .as_str()?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(content)
        .ok()?;
    DerPublicKey::from_pem(std::str::from_utf8(&pem).ok()?).ok()
}

/// Picks the error to report when every root failed: the one from a root that knew the bundle's
/// log and CA beats "unknown log" / "no matching key" / "chain does not lead here" from the others.
fn most_relevant(errors: Vec<SigstoreError>) -> VerifyError {
    let wrong_root = |e: &SigstoreError| match e {
        SigstoreError::TransparencyLog(TransparencyLogError::UnknownLog { .. }) => true,
        SigstoreError::TransparencyLog(TransparencyLogError::Checkpoint(m)) => {
            m.contains("No matching")
        }
        SigstoreError::TransparencyLog(TransparencyLogError::InclusionPromise(m)) => {
            m.contains("No log key")
        }
        SigstoreError::Certificate(
            CertificateError::ChainInvalid(_) | CertificateError::NoValidAuthority { .. },
        ) => true,
        _ => false,
    };
    let mut errors = errors;
    let index = errors.iter().position(|e| !wrong_root(e)).unwrap_or(0);
    if errors.is_empty() {
        return IdentityError::NotTrusted {
            signer: "unknown".into(),
            rules: 0,
        }
        .into();
    }
    let error = errors.swap_remove(index);
    match error {
        SigstoreError::Bundle(_)
        | SigstoreError::InvalidBundle(_)
        | SigstoreError::UnsupportedBundle(_)
        | SigstoreError::Types(_) => BundleError::Malformed {
            reason: error.to_string(),
        }
        .into(),
        SigstoreError::ArtifactMismatch(_) => SignatureError::ArtifactMismatch {
            source: Box::new(error),
        }
        .into(),
        _ => SignatureError::Invalid {
            source: Box::new(error),
        }
        .into(),
    }
}
