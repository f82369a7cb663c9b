//! Supply chain over time: [`Runtime::rescan`] re-verifies every loaded spell against the current
//! policy, trusted roots, keys and OSV database, and revokes the spells now refused.
//!
//! A revoked spell's casts fail before anything runs with [`Error::Revoked`] (`E-SIG-008`, the
//! refusal's own code in the message), not with a `denied` usage record: nothing started, as
//! for a load refusal, so there is nothing to bill and the metering hooks are not called. Casts
//! already running finish and are recorded as usual. The runtime's meter observes an
//! [`EventKind::SpellRevoked`] for each spell a rescan revokes. The verdict of a spell follows
//! the latest rescan: one that accepts it again (an advisory withdrawn, a revocation lifted)
//! restores it.
//!
//! Rescans are cheap when little changed: a spell whose verdict inputs (its package, the
//! policy's sections, the digests of the files the verifier read) are those of its current
//! verdict is not verified again, and after an OSV database update only the SBOM stages run
//! (signature checks are cached by the trust material's digest).

use crate::error::Error;
use crate::metering::{Event, EventKind};
use crate::runtime::{Runtime, VerdictKey, lock};
use crate::spell::SpellInner;
use serde::{Serialize, Serializer};
use spell_core::{ErrorCode, HasCode, Package, Policy, Sha256Digest};
use spell_verify::{PolicyVerifier, Sbom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A verification verdict, as a rescan reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The spell may load and cast.
    Accepted {
        /// Findings that did not refuse it (vulnerabilities below the threshold, advisories).
        warnings: Vec<String>,
    },
    /// The spell is refused.
    Refused {
        /// The refusal's code (`E-SBOM-005`, `E-SIG-010`, …).
        #[serde(serialize_with = "code_str")]
        code: ErrorCode,
        /// The refusal with every finding.
        message: String,
    },
}

fn code_str<S: Serializer>(code: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.code())
}

/// A loaded spell whose verdict a rescan changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerdictChange {
    /// The spell's digest (hex).
    pub digest: String,
    /// The spell's name.
    pub name: String,
    /// The spell's version.
    pub version: String,
    /// Its verdict before the rescan.
    pub before: Verdict,
    /// Its verdict now (a `Refused` verdict revoked it).
    pub after: Verdict,
}

/// What a rescan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RescanReport {
    /// How many loaded spells were checked.
    pub spells: usize,
    /// The spells whose verdict changed, in load order.
    pub changes: Vec<VerdictChange>,
}

impl RescanReport {
    /// The changes that revoked a spell.
    pub fn revoked(&self) -> impl Iterator<Item = &VerdictChange> {
        self.changes
            .iter()
            .filter(|c| matches!(c.after, Verdict::Refused { .. }))
    }
}

/// A package's SBOM, parsed and validated at most once: it depends on the package alone, and
/// is most of what the SBOM stages cost.
#[derive(Default)]
pub(crate) struct SbomSlot(OnceLock<Option<Sbom>>);

impl SbomSlot {
    pub(crate) fn get(&self, package: &Package) -> Result<Option<&Sbom>, Error> {
        if self.0.get().is_none() {
            let _ = self.0.set(PolicyVerifier::read_sbom(package)?);
        }
        Ok(self.0.get().and_then(Option::as_ref))
    }
}

/// What a rescan needs of a verified spell, and its current verdict.
pub(crate) struct Standing {
    /// The package without its module (verification never reads it), and without its SBOM bytes
    /// once `sbom` holds them parsed.
    package: Package,
    sbom: SbomSlot,
    verdict: Mutex<(VerdictKey, Verdict)>,
    revoked: AtomicBool,
}

impl Standing {
    /// What `package` (its module taken; its SBOM read into `sbom` or not) leaves to rescans.
    pub(crate) fn new(
        mut package: Package,
        sbom: SbomSlot,
        key: VerdictKey,
        warnings: Vec<String>,
    ) -> Standing {
        if sbom.0.get().is_some() {
            package.sbom = None;
        }
        Standing {
            package,
            sbom,
            verdict: Mutex::new((key, Verdict::Accepted { warnings })),
            revoked: AtomicBool::new(false),
        }
    }

    /// `Err(Revoked)` when the latest rescan refused the spell. One atomic load otherwise.
    pub(crate) fn check(&self, spell: &SpellInner) -> Result<(), Error> {
        if !self.revoked.load(Ordering::Acquire) {
            return Ok(());
        }
        match &lock(&self.verdict).1 {
            Verdict::Refused { code, message } => Err(Error::Revoked {
                name: spell.name.clone(),
                digest: spell.digest_hex.clone(),
                cause: *code,
                reason: message.clone(),
            }),
            Verdict::Accepted { .. } => Ok(()),
        }
    }
}

/// The verified spells of a runtime, held weakly: a dropped spell leaves it.
#[derive(Default)]
pub(crate) struct Registry {
    spells: Vec<Weak<SpellInner>>,
    /// Dead entries are dropped when the list reaches this length.
    prune_at: usize,
}

impl Registry {
    pub(crate) fn add(&mut self, spell: &Arc<SpellInner>) {
        if self.spells.len() >= self.prune_at {
            self.spells.retain(|w| w.strong_count() > 0);
            self.prune_at = (self.spells.len() * 2).max(64);
        }
        self.spells.push(Arc::downgrade(spell));
    }

    fn live(&mut self) -> Vec<Arc<SpellInner>> {
        self.spells.retain(|w| w.strong_count() > 0);
        self.spells.iter().filter_map(Weak::upgrade).collect()
    }
}

impl Runtime {
    /// Re-verifies every spell loaded by this runtime against `policy` as it is now, reading its
    /// trusted roots, keys and OSV database again if they changed on disk, and revokes the
    /// spells it refuses: their next casts fail with `E-SIG-008` (casts in flight finish).
    /// Returns the spells whose verdict changed.
    ///
    /// `Err` (nothing revoked) when the policy's own files cannot be read. Spells loaded under
    /// other policies are checked against this one too: hosts with several policies use a
    /// runtime per policy.
    ///
    /// ```
    /// use spell_core::{ErrorCode, HasCode, Package, Policy};
    /// use spell_runtime::{CastRequest, Runtime};
    /// let runtime = Runtime::new()?;
    /// let manifest = br#"{"name":"answer","version":"1.0.0","license":"MIT","entrypoint":"run"}"#;
    /// let wasm = wat::parse_str(r#"(module (func (export "run")))"#)?;
    /// let package = Package::pack(manifest, &wasm, None, None)?;
    /// let spell = runtime.load(&package, &Policy::from_toml("allow_unsigned = true")?)?;
    ///
    /// // The release is withdrawn: the operator lists its digest and rescans.
    /// let policy = Policy::from_toml(&format!(
    ///     "allow_unsigned = true\n[trust]\nrevoked_digests = [\"{}\"]",
    ///     spell.digest()
    /// ))?;
    /// let report = runtime.rescan(&policy)?;
    /// assert_eq!(report.revoked().count(), 1);
    /// let err = spell.cast(CastRequest::new()).unwrap_err();
    /// assert_eq!(err.code(), ErrorCode::SpellRevoked);
    /// assert!(err.to_string().contains("E-SIG-009"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rescan(&self, policy: &Policy) -> Result<RescanReport, Error> {
        let report = {
            let _one_at_a_time = lock(&self.inner.rescans);
            self.rescan_loaded(policy)?
        };
        // Observed once the rescan is over, so that an observer may itself rescan.
        for change in &report.changes {
            if let (Verdict::Accepted { .. }, Verdict::Refused { code, message }) =
                (&change.before, &change.after)
            {
                let observed = self.inner.default_meter.observe(&Event {
                    cast_id: String::new(),
                    kind: EventKind::SpellRevoked {
                        spell_digest: change.digest.clone(),
                        spell_name: change.name.clone(),
                        code: code.code().to_string(),
                        detail: message.clone(),
                    },
                });
                // No cast to report it on: the revocation stands, the host's log tells.
                if let Err(e) = observed {
                    tracing::warn!(error = %e, spell = %change.name, "observing a revocation failed");
                }
            }
        }
        Ok(report)
    }

    fn rescan_loaded(&self, policy: &Policy) -> Result<RescanReport, Error> {
        let verifier = self.verifier(policy)?;
        let spells = lock(&self.inner.loaded).live();
        let mut report = RescanReport {
            spells: spells.len(),
            changes: Vec::new(),
        };
        for spell in spells {
            let Some(standing) = &spell.standing else {
                continue;
            };
            let old_key = lock(&standing.verdict).0;
            let key = (
                old_key.0,
                old_key.1,
                verifier.trust_digest(),
                verifier.contents_digest(),
            );
            if key == old_key {
                continue;
            }
            let after = match self.verify_with(&standing.package, &standing.sbom, &verifier, key) {
                Ok(v) => Verdict::Accepted {
                    warnings: v.warnings,
                },
                Err(e) => Verdict::Refused {
                    code: e.code(),
                    message: e.to_string(),
                },
            };
            let before = std::mem::replace(&mut *lock(&standing.verdict), (key, after.clone())).1;
            let refused = matches!(after, Verdict::Refused { .. });
            standing.revoked.store(refused, Ordering::Release);
            if before != after {
                report.changes.push(VerdictChange {
                    digest: spell.digest_hex.clone(),
                    name: spell.name.clone(),
                    version: spell.version.clone(),
                    before,
                    after,
                });
            }
        }
        Ok(report)
    }
}

/// The key of a verdict: the package's digest, its bundle's, and the verifier's input digests.
pub(crate) fn verdict_key(package: &Package, verifier: &PolicyVerifier) -> VerdictKey {
    (
        package.digest(),
        package.bundle.as_deref().map(Sha256Digest::of),
        verifier.trust_digest(),
        verifier.contents_digest(),
    )
}
