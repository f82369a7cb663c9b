//! An offline OSV database, matched against component purls.
//!
//! Layouts: a folder of OSV JSON records (searched recursively, e.g. RustSec's `crates/`), or the
//! `all.zip` osv.dev exports per ecosystem. Records are indexed by (ecosystem, package name) once,
//! when the policy verifier is built. Withdrawn records are skipped. Files that are not OSV records
//! are skipped and counted, so one odd file in a full dump does not disable the database.
//!
//! Matching: a version is affected when it is listed in `versions[]`, or falls in a `SEMVER`
//! range (events walked in version order as the OSV specification describes: `introduced`
//! opens, `fixed` closes at that version, `last_affected` closes after it). `ECOSYSTEM` ranges are
//! evaluated with semver ordering only for ecosystems that version by semver (crates.io, npm, Go,
//! Hex, Pub); elsewhere (PyPI, Maven, …) only explicit `versions[]` match. `GIT` ranges never apply
//! to purls. Records marked `informational` (RustSec's `unmaintained`, `unsound`, …) are reported
//! as informational and never refuse a load.

use crate::error::TrustError;
use crate::inputs::InputFiles;
use crate::purl::Purl;
use crate::severity::{Severity, cvss3_base_score};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Cap on one record read from a zip, against zip bombs (real records are a few KiB).
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// An indexed OSV database.
#[derive(Debug, Default)]
pub struct OsvDatabase {
    index: HashMap<(String, String), Vec<Advisory>>,
    records: usize,
    skipped: usize,
}

/// One affected package of one record, reduced to what matching needs.
#[derive(Debug)]
struct Advisory {
    id: String,
    aliases: Vec<String>,
    summary: Option<String>,
    severity: Severity,
    score: Option<f64>,
    informational: Option<String>,
    ranges: Vec<Range>,
    versions: Vec<String>,
}

/// A known vulnerability (or informational advisory) of a component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The OSV id, e.g. `RUSTSEC-2020-0071`.
    pub id: String,
    /// Aliases (CVE, GHSA).
    pub aliases: Vec<String>,
    /// The component's purl.
    pub purl: String,
    /// One-line summary.
    pub summary: Option<String>,
    /// Severity band.
    pub severity: Severity,
    /// CVSS v3 base score, when the record has a v3 vector.
    pub score: Option<f64>,
    /// `unmaintained`, `unsound`, … for informational advisories (which never refuse).
    pub informational: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.purl, self.id)?;
        match (&self.informational, self.score) {
            (Some(kind), _) => write!(f, " ({kind})")?,
            (None, Some(score)) => write!(f, " ({:?} {score})", self.severity)?,
            (None, None) => write!(f, " ({:?})", self.severity)?,
        }
        if !self.aliases.is_empty() {
            write!(f, " [{}]", self.aliases.join(", "))?;
        }
        if let Some(summary) = &self.summary {
            write!(f, ": {summary}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    severity: Vec<SeverityEntry>,
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SeverityEntry {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    #[serde(default)]
    package: Option<PackageRef>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PackageRef {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(default)]
    introduced: Option<String>,
    #[serde(default)]
    fixed: Option<String>,
    #[serde(default)]
    last_affected: Option<String>,
}

impl OsvDatabase {
    /// Loads a folder of OSV records or an osv.dev zip.
    pub fn load(path: &Path) -> Result<OsvDatabase, TrustError> {
        OsvDatabase::load_from(path, &mut InputFiles::default())
    }

    /// Loads the database, recording what it read in `inputs`.
    pub(crate) fn load_from(
        path: &Path,
        inputs: &mut InputFiles,
    ) -> Result<OsvDatabase, TrustError> {
        let fail = |reason: String| TrustError::OsvDatabase {
            path: path.to_path_buf(),
            reason,
        };
        let mut db = OsvDatabase::default();
        if path.is_dir() {
            for file in inputs.list_dir(path).map_err(|e| fail(e.to_string()))? {
                db.add(&inputs.read_member(&file).map_err(|e| fail(e.to_string()))?);
            }
        } else {
            let file = inputs.open(path).map_err(|e| fail(e.to_string()))?;
            let mut zip = zip::ZipArchive::new(file)
                .map_err(|e| fail(format!("not a folder or a zip: {e}")))?;
            for i in 0..zip.len() {
                let entry = zip.by_index(i).map_err(|e| fail(e.to_string()))?;
                if entry.is_file() && entry.name().ends_with(".json") {
                    let mut bytes = Vec::new();
                    entry
                        .take(MAX_RECORD_BYTES)
                        .read_to_end(&mut bytes)
                        .map_err(|e| fail(e.to_string()))?;
                    db.add(&bytes);
                }
            }
        }
        Ok(db)
    }

    /// Indexes one record; counts it as skipped if it is not an OSV record.
    fn add(&mut self, bytes: &[u8]) {
        let Ok(record) = serde_json::from_slice::<Record>(bytes) else {
            self.skipped += 1;
            return;
        };
        self.records += 1;
        if record.withdrawn.is_some() {
            return;
        }
        let score = record
            .severity
            .iter()
            .find(|s| s.kind == "CVSS_V3")
            .and_then(|s| cvss3_base_score(&s.score));
        let label = record
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity")?.as_str())
            .and_then(Severity::from_label);
        let severity = score
            .map(Severity::from_score)
            .or(label)
            .unwrap_or(Severity::Unknown);
        for affected in record.affected {
            let Some(package) = affected.package else {
                continue;
            };
            let informational = affected
                .database_specific
                .as_ref()
                .and_then(|d| d.get("informational")?.as_str().map(str::to_string));
            let advisory = Advisory {
                id: record.id.clone(),
                aliases: record.aliases.clone(),
                summary: record.summary.clone(),
                severity,
                score,
                informational,
                ranges: affected.ranges,
                versions: affected.versions,
            };
            self.index
                .entry((package.ecosystem, package.name))
                .or_default()
                .push(advisory);
        }
    }

    /// How many records were read (withdrawn ones included), and how many files were skipped.
    pub fn counts(&self) -> (usize, usize) {
        (self.records, self.skipped)
    }

    /// Every advisory affecting the package a purl names at its version. Purls without a version,
    /// or of types OSV does not key by name alone, match nothing.
    pub fn findings(&self, purl: &str) -> Vec<Finding> {
        let Some(parsed) = Purl::parse(purl) else {
            return Vec::new();
        };
        let (Some(version), Some((ecosystem, name))) = (&parsed.version, parsed.osv_package())
        else {
            return Vec::new();
        };
        let Some(advisories) = self.index.get(&(ecosystem.to_string(), name)) else {
            return Vec::new();
        };
        let semver_ecosystem = matches!(ecosystem, "crates.io" | "npm" | "Go" | "Hex" | "Pub");
        advisories
            .iter()
            .filter(|a| {
                a.versions.iter().any(|v| v == version)
                    || a.ranges.iter().any(|r| {
                        (r.kind == "SEMVER" || (r.kind == "ECOSYSTEM" && semver_ecosystem))
                            && in_semver_range(&r.events, version)
                    })
            })
            .map(|a| Finding {
                id: a.id.clone(),
                aliases: a.aliases.clone(),
                purl: purl.to_string(),
                summary: a.summary.clone(),
                severity: a.severity,
                score: a.score,
                informational: a.informational.clone(),
            })
            .collect()
    }
}

/// Parses a version leniently for ordering: a leading `v` is dropped and missing minor or patch
/// parts are zero (`0` is the lowest version, as OSV's `introduced: "0"`).
fn lenient(v: &str) -> Option<semver::Version> {
    let v = v.strip_prefix('v').unwrap_or(v);
    if let Ok(parsed) = semver::Version::parse(v) {
        return Some(parsed);
    }
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => v.split_at(i),
        None => (v, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => return None,
    };
    semver::Version::parse(&padded).ok()
}

/// The OSV range evaluation over events sorted by version.
fn in_semver_range(events: &[Event], version: &str) -> bool {
    let Some(v) = lenient(version) else {
        return false;
    };
    let mut sorted: Vec<(semver::Version, &Event)> = events
        .iter()
        .filter_map(|e| {
            let at = e
                .introduced
                .as_deref()
                .or(e.fixed.as_deref())
                .or(e.last_affected.as_deref())?;
            Some((lenient(at)?, e))
        })
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut affected = false;
    for (at, event) in sorted {
        if event.introduced.is_some() && v >= at {
            affected = true;
        } else if (event.fixed.is_some() && v >= at) || (event.last_affected.is_some() && v > at) {
            affected = false;
        }
    }
    affected
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(list: &[(&str, &str)]) -> Vec<Event> {
        list.iter()
            .map(|(kind, v)| {
                let s = Some(v.to_string());
                match *kind {
                    "introduced" => Event {
                        introduced: s,
                        fixed: None,
                        last_affected: None,
                    },
                    "fixed" => Event {
                        introduced: None,
                        fixed: s,
                        last_affected: None,
                    },
                    _ => Event {
                        introduced: None,
                        fixed: None,
                        last_affected: s,
                    },
                }
            })
            .collect()
    }

    #[rstest::rstest]
    #[case::below_fix("1.12.0", true)]
    #[case::at_fix("1.13.1", false)]
    #[case::gap("1.8.4", false)]
    #[case::reintroduced("1.9.0", true)]
    #[case::before_introduced("0.1.13", false)]
    #[case::prerelease_of_fix("1.13.1-alpha", true)]
    fn semver_ranges_follow_osv_event_semantics(#[case] version: &str, #[case] hit: bool) {
        let tokio = events(&[
            ("introduced", "0.1.14"),
            ("fixed", "1.8.4"),
            ("introduced", "1.9.0"),
            ("fixed", "1.13.1"),
        ]);
        assert_eq!(in_semver_range(&tokio, version), hit);
    }

    #[test]
    fn last_affected_is_inclusive_and_zero_is_lowest() {
        let e = events(&[("introduced", "0"), ("last_affected", "2.1")]);
        assert!(in_semver_range(&e, "0.0.1"));
        assert!(in_semver_range(&e, "2.1.0"));
        assert!(!in_semver_range(&e, "2.1.1"));
        assert!(!in_semver_range(&e, "not-a-version"));
    }
}
