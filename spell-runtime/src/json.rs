//! The one JSON shape of a cast: `spell cast --json` prints it, and every binding's
//! `to_dict` / `toJSON` / `MarshalJSON` gives it. `schema/fields.json` lists its field names, with
//! those of the usage record and of the limits, for the bindings' parity tests; the
//! `fields_are_current` test regenerates it from these types.

use crate::cast::CastOutcome;
use crate::host::Val;
use crate::metering::{HookError, Outcome, UsageRecord};
use crate::trap::TrapKind;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use spell_core::ErrorCode;

/// A cast outcome in its JSON shape, borrowed from wherever the parts are kept. A binding that
/// keeps them in its own types builds one field by field, so a field added here does not compile
/// in a binding until the binding gives it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct OutcomeJson<'a> {
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// The trap kind of `trap` outcomes.
    pub trap: Option<TrapKind>,
    /// Why, for every outcome but `ok` and `exit`.
    pub detail: Option<&'a str>,
    /// What a named export returned, as JSON numbers.
    pub returned: &'a [Val],
    /// Captured stdout as text (invalid UTF-8 replaced by U+FFFD).
    #[serde(serialize_with = "lossy")]
    pub stdout: &'a [u8],
    /// Captured stderr as text.
    #[serde(serialize_with = "lossy")]
    pub stderr: &'a [u8],
    /// The usage record.
    pub usage: &'a UsageRecord,
    /// The first hook that failed: `{code, name, hook, message}`.
    pub hook_error: Option<&'a HookError>,
    /// For `denied` outcomes, the authorize hook's catalog code (`E-BILL-001`).
    #[serde(serialize_with = "code")]
    pub denial_code: Option<ErrorCode>,
}

/// The field names of [`OutcomeJson`], in order: for shapes that must match it (an error in
/// its place, a binding translating names).
pub const OUTCOME_FIELDS: [&str; 10] = [
    "outcome",
    "exit_code",
    "trap",
    "detail",
    "returned",
    "stdout",
    "stderr",
    "usage",
    "hook_error",
    "denial_code",
];

/// The field names of a serialized [`UsageRecord`], in order.
pub const USAGE_FIELDS: [&str; 17] = [
    "cast_id",
    "spell_digest",
    "spell_name",
    "outcome",
    "exit_code",
    "fuel",
    "wall_ns",
    "cpu_ns",
    "memory_peak_bytes",
    "stdout_bytes",
    "stderr_bytes",
    "net_requests",
    "net_bytes_in",
    "net_bytes_out",
    "disk_bytes_written",
    "started_at_ms",
    "trace_id",
];

/// The field names of serialized limits (`spell_core::EffectiveLimits`), in order.
pub const LIMITS_FIELDS: [&str; 8] = [
    "memory_bytes",
    "fuel",
    "wall_time_ms",
    "output_bytes",
    "net_requests",
    "net_bytes",
    "open_files",
    "disk_write_bytes",
];

impl CastOutcome {
    /// The outcome in its JSON shape (serialize it with serde).
    pub fn json(&self) -> OutcomeJson<'_> {
        OutcomeJson {
            outcome: self.outcome,
            exit_code: self.exit_code,
            trap: self.trap,
            detail: self.detail.as_deref(),
            returned: &self.returned,
            stdout: &self.stdout,
            stderr: &self.stderr,
            usage: &self.usage,
            hook_error: self.hook_error.as_ref(),
            denial_code: self.denial_code,
        }
    }
}

impl Serialize for CastOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// `{code, name, hook, message}`: the catalog code (`E-RUN-004`) travels with the failure, as
/// bindings raise it.
impl Serialize for HookError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("HookError", 4)?;
        st.serialize_field("code", ErrorCode::HookFailed.code())?;
        st.serialize_field("name", ErrorCode::HookFailed.name())?;
        st.serialize_field("hook", &self.hook)?;
        st.serialize_field("message", &self.message)?;
        st.end()
    }
}

/// A plain JSON number (NaN and infinities, which JSON lacks, as `null`).
impl Serialize for Val {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Val::I32(v) => s.serialize_i32(v),
            Val::I64(v) => s.serialize_i64(v),
            Val::F32(v) => s.serialize_f32(v),
            Val::F64(v) => s.serialize_f64(v),
        }
    }
}

fn lossy<S: Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

fn code<S: Serializer>(code: &Option<ErrorCode>, s: S) -> Result<S::Ok, S::Error> {
    match code {
        Some(c) => s.serialize_some(c.code()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spell_core::EffectiveLimits;

    fn keys(v: serde_json::Value) -> Vec<String> {
        match v {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The field names of the outcome, its usage record and the limits (sorted).
    fn fields() -> serde_json::Value {
        let usage = UsageRecord::default();
        let outcome = OutcomeJson {
            outcome: Outcome::Ok,
            exit_code: None,
            trap: None,
            detail: None,
            returned: &[],
            stdout: b"",
            stderr: b"",
            usage: &usage,
            hook_error: None,
            denial_code: None,
        };
        let limits = EffectiveLimits {
            memory_bytes: 0,
            fuel: 0,
            wall_time_ms: 0,
            output_bytes: 0,
            net_requests: 0,
            net_bytes: 0,
            open_files: 0,
            disk_write_bytes: 0,
        };
        serde_json::json!({
            "outcome": keys(serde_json::to_value(outcome).unwrap_or_default()),
            "usage": keys(serde_json::to_value(&usage).unwrap_or_default()),
            "limits": keys(serde_json::to_value(limits).unwrap_or_default()),
        })
    }

    #[test]
    fn the_listed_fields_are_the_serialized_ones() {
        let sorted = |names: &[&str]| {
            let mut v: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            v.sort();
            serde_json::Value::from(v)
        };
        let fields = fields();
        assert_eq!(fields["outcome"], sorted(&OUTCOME_FIELDS));
        assert_eq!(fields["usage"], sorted(&USAGE_FIELDS));
        assert_eq!(fields["limits"], sorted(&LIMITS_FIELDS));
    }

    #[test]
    fn fields_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/fields.json");
        let expected = serde_json::to_string_pretty(&fields()).unwrap_or_default() + "\n";
        if std::env::var_os("SPELL_BLESS").is_some() {
            std::fs::write(path, &expected).expect("write schema/fields.json");
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "schema/fields.json is stale: run with SPELL_BLESS=1"
        );
    }

    #[test]
    fn the_shape_of_a_trap() {
        let usage = UsageRecord::default();
        let hook = HookError::new("record", "store down");
        let json = serde_json::to_value(OutcomeJson {
            outcome: Outcome::Trap,
            exit_code: None,
            trap: Some(TrapKind::IntegerDivisionByZero),
            detail: Some("integer divide by zero"),
            returned: &[Val::I64(-7), Val::F32(1.5), Val::F64(f64::NAN)],
            stdout: b"ok \xff",
            stderr: b"",
            usage: &usage,
            hook_error: Some(&hook),
            denial_code: Some(ErrorCode::HookFailed),
        })
        .unwrap_or_default();
        assert_eq!(json["trap"], "integer_division_by_zero");
        assert_eq!(json["returned"], serde_json::json!([-7, 1.5, null]));
        assert_eq!(json["stdout"], "ok \u{fffd}");
        assert_eq!(json["usage"]["outcome"], "ok");
        assert_eq!(
            json["hook_error"],
            serde_json::json!({"code": "E-RUN-004", "name": "hook_failed", "hook": "record", "message": "store down"})
        );
        assert_eq!(json["denial_code"], "E-RUN-004");
    }
}
