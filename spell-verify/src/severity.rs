//! Severity of an OSV record: the CVSS v3.x base score computed from its vector (the
//! specification's formulas), else a textual `database_specific.severity` (GitHub advisories),
//! else unknown. Unknown counts as critical when a threshold is applied, so a record without a
//! score cannot slip under it. CVSS v4 vectors are not scored (their lookup tables are not
//! implemented) and fall back the same way.

use serde::Serialize;
use spell_core::VulnerabilityThreshold;

/// A qualitative severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// CVSS 0.0–3.9.
    Low,
    /// CVSS 4.0–6.9.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
    /// No usable score; treated as critical by thresholds.
    Unknown,
}

impl Severity {
    /// The band of a CVSS score.
    pub fn from_score(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// A textual severity such as GitHub's `MODERATE`.
    pub fn from_label(label: &str) -> Option<Severity> {
        Some(match label.to_ascii_uppercase().as_str() {
            "LOW" => Severity::Low,
            "MODERATE" | "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }

    /// Whether a vulnerability of this severity refuses a load under `threshold`.
    pub fn refuses(self, threshold: VulnerabilityThreshold) -> bool {
        let floor = match threshold {
            VulnerabilityThreshold::Any => return true,
            VulnerabilityThreshold::None => return false,
            VulnerabilityThreshold::Low => Severity::Low,
            VulnerabilityThreshold::Medium => Severity::Medium,
            VulnerabilityThreshold::High => Severity::High,
            VulnerabilityThreshold::Critical => Severity::Critical,
        };
        self >= floor
    }
}

/// The CVSS v3.0/v3.1 base score of a vector like `CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`.
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    if !matches!(parts.next(), Some("CVSS:3.0" | "CVSS:3.1")) {
        return None;
    }
    let metric = |name: &str| {
        vector
            .split('/')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix(':'))
    };
    let changed = match metric("S")? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match metric("AV")? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match metric("AC")? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (metric("PR")?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match metric("UI")? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |m: &str| match metric(m)? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let iss = 1.0 - (1.0 - cia("C")?) * (1.0 - cia("I")?) * (1.0 - cia("A")?);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02_f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        1.08 * (impact + exploitability)
    } else {
        impact + exploitability
    };
    Some(round_up(raw.min(10.0)))
}

/// CVSS v3.1 `Roundup`: the smallest one-decimal number not below `x`, robust to float noise.
fn round_up(x: f64) -> f64 {
    let int = (x * 100_000.0).round() as i64;
    if int % 10_000 == 0 {
        int as f64 / 100_000.0
    } else {
        ((int / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::time_rustsec("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 6.2)]
    #[case::critical("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)]
    #[case::scope_changed("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0)]
    #[case::medium_changed("CVSS:3.0/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 5.4)]
    #[case::no_impact("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0)]
    fn cvss3_scores_match_the_nvd_calculator(#[case] vector: &str, #[case] score: f64) {
        assert_eq!(cvss3_base_score(vector), Some(score));
    }

    #[test]
    fn unknown_severity_refuses_like_critical() {
        assert!(Severity::Unknown.refuses(VulnerabilityThreshold::Critical));
        assert!(!Severity::High.refuses(VulnerabilityThreshold::Critical));
        assert!(Severity::Low.refuses(VulnerabilityThreshold::Any));
        assert!(!Severity::Critical.refuses(VulnerabilityThreshold::None));
        assert_eq!(cvss3_base_score("CVSS:4.0/AV:N"), None);
    }
}
