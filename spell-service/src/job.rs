//! The cast request a client publishes and a worker runs: [`CastJob`]. Its JSON Schema is
//! `schema/cast-request.schema.json`, generated from this type.

use crate::error::ServiceError;
use base64::engine::general_purpose::STANDARD as BASE64;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spell_core::{Limits, Sha256Digest};
use std::collections::BTreeMap;

/// Cap on an encoded request, bytes. Under NATS's default 1 MiB payload cap with room for
/// headers, so a request that passes here is never refused by the server.
pub const MAX_REQUEST_BYTES: usize = 768 << 10;

/// Cap on a request's stdin, bytes (base64 makes it a third larger on the wire).
pub const MAX_STDIN_BYTES: usize = 512 << 10;

/// A cast request, checked again by the worker ([`CastJob::from_json`]): any publisher may
/// have written it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Spell cast request")]
pub struct CastJob {
    /// sha256 of the spell's `spell.json`, 64 lowercase hex digits (as `spell publish` prints).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub spell: String,
    /// Who the cast is for (billing, concurrency caps): 1-64 of `A-Z a-z 0-9 _ -`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub tenant: String,
    /// Submitting the same key for the same tenant again never makes a second cast: 1-128
    /// printable ASCII characters without spaces.
    #[schemars(regex(pattern = r"^[!-~]{1,128}$"))]
    pub idempotency_key: String,
    /// Arguments after `argv[0]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables; each name must be granted by the worker's policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The guest's stdin, base64 (standard alphabet, padded), at most 512 KiB decoded.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "base64_bytes")]
    #[schemars(with = "String")]
    pub stdin: Vec<u8>,
    /// Limits to lower for this cast; raising above the worker's grant is refused.
    #[serde(default)]
    pub limits: Limits,
    /// W3C trace context of the caller (`00-<trace id>-<span id>-<flags>`), carried to the
    /// worker and the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"))]
    pub traceparent: Option<String>,
}

impl CastJob {
    /// A request to cast the spell with digest `spell` for `tenant`, de-duplicated by
    /// `idempotency_key`.
    ///
    /// ```
    /// use spell_service::CastJob;
    /// let job = CastJob::new("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "acme", "order-17")
    ///     .arg("world")
    ///     .stdin(b"input".to_vec());
    /// let json = job.to_json()?;
    /// assert_eq!(spell_service::CastJob::from_json(&json)?, job);
    /// assert_eq!(job.cast_id().len(), 32);
    /// # Ok::<(), spell_service::ServiceError>(())
    /// ```
    pub fn new(
        spell: impl Into<String>,
        tenant: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> CastJob {
        CastJob {
            spell: spell.into(),
            tenant: tenant.into(),
            idempotency_key: idempotency_key.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            stdin: Vec::new(),
            limits: Limits::default(),
            traceparent: None,
        }
    }

    /// Appends an argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Appends arguments.
    pub fn args(mut self, a: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    /// The guest's stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Lowers limits for this cast.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The caller's W3C `traceparent`.
    pub fn traceparent(mut self, tp: impl Into<String>) -> Self {
        self.traceparent = Some(tp.into());
        self
    }

    /// The cast's id: 32 hex digits derived from the tenant and the idempotency key, so every
    /// retry of a submission names the same cast (and the same JetStream `Nats-Msg-Id`).
    pub fn cast_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"spell-cast\0");
        h.update(self.tenant.as_bytes());
        h.update(b"\0");
        h.update(self.idempotency_key.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// The spell's digest, parsed.
    pub fn spell_digest(&self) -> Result<Sha256Digest, ServiceError> {
        self.spell.parse().map_err(|_| {
            ServiceError::InvalidRequest("`spell` must be 64 lowercase hex digits".into())
        })
    }

    /// Checks every field against the schema's rules and the caps.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.spell_digest()?;
        let invalid = |m: &str| Err(ServiceError::InvalidRequest(m.into()));
        if !valid_tenant(&self.tenant) {
            return invalid("`tenant` must be 1-64 of A-Z a-z 0-9 _ -");
        }
        if self.idempotency_key.is_empty()
            || self.idempotency_key.len() > 128
            || !self.idempotency_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return invalid(
                "`idempotency_key` must be 1-128 printable ASCII characters without spaces",
            );
        }
        if let Some(tp) = &self.traceparent
            && !is_traceparent(tp)
        {
            return invalid(
                "`traceparent` must be a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)",
            );
        }
        if self.stdin.len() > MAX_STDIN_BYTES {
            return Err(ServiceError::TooLarge {
                what: "stdin",
                size: self.stdin.len(),
                max: MAX_STDIN_BYTES,
            });
        }
        Ok(())
    }

    /// Encodes a valid request; refuses one over [`MAX_REQUEST_BYTES`].
    pub fn to_json(&self) -> Result<Vec<u8>, ServiceError> {
        self.validate()?;
        let json =
            serde_json::to_vec(self).map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
        check_size(json.len())?;
        Ok(json)
    }

    /// Decodes and checks a request from any publisher: size first, then JSON, then fields.
    pub fn from_json(bytes: &[u8]) -> Result<CastJob, ServiceError> {
        check_size(bytes.len())?;
        let job: CastJob = serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::InvalidRequest(e.to_string()))?;
        job.validate()?;
        Ok(job)
    }

    /// Decodes a request as a worker receives it: from `subject` (`spell.cast.<tenant>`), which
    /// NATS permissions can bind to the publisher, and the payload, which nobody vouches for. The
    /// payload's tenant must be the subject's, or one tenant could bill its casts to another.
    pub fn from_delivery(subject: &str, payload: &[u8]) -> Result<CastJob, ServiceError> {
        let job = CastJob::from_json(payload)?;
        if subject_tenant(subject) != Some(job.tenant.as_str()) {
            return Err(ServiceError::InvalidRequest(format!(
                "tenant `{}` was published on `{subject}`, not on `spell.cast.{}`",
                job.tenant, job.tenant
            )));
        }
        Ok(job)
    }

    /// The JSON Schema of the request, as kept in `schema/cast-request.schema.json`.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(CastJob);
        let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The tenant a request subject names (`spell.cast.<tenant>`), when it is a valid tenant.
pub(crate) fn subject_tenant(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("spell.cast.")
        .filter(|t| valid_tenant(t))
}

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_size(size: usize) -> Result<(), ServiceError> {
    if size > MAX_REQUEST_BYTES {
        return Err(ServiceError::TooLarge {
            what: "request",
            size,
            max: MAX_REQUEST_BYTES,
        });
    }
    Ok(())
}

fn is_traceparent(tp: &str) -> bool {
    let parts: Vec<&str> = tp.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

/// Bytes as a base64 string in JSON.
pub(crate) mod base64_bytes {
    use super::BASE64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spell_core::{ErrorCode, HasCode};

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn schema_file_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schema/cast-request.schema.json"
        );
        let expected = CastJob::json_schema();
        if std::env::var_os("SPELL_BLESS").is_some() {
            std::fs::write(path, &expected).expect("write schema");
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "schema/cast-request.schema.json is stale: run with SPELL_BLESS=1"
        );
    }

    #[test]
    fn cast_id_depends_on_tenant_and_key_only() {
        let a = CastJob::new(DIGEST, "acme", "k1");
        assert_eq!(a.cast_id(), a.clone().arg("x").cast_id());
        assert_ne!(a.cast_id(), CastJob::new(DIGEST, "acme", "k2").cast_id());
        assert_ne!(a.cast_id(), CastJob::new(DIGEST, "acm", "ek1").cast_id());
    }

    #[test]
    fn hostile_requests_get_typed_errors() {
        let code = |bytes: &[u8]| CastJob::from_json(bytes).map(|_| ()).map_err(|e| e.code());
        assert_eq!(code(b"{"), Err(ErrorCode::ServiceRequestInvalid));
        assert_eq!(
            code(&vec![b' '; MAX_REQUEST_BYTES + 1]),
            Err(ErrorCode::ServiceRequestTooLarge)
        );
        let ok = CastJob::new(DIGEST, "acme", "k");
        let cases = [
            CastJob {
                spell: "ABC".into(),
                ..ok.clone()
            },
            CastJob {
                tenant: "a.b".into(),
                ..ok.clone()
            },
            CastJob {
                tenant: String::new(),
                ..ok.clone()
            },
            CastJob {
                idempotency_key: "has space".into(),
                ..ok.clone()
            },
            ok.clone().traceparent("00-xyz"),
        ];
        for job in cases {
            let json = serde_json::to_vec(&job).expect("encode");
            assert_eq!(
                code(&json),
                Err(ErrorCode::ServiceRequestInvalid),
                "{job:?}"
            );
        }
        let big = ok.clone().stdin(vec![0u8; MAX_STDIN_BYTES + 1]);
        assert_eq!(
            big.to_json().map_err(|e| e.code()).err(),
            Some(ErrorCode::ServiceRequestTooLarge)
        );
        let unknown_field = br#"{"spell":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","tenant":"a","idempotency_key":"k","extra":1}"#;
        assert_eq!(code(unknown_field), Err(ErrorCode::ServiceRequestInvalid));
        assert_eq!(code(&ok.to_json().expect("valid")), Ok(()));
    }

    #[test]
    fn a_request_is_only_as_good_as_its_subject() {
        let json = CastJob::new(DIGEST, "acme", "k").to_json().expect("valid");
        let code = |subject: &str| {
            CastJob::from_delivery(subject, &json)
                .map(|j| j.tenant)
                .map_err(|e| e.code())
        };
        assert_eq!(code("spell.cast.acme"), Ok("acme".to_string()));
        for subject in [
            "spell.cast.other",
            "spell.cast.acme.x",
            "spell.cast.",
            "acme",
            "",
        ] {
            assert_eq!(
                code(subject),
                Err(ErrorCode::ServiceRequestInvalid),
                "{subject}"
            );
        }
        assert_eq!(subject_tenant("spell.cast.a-b_1"), Some("a-b_1"));
        assert_eq!(subject_tenant("spell.cast.a b"), None);
    }
}
