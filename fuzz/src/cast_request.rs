//! A service-mode cast request as a worker receives it: the subject it was published on and its
//! payload, through `CastJob::from_delivery`.
//!
//! Input: the subject up to the first newline, the payload after it (a missing newline makes it
//! all payload on `spell.cast.acme`).
//!
//! Oracles: an accepted request belongs to the subject's tenant, passes its own checks, encodes
//! within the size cap and decodes back to itself, and its cast id is 32 hex digits that a
//! worker can use as a key; a refused one carries an `E-SVC-003` or `E-SVC-005` code.

use spell_core::{ErrorCode, HasCode};
use spell_service::{CastJob, MAX_REQUEST_BYTES};

/// Runs one input.
pub fn run(data: &[u8]) {
    let (subject, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => ("spell.cast.acme".to_string(), data),
    };
    let job = match CastJob::from_delivery(&subject, payload) {
        Ok(job) => job,
        Err(e) => {
            assert!(
                matches!(
                    e.code(),
                    ErrorCode::ServiceRequestInvalid | ErrorCode::ServiceRequestTooLarge
                ),
                "{e}"
            );
            return;
        }
    };
    assert_eq!(subject, format!("spell.cast.{}", job.tenant));
    job.validate().expect("an accepted request is valid");
    let json = job.to_json().expect("an accepted request encodes");
    assert!(json.len() <= MAX_REQUEST_BYTES);
    assert_eq!(
        CastJob::from_delivery(&subject, &json).expect("decodes"),
        job
    );
    let id = job.cast_id();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_for_the_subjects_tenant_passes() {
        super::run(include_bytes!("../corpus/cast_request/valid"));
    }
}
