//! Offline, key-based signing: a maker's signing key plus the key of a private transparency log.
//!
//! Sigstore verifiers accept a key-based bundle only with a transparency-log entry (or an RFC 3161
//! timestamp) signed by a log in the trusted root. Offline there is no Rekor, so a [`SigningKey`]
//! carries two ECDSA P-256 keys: the *signer* key that signs `spell.json`, and a *log* key that
//! plays a one-entry Rekor log for each signature (signed entry timestamp, Merkle inclusion proof,
//! signed checkpoint). [`SigningKey::trusted_root_json`] publishes the log key as a Sigstore
//! trusted root, so bundles from [`SigningKey::sign`] verify with the unmodified `sigstore-verify`
//! verifier used for public Sigstore bundles, via a `public_key` signer rule.
//!
//! What this does not give: transparency. The log is private and has one entry per signature;
//! whoever holds the key file can sign. Keep it like any release key.

use crate::error::SigningError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};
use sigstore_verify::crypto::{KeyPair, compute_key_hint};
use sigstore_verify::types::DerPublicKey;
use spell_core::Package;
use std::time::{SystemTime, UNIX_EPOCH};

/// The checkpoint key name of the local log (must not contain spaces).
const LOG_KEY_NAME: &str = "spell-local-log";

/// A maker's signing key and the key of its private transparency log.
pub struct SigningKey {
    signer: KeyPair,
    signer_pkcs8: Vec<u8>,
    log: KeyPair,
    log_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new signer key and log key.
    pub fn generate() -> Result<SigningKey, SigningError> {
        let rng = SystemRandom::new();
        let pkcs8 = || {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|e| SigningError::Crypto {
                    reason: e.to_string(),
                })
        };
        let (signer, log) = (pkcs8()?, pkcs8()?);
        SigningKey::from_pkcs8(signer, log)
    }

    /// Reads a key file written by [`SigningKey::to_pem`].
    pub fn from_pem(text: &str) -> Result<SigningKey, SigningError> {
        let blocks = pem_blocks(text, "PRIVATE KEY")?;
        let [signer, log]: [Vec<u8>; 2] =
            blocks
                .try_into()
                .map_err(|b: Vec<_>| SigningError::KeyInvalid {
                    reason: format!("found {} PRIVATE KEY blocks", b.len()),
                })?;
        SigningKey::from_pkcs8(signer, log)
    }

    fn from_pkcs8(signer_pkcs8: Vec<u8>, log_pkcs8: Vec<u8>) -> Result<SigningKey, SigningError> {
        let load = |der: &[u8]| {
            KeyPair::from_pkcs8_der(der).map_err(|e| SigningError::KeyInvalid {
                reason: e.to_string(),
            })
        };
        Ok(SigningKey {
            signer: load(&signer_pkcs8)?,
            log: load(&log_pkcs8)?,
            signer_pkcs8,
            log_pkcs8,
        })
    }

    /// The key file: the signer key, then the log key, as PEM PKCS#8 blocks with comments.
    pub fn to_pem(&self) -> String {
        format!(
            "# Spell signing key (ECDSA P-256, PKCS#8). Keep it secret.\n{}\
             # Key of the private transparency log in the matching trusted_root.json.\n{}",
            pem("PRIVATE KEY", &self.signer_pkcs8),
            pem("PRIVATE KEY", &self.log_pkcs8)
        )
    }

    /// The signer's public key, DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> Result<DerPublicKey, SigningError> {
        self.signer.public_key_der().map_err(crypto)
    }

    /// The signer's public key as PEM, for a `public_key` signer rule.
    pub fn public_key_pem(&self) -> Result<String, SigningError> {
        Ok(self.public_key()?.to_pem())
    }

    /// `sha256:<hex>` of the signer's public key (DER), as reported by verification.
    pub fn fingerprint(&self) -> String {
        self.public_key()
            .map(|k| key_fingerprint(&k))
            .unwrap_or_default()
    }

    /// A Sigstore `trusted_root.json` whose only transparency log is this key's log, valid from
    /// `valid_from` (signatures must be made at or after it).
    pub fn trusted_root_json(&self, valid_from: SystemTime) -> Result<String, SigningError> {
        let log_key = self.log.public_key_der().map_err(crypto)?;
        let log_id = Sha256::digest(log_key.as_bytes());
        let root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": format!("https://spell.invalid/log/{}", hex::encode(&log_id[..8])),
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(log_key.as_bytes()),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": rfc3339(valid_from)? }
                },
                "logId": { "keyId": B64.encode(log_id) }
            }],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": []
        });
        serde_json::to_string_pretty(&root).map_err(|e| SigningError::Crypto {
            reason: e.to_string(),
        })
    }

    /// Signs a package's exact `spell.json` bytes and returns the package with the bundle
    /// attached (what `spell sign` writes).
    pub fn sign_package(&self, package: &Package, at: SystemTime) -> Result<Vec<u8>, SigningError> {
        Ok(package.with_bundle(&self.sign(&package.manifest_bytes, at)?))
    }

    /// Signs `artifact` at time `at`: a Sigstore bundle v0.3 (JSON bytes) with a message signature,
    /// the public key hint, and a `hashedrekord` entry in this key's one-entry log.
    pub fn sign(&self, artifact: &[u8], at: SystemTime) -> Result<Vec<u8>, SigningError> {
        let digest = Sha256::digest(artifact);
        let signature = self.signer.sign(artifact).map_err(crypto)?;
        let public_key = self.public_key()?;
        let body = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
                "signature": {
                    "content": B64.encode(signature.as_bytes()),
                    "publicKey": { "content": B64.encode(public_key.to_pem()) }
                }
            }
        }))
        .map_err(|e| SigningError::Crypto {
            reason: e.to_string(),
        })?;
        let log_key = self.log.public_key_der().map_err(crypto)?;
        let log_id = Sha256::digest(log_key.as_bytes());
        let time = at
            .duration_since(UNIX_EPOCH)
            .map_err(|e| SigningError::Crypto {
                reason: e.to_string(),
            })?
            .as_secs();
        // Signed entry timestamp: the log's signature over the canonical (sorted, compact) entry.
        let set_payload = format!(
            r#"{{"body":"{}","integratedTime":{time},"logID":"{}","logIndex":0}}"#,
            B64.encode(&body),
            hex::encode(log_id)
        );
        let set = self.log.sign(set_payload.as_bytes()).map_err(crypto)?;
        // A one-leaf Merkle tree: the root is the leaf hash (RFC 6962).
        let root_hash = Sha256::new()
            .chain_update([0u8])
            .chain_update(&body)
            .finalize();
        let origin = format!("{LOG_KEY_NAME} - {}", hex::encode(&log_id[..8]));
        let note = format!("{origin}\n1\n{}\n", B64.encode(root_hash));
        let note_sig = self.log.sign(note.as_bytes()).map_err(crypto)?;
        let mut sig_blob = compute_key_hint(&log_key).as_slice().to_vec();
        sig_blob.extend_from_slice(note_sig.as_bytes());
        let checkpoint = format!("{note}\n\u{2014} {LOG_KEY_NAME} {}\n", B64.encode(sig_blob));
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "publicKey": { "hint": self.fingerprint() },
                "tlogEntries": [{
                    "logIndex": "0",
                    "logId": { "keyId": B64.encode(log_id) },
                    "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                    "integratedTime": time.to_string(),
                    "inclusionPromise": { "signedEntryTimestamp": B64.encode(set.as_bytes()) },
                    "inclusionProof": {
                        "logIndex": "0",
                        "rootHash": B64.encode(root_hash),
                        "treeSize": "1",
                        "hashes": [],
                        "checkpoint": { "envelope": checkpoint }
                    },
                    "canonicalizedBody": B64.encode(&body)
                }]
            },
            "messageSignature": {
                "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
                "signature": B64.encode(signature.as_bytes())
            }
        });
        serde_json::to_vec_pretty(&bundle).map_err(|e| SigningError::Crypto {
            reason: e.to_string(),
        })
    }
}

/// `sha256:<hex>` of a DER public key.
pub(crate) fn key_fingerprint(key: &DerPublicKey) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

fn crypto(e: impl std::fmt::Display) -> SigningError {
    SigningError::Crypto {
        reason: e.to_string(),
    }
}

/// Whole seconds, like the log's integrated times, so a root made at `t` covers a signature at `t`.
fn rfc3339(t: SystemTime) -> Result<String, SigningError> {
    let secs = t.duration_since(UNIX_EPOCH).map_err(crypto)?.as_secs();
    Ok(jiff::Timestamp::from_second(secs as i64)
        .map_err(crypto)?
        .to_string())
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, SigningError> {
    let (begin, end) = (
        format!("-----BEGIN {label}-----"),
        format!("-----END {label}-----"),
    );
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let stop = after.find(&end).ok_or_else(|| SigningError::KeyInvalid {
            reason: format!("unterminated {label} block"),
        })?;
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(B64.decode(body).map_err(|e| SigningError::KeyInvalid {
            reason: e.to_string(),
        })?);
        rest = &after[stop + end.len()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_keeps_the_fingerprint() {
        let key = SigningKey::generate().expect("generate");
        let again = SigningKey::from_pem(&key.to_pem()).expect("read back");
        assert_eq!(again.fingerprint(), key.fingerprint());
        assert!(key.fingerprint().starts_with("sha256:"));
    }

    #[test]
    fn key_files_without_two_keys_are_refused() {
        let key = SigningKey::generate().expect("generate");
        let one = pem("PRIVATE KEY", &key.signer_pkcs8);
        assert!(SigningKey::from_pem(&one).is_err());
        assert!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
