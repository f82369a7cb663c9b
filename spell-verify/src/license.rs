//! License rules: an allow-list and a deny-list of SPDX license ids (or `LicenseRef-…`), applied
//! to SPDX expressions with the `spdx` crate.
//!
//! A requirement is acceptable when it is not denied and, if there is an allow-list, is on it.
//! An expression passes when the licensee can choose acceptable licenses: `MIT OR GPL-3.0-only`
//! passes a deny-list of `GPL-3.0-only`; `MIT AND GPL-3.0-only` does not. A `WITH` exception does
//! not change the license id that is checked.
//!
//! Licenses that are not SPDX expressions (free-text names in SBOMs) cannot be proven to be on an
//! allow-list, so they refuse when there is one and only warn under a deny-list alone.

use serde::Serialize;
use spdx::expression::ExpressionReq;
use spdx::{Expression, LicenseItem, LicenseReq, ParseMode};
use std::fmt;

/// The allow- and deny-lists.
#[derive(Debug, Clone, Default)]
pub struct LicensePolicy {
    allow: Vec<String>,
    deny: Vec<String>,
}

/// A license that refuses the load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseFinding {
    /// What carries the license: `spell <name>` or a component's purl.
    pub subject: String,
    /// The license expression as written.
    pub license: String,
    /// Why it refuses.
    pub reason: String,
}

impl fmt::Display for LicenseFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.subject, self.license, self.reason)
    }
}

/// The outcome of checking one license expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseVerdict {
    /// Acceptable.
    Accepted,
    /// Acceptable, with a note (a free-text license under a deny-list).
    Warning(String),
    /// Refused.
    Refused(LicenseFinding),
}

impl LicensePolicy {
    /// A policy from SPDX ids (already validated by `spell_core::Policy`).
    pub fn new(allow: &[String], deny: &[String]) -> LicensePolicy {
        LicensePolicy {
            allow: allow.to_vec(),
            deny: deny.to_vec(),
        }
    }

    /// Whether there are no rules (every license passes).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Checks `license` (an SPDX expression, id or free text) carried by `subject`.
    pub fn check(&self, subject: &str, license: &str) -> LicenseVerdict {
        let refuse = |reason: String| {
            LicenseVerdict::Refused(LicenseFinding {
                subject: subject.into(),
                license: license.into(),
                reason,
            })
        };
        let expr = match Expression::parse_mode(license, ParseMode::LAX) {
            Ok(expr) => expr,
            Err(_) if self.allow.is_empty() => {
                return LicenseVerdict::Warning(format!(
                    "{subject}: license {license:?} is not an SPDX expression, not checked"
                ));
            }
            Err(_) => {
                return refuse("not an SPDX expression, so not provably in license_allow".into());
            }
        };
        match expr.evaluate_with_failures(|req| self.accepts(req)) {
            Ok(()) => LicenseVerdict::Accepted,
            Err(failed) => {
                let reasons: Vec<String> = failed.iter().map(|r| self.why(r)).collect();
                refuse(reasons.join(", "))
            }
        }
    }

    fn accepts(&self, req: &LicenseReq) -> bool {
        let id = id_of(req);
        !self.deny.contains(&id) && (self.allow.is_empty() || self.allow.contains(&id))
    }

    fn why(&self, req: &ExpressionReq) -> String {
        let id = id_of(&req.req);
        if self.deny.contains(&id) {
            format!("{id} is in license_deny")
        } else {
            format!("{id} is not in license_allow")
        }
    }
}

fn id_of(req: &LicenseReq) -> String {
    match &req.license {
        LicenseItem::Spdx { id, .. } => id.name.to_string(),
        LicenseItem::Other(r) => r.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str]) -> LicensePolicy {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        LicensePolicy::new(&v(allow), &v(deny))
    }

    #[rstest::rstest]
    #[case::deny_alone("GPL-3.0-only", &[], &["GPL-3.0-only"], false)]
    #[case::deny_with_choice("MIT OR GPL-3.0-only", &[], &["GPL-3.0-only"], true)]
    #[case::deny_in_conjunction("MIT AND GPL-3.0-only", &[], &["GPL-3.0-only"], false)]
    #[case::allowed("Apache-2.0", &["MIT", "Apache-2.0"], &[], true)]
    #[case::not_allowed("BSD-3-Clause", &["MIT"], &[], false)]
    #[case::allowed_choice("MIT OR BSD-3-Clause", &["MIT"], &[], true)]
    #[case::with_exception("Apache-2.0 WITH LLVM-exception", &["Apache-2.0"], &[], true)]
    #[case::license_ref("LicenseRef-acme", &["LicenseRef-acme"], &[], true)]
    #[case::denied_beats_allowed("MIT", &["MIT"], &["MIT"], false)]
    #[case::free_text_allow_list("Some Custom License", &["MIT"], &[], false)]
    #[case::no_rules("AGPL-3.0-only", &[], &[], true)]
    fn expressions_follow_allow_and_deny_lists(
        #[case] license: &str,
        #[case] allow: &[&str],
        #[case] deny: &[&str],
        #[case] passes: bool,
    ) {
        let verdict = policy(allow, deny).check("spell demo", license);
        assert_eq!(
            !matches!(verdict, LicenseVerdict::Refused(_)),
            passes,
            "{verdict:?}"
        );
    }

    #[test]
    fn free_text_under_a_deny_list_only_warns() {
        let verdict = policy(&[], &["GPL-3.0-only"]).check("pkg:cargo/x@1", "Some Custom License");
        assert!(matches!(verdict, LicenseVerdict::Warning(_)), "{verdict:?}");
    }

    #[test]
    fn refusal_names_the_rule() {
        let LicenseVerdict::Refused(f) =
            policy(&[], &["GPL-3.0-only"]).check("spell demo", "GPL-3.0-only")
        else {
            panic!("expected a refusal");
        };
        assert_eq!(f.reason, "GPL-3.0-only is in license_deny");
    }
}
