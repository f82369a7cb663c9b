//! The host's policy (TOML): what it trusts and what it grants.
//!
//! Secure defaults: an empty policy trusts no signer and refuses unsigned spells, grants no
//! capability (no env, no files, no network, no host functions) and applies
//! [`DEFAULT_LIMITS`] as both the default and the ceiling. See `examples/policy.toml` for every
//! field with comments.
//!
//! ```
//! use spell_core::Policy;
//! let policy = Policy::from_toml(r#"
//!     allow_unsigned = true
//!     [capabilities]
//!     env = ["APP_*"]
//!     [limits.default]
//!     memory_bytes = 67108864
//!     [limits.max]
//!     memory_bytes = 134217728
//! "#).unwrap();
//! assert!(policy.allow_unsigned);
//! assert_eq!(policy.limits.max.memory_bytes, Some(128 << 20));
//! ```

use crate::address::NetworkPolicy;
use crate::capability::Capabilities;
use crate::digest::Sha256Digest;
use crate::error::{ErrorCode, HasCode};
use crate::manifest::{Limits, validate_capabilities};
use crate::package::PackageLimits;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Built-in limits, used where a policy states neither a default nor a ceiling.
pub const DEFAULT_LIMITS: EffectiveLimits = EffectiveLimits {
    memory_bytes: 256 << 20,
    fuel: 10_000_000_000,
    wall_time_ms: 30_000,
    output_bytes: 16 << 20,
    net_requests: 64,
    net_bytes: 64 << 20,
    // Far below a process's descriptor limit (often 1024 soft, 524288 hard), so that many casts
    // at once leave the host room for its own sockets and files.
    open_files: 256,
    // The same as the network allowance: enough for a spell's real output files, small enough
    // that a runaway writer cannot fill the host's disk.
    disk_write_bytes: 64 << 20,
};

/// A host policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Whether spells without a signature may load. Default `false`.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Package and module size caps.
    #[serde(default)]
    pub package: PackageLimits,
    /// Trusted roots and signer identities.
    #[serde(default)]
    pub trust: TrustPolicy,
    /// SBOM, license and vulnerability rules.
    #[serde(default)]
    pub sbom: SbomPolicy,
    /// The most any spell may be granted. Names may end in `*`.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Limit defaults and ceilings.
    #[serde(default)]
    pub limits: LimitPolicy,
    /// Network settings beyond the capability patterns: SSRF guard exceptions.
    #[serde(default)]
    pub network: NetworkPolicy,
    /// Where relative paths in the policy are resolved from (the policy file's folder).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// Trusted roots and signer rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    /// Sigstore `trusted_root.json` files. Relative paths start at the policy file's folder.
    #[serde(default)]
    pub trusted_roots: Vec<PathBuf>,
    /// A spell is trusted when any rule matches its signer.
    #[serde(default)]
    pub signers: Vec<SignerRule>,
    /// Spells refused by identity (the sha256 of their `spell.json`): a withdrawn release.
    #[serde(default)]
    pub revoked_digests: Vec<Sha256Digest>,
    /// Signers refused even when a rule matches: a rule's name, a certificate identity (keyless
    /// subject) or a public key's `sha256:` fingerprint.
    #[serde(default)]
    pub revoked_signers: Vec<String>,
    /// Refuse signatures whose verified signing time is before this instant (RFC 3339, e.g.
    /// `2026-03-01T00:00:00Z`): after a key leaked, only what was signed since its rotation loads.
    #[serde(default)]
    pub revoked_before: Option<String>,
}

/// One acceptable signer: a keyless identity (OIDC issuer plus subject, exact or regex) or a
/// public key for key-based bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerRule {
    /// A label reported when this rule matches.
    #[serde(default)]
    pub name: Option<String>,
    /// OIDC issuer URL (keyless).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Exact certificate subject (SAN): an email or URI (keyless).
    #[serde(default)]
    pub subject: Option<String>,
    /// Regular expression the whole subject must match (keyless).
    #[serde(default)]
    pub subject_regex: Option<String>,
    /// PEM public key file (key-based).
    #[serde(default)]
    pub public_key: Option<PathBuf>,
}

/// SBOM rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbomPolicy {
    /// Refuse spells without an SBOM. Default `false`.
    #[serde(default)]
    pub required: bool,
    /// SPDX license ids allowed (empty: any not denied).
    #[serde(default)]
    pub license_allow: Vec<String>,
    /// SPDX license ids refused.
    #[serde(default)]
    pub license_deny: Vec<String>,
    /// An offline OSV database: a folder of OSV JSON records or an osv.dev `all.zip`.
    #[serde(default)]
    pub osv_database: Option<PathBuf>,
    /// Which vulnerabilities refuse a load. Default `any`.
    #[serde(default)]
    pub refuse_vulnerabilities: VulnerabilityThreshold,
}

/// Which known vulnerabilities refuse a load. Informational advisories (unmaintained, unsound)
/// only warn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VulnerabilityThreshold {
    /// Any vulnerability refuses.
    #[default]
    Any,
    /// Only those of at least low severity (records without a score count as critical).
    Low,
    /// At least medium.
    Medium,
    /// At least high.
    High,
    /// Only critical.
    Critical,
    /// None refuse; findings are reported as warnings.
    None,
}

/// Limit defaults (used when a spell asks for nothing) and ceilings (what it may ask for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    /// Applied where the manifest is silent. Falls back to [`DEFAULT_LIMITS`].
    #[serde(default)]
    pub default: Limits,
    /// The most a spell may ask for. Falls back to the default.
    #[serde(default)]
    pub max: Limits,
}

/// Concrete limits for one spell or cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveLimits {
    /// Memory plus tables, bytes.
    pub memory_bytes: u64,
    /// Fuel units.
    pub fuel: u64,
    /// Wall-clock milliseconds.
    pub wall_time_ms: u64,
    /// stdout plus stderr bytes.
    pub output_bytes: u64,
    /// Outbound requests.
    pub net_requests: u64,
    /// Network bytes, in plus out.
    pub net_bytes: u64,
    /// Descriptors open at once.
    pub open_files: u64,
    /// Bytes written to files (holes and growth included).
    pub disk_write_bytes: u64,
}

impl EffectiveLimits {
    /// Applies per-cast overrides, which may only lower a limit. Returns the names of the fields
    /// that asked for more.
    pub fn lowered_by(&self, o: &Limits) -> Result<EffectiveLimits, Vec<String>> {
        let mut over = Vec::new();
        let mut pick = |name: &str, grant: u64, want: Option<u64>| match want {
            Some(w) if w > grant => {
                over.push(format!("{name}: {w} > granted {grant}"));
                grant
            }
            Some(w) => w,
            None => grant,
        };
        let out = EffectiveLimits {
            memory_bytes: pick("memory_bytes", self.memory_bytes, o.memory_bytes),
            fuel: pick("fuel", self.fuel, o.fuel),
            wall_time_ms: pick("wall_time_ms", self.wall_time_ms, o.wall_time_ms),
            output_bytes: pick("output_bytes", self.output_bytes, o.output_bytes),
            net_requests: pick("net_requests", self.net_requests, o.net_requests),
            net_bytes: pick("net_bytes", self.net_bytes, o.net_bytes),
            open_files: pick("open_files", self.open_files, o.open_files),
            disk_write_bytes: pick(
                "disk_write_bytes",
                self.disk_write_bytes,
                o.disk_write_bytes,
            ),
        };
        if over.is_empty() { Ok(out) } else { Err(over) }
    }
}

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML, or unknown or mistyped fields.
    #[error("policy: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is invalid.
    #[error("policy: invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The policy file could not be read.
    #[error("policy {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl HasCode for PolicyError {
    fn code(&self) -> ErrorCode {
        match self {
            PolicyError::Parse(_) | PolicyError::Io { .. } => ErrorCode::PolicyParse,
            PolicyError::Invalid { .. } => ErrorCode::PolicyInvalid,
        }
    }
}

impl Policy {
    /// Parses and validates a policy. Relative paths resolve from the current directory.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text)?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads a policy file. Relative paths in it resolve from the file's folder.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut policy = Policy::from_toml(&text)?;
        policy.base_dir = path.parent().map(Path::to_path_buf);
        Ok(policy)
    }

    /// Resolves a path named in the policy against the policy file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match &self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// A digest of the policy's content (and folder). Files the policy names are identified by
    /// path here; verdict caches also key on the digest of their contents (`spell-verify`).
    pub fn digest(&self) -> Sha256Digest {
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        if let Some(base) = &self.base_dir {
            bytes.extend_from_slice(base.to_string_lossy().as_bytes());
        }
        Sha256Digest::of(&bytes)
    }

    /// The effective limit defaults and ceilings.
    pub fn limit_bounds(&self) -> (EffectiveLimits, EffectiveLimits) {
        let d = &self.limits.default;
        let m = &self.limits.max;
        let b = DEFAULT_LIMITS;
        let default = EffectiveLimits {
            memory_bytes: d.memory_bytes.unwrap_or(b.memory_bytes),
            fuel: d.fuel.unwrap_or(b.fuel),
            wall_time_ms: d.wall_time_ms.unwrap_or(b.wall_time_ms),
            output_bytes: d.output_bytes.unwrap_or(b.output_bytes),
            net_requests: d.net_requests.unwrap_or(b.net_requests),
            net_bytes: d.net_bytes.unwrap_or(b.net_bytes),
            open_files: d.open_files.unwrap_or(b.open_files),
            disk_write_bytes: d.disk_write_bytes.unwrap_or(b.disk_write_bytes),
        };
        let max = EffectiveLimits {
            memory_bytes: m.memory_bytes.unwrap_or(default.memory_bytes),
            fuel: m.fuel.unwrap_or(default.fuel),
            wall_time_ms: m.wall_time_ms.unwrap_or(default.wall_time_ms),
            output_bytes: m.output_bytes.unwrap_or(default.output_bytes),
            net_requests: m.net_requests.unwrap_or(default.net_requests),
            net_bytes: m.net_bytes.unwrap_or(default.net_bytes),
            open_files: m.open_files.unwrap_or(default.open_files),
            disk_write_bytes: m.disk_write_bytes.unwrap_or(default.disk_write_bytes),
        };
        (default, max)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        validate_capabilities(&self.capabilities, true)
            .map_err(|(field, reason)| PolicyError::Invalid { field, reason })?;
        let (default, max) = self.limit_bounds();
        if let Err(over) = max.lowered_by(&limits_of(&default)) {
            return Err(PolicyError::Invalid {
                field: "limits.default",
                reason: format!("above limits.max ({})", over.join(", ")),
            });
        }
        for (i, rule) in self.trust.signers.iter().enumerate() {
            let keyless =
                rule.issuer.is_some() || rule.subject.is_some() || rule.subject_regex.is_some();
            let subjects =
                usize::from(rule.subject.is_some()) + usize::from(rule.subject_regex.is_some());
            let ok = match rule.public_key {
                Some(_) => !keyless,
                None => rule.issuer.is_some() && subjects == 1,
            };
            if !ok {
                return Err(PolicyError::Invalid {
                    field: "trust.signers",
                    reason: format!(
                        "rule {i}: give `public_key` alone, or `issuer` with one of `subject` / `subject_regex`"
                    ),
                });
            }
        }
        if let Some(at) = &self.trust.revoked_before {
            at.parse::<jiff::Timestamp>()
                .map_err(|e| PolicyError::Invalid {
                    field: "trust.revoked_before",
                    reason: format!("`{at}` is not an RFC 3339 time: {e}"),
                })?;
        }
        for id in self
            .sbom
            .license_allow
            .iter()
            .chain(&self.sbom.license_deny)
        {
            if spdx::license_id(id).is_none() && !id.starts_with("LicenseRef-") {
                return Err(PolicyError::Invalid {
                    field: "sbom",
                    reason: format!("`{id}` is not an SPDX license id"),
                });
            }
        }
        Ok(())
    }
}

fn limits_of(e: &EffectiveLimits) -> Limits {
    Limits {
        memory_bytes: Some(e.memory_bytes),
        fuel: Some(e.fuel),
        wall_time_ms: Some(e.wall_time_ms),
        output_bytes: Some(e.output_bytes),
        net_requests: Some(e.net_requests),
        net_bytes: Some(e.net_bytes),
        open_files: Some(e.open_files),
        disk_write_bytes: Some(e.disk_write_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_policy_is_deny_all_with_builtin_limits() {
        let p = Policy::from_toml("").expect("empty");
        assert!(!p.allow_unsigned);
        assert_eq!(p.capabilities, Capabilities::default());
        assert_eq!(p.limit_bounds(), (DEFAULT_LIMITS, DEFAULT_LIMITS));
        assert_eq!(p.package, PackageLimits::default());
    }

    #[test]
    fn example_policy_parses() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/policy.toml"
        ));
        let p = Policy::from_file(path).expect("examples/policy.toml");
        assert_eq!(
            p.resolve(Path::new("x")),
            path.parent().expect("dir").join("x")
        );
    }

    #[test]
    fn invalid_policies_are_refused_with_their_code() {
        let cases = [
            ("allow_unsigned = 1", ErrorCode::PolicyParse),
            ("unknown = true", ErrorCode::PolicyParse),
            ("[capabilities]\nenv = [\"A=B\"]", ErrorCode::PolicyInvalid),
            (
                "[capabilities]\nnetwork = [\"gopher://x\"]",
                ErrorCode::PolicyParse,
            ),
            (
                "[limits.default]\nfuel = 10\n[limits.max]\nfuel = 5",
                ErrorCode::PolicyInvalid,
            ),
            (
                "[[trust.signers]]\nissuer = \"https://x\"",
                ErrorCode::PolicyInvalid,
            ),
            (
                "[[trust.signers]]\npublic_key = \"k.pem\"\nissuer = \"https://x\"",
                ErrorCode::PolicyInvalid,
            ),
            (
                "[sbom]\nlicense_deny = [\"NotALicense\"]",
                ErrorCode::PolicyInvalid,
            ),
            (
                "[sbom]\nrefuse_vulnerabilities = \"some\"",
                ErrorCode::PolicyParse,
            ),
            (
                "[trust]\nrevoked_before = \"yesterday\"",
                ErrorCode::PolicyInvalid,
            ),
            (
                "[trust]\nrevoked_digests = [\"abc\"]",
                ErrorCode::PolicyParse,
            ),
            (
                "[network]\nallow_addresses = [\"localhost\"]",
                ErrorCode::PolicyParse,
            ),
            (
                "[network]\nallow_addresses = [\"127.0.0.1/8\"]",
                ErrorCode::PolicyParse,
            ),
        ];
        for (text, code) in cases {
            let err = Policy::from_toml(text).expect_err(text);
            assert_eq!(err.code(), code, "{text}: {err}");
        }
    }

    #[test]
    fn overrides_only_lower_limits() {
        let l = DEFAULT_LIMITS;
        let lowered = l
            .lowered_by(&Limits {
                fuel: Some(5),
                ..Default::default()
            })
            .expect("lower");
        assert_eq!(lowered.fuel, 5);
        assert_eq!(lowered.memory_bytes, l.memory_bytes);
        let over = l.lowered_by(&Limits {
            fuel: Some(u64::MAX),
            memory_bytes: Some(u64::MAX),
            ..Default::default()
        });
        assert_eq!(over.expect_err("raise").len(), 2);
    }
}
