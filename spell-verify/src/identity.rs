//! Signer rules, compiled once per policy: keyless identities (OIDC issuer plus subject, exact or
//! a regular expression over the whole subject) and public keys for key-based bundles.
//!
//! A rule is reported by its `name`, or as `signers[i]` when it has none.

use crate::error::TrustError;
use crate::keys::key_fingerprint;
use regex::Regex;
use sigstore_verify::types::DerPublicKey;
use spell_core::SignerRule;
use std::path::Path;

/// Compiled signer rules.
#[derive(Debug)]
pub(crate) struct SignerRules {
    keyless: Vec<KeylessRule>,
    keys: Vec<KeyRule>,
}

#[derive(Debug)]
struct KeylessRule {
    label: String,
    issuer: String,
    subject: Subject,
}

#[derive(Debug)]
enum Subject {
    Exact(String),
    Regex(Regex),
}

/// A trusted public key for key-based bundles.
#[derive(Debug)]
pub(crate) struct KeyRule {
    pub(crate) label: String,
    pub(crate) key: DerPublicKey,
    pub(crate) fingerprint: String,
}

impl SignerRules {
    /// Compiles `rules`; key files are read by `read_key` (which resolves them against the
    /// policy's folder).
    pub(crate) fn new(
        rules: &[SignerRule],
        mut read_key: impl FnMut(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<SignerRules, TrustError> {
        let mut out = SignerRules {
            keyless: Vec::new(),
            keys: Vec::new(),
        };
        for (i, rule) in rules.iter().enumerate() {
            let label = rule.name.clone().unwrap_or_else(|| format!("signers[{i}]"));
            if let Some(path) = &rule.public_key {
                let invalid = |reason: String| TrustError::KeyInvalid {
                    rule: label.clone(),
                    path: path.clone(),
                    reason,
                };
                let bytes = read_key(path).map_err(|e| invalid(e.to_string()))?;
                let pem = std::str::from_utf8(&bytes).map_err(|e| invalid(e.to_string()))?;
                let key = DerPublicKey::from_pem(pem).map_err(|e| invalid(e.to_string()))?;
                out.keys.push(KeyRule {
                    fingerprint: key_fingerprint(&key),
                    key,
                    label,
                });
                continue;
            }
            let subject = match (&rule.subject, &rule.subject_regex) {
                (Some(exact), _) => Subject::Exact(exact.clone()),
                (None, Some(pattern)) => {
                    Subject::Regex(Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                        TrustError::SubjectRegex {
                            rule: label.clone(),
                            source: Box::new(e),
                        }
                    })?)
                }
                (None, None) => return Err(TrustError::RuleIncomplete { rule: label }),
            };
            let Some(issuer) = rule.issuer.clone() else {
                return Err(TrustError::RuleIncomplete { rule: label });
            };
            out.keyless.push(KeylessRule {
                label,
                issuer,
                subject,
            });
        }
        Ok(out)
    }

    /// How many rules there are.
    pub(crate) fn len(&self) -> usize {
        self.keyless.len() + self.keys.len()
    }

    /// The key rules, in policy order.
    pub(crate) fn keys(&self) -> &[KeyRule] {
        &self.keys
    }

    /// The label of the first keyless rule matching a verified certificate's identity and issuer.
    pub(crate) fn match_keyless(&self, identity: &str, issuer: Option<&str>) -> Option<&str> {
        self.keyless
            .iter()
            .find(|r| {
                issuer == Some(r.issuer.as_str())
                    && match &r.subject {
                        Subject::Exact(s) => s == identity,
                        Subject::Regex(re) => re.is_match(identity),
                    }
            })
            .map(|r| r.label.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyless(name: Option<&str>, subject: Option<&str>, regex: Option<&str>) -> SignerRule {
        SignerRule {
            name: name.map(Into::into),
            issuer: Some("https://issuer".into()),
            subject: subject.map(Into::into),
            subject_regex: regex.map(Into::into),
            public_key: None,
        }
    }

    #[test]
    fn keyless_rules_match_issuer_and_whole_subject() {
        let rules = SignerRules::new(
            &[
                keyless(Some("exact"), Some("a@x.dev"), None),
                keyless(None, None, Some("https://github.com/acme/.*")),
            ],
            |p| std::fs::read(p),
        )
        .expect("compile");
        assert_eq!(
            rules.match_keyless("a@x.dev", Some("https://issuer")),
            Some("exact")
        );
        assert_eq!(rules.match_keyless("a@x.dev", Some("https://other")), None);
        assert_eq!(
            rules.match_keyless(
                "https://github.com/acme/r/.github/w.yml@refs/tags/v1",
                Some("https://issuer")
            ),
            Some("signers[1]")
        );
        // The regex is anchored: a prefix elsewhere in the subject does not match.
        assert_eq!(
            rules.match_keyless("evil https://github.com/acme/r", Some("https://issuer")),
            None
        );
        assert_eq!(rules.match_keyless("a@x.dev", None), None);
    }

    #[test]
    fn bad_regex_and_missing_key_are_policy_errors() {
        use spell_core::{ErrorCode, HasCode};
        let err = SignerRules::new(&[keyless(None, None, Some("("))], |p| std::fs::read(p))
            .expect_err("regex");
        assert_eq!(err.code(), ErrorCode::PolicyInvalid);
        let rule = SignerRule {
            public_key: Some("/nonexistent.pub".into()),
            ..Default::default()
        };
        let err = SignerRules::new(&[rule], |p| std::fs::read(p)).expect_err("key");
        assert_eq!(err.code(), ErrorCode::TrustRootInvalid);
    }
}
