//! What service mode stores and publishes about a cast: its lifecycle state (KV `spell_state`),
//! its result (KV `spell_results`), its usage entries (stream `SPELL_USAGE`) and, when it could
//! not be done, its dead letter (stream `SPELL_DEAD`).

use crate::job::{CastJob, base64_bytes};
use serde::{Deserialize, Serialize};
use spell_core::{ErrorCode, HasCode};
use spell_runtime::{Outcome, TrapKind, UsageRecord};

/// Where a cast is. States only move forward: `queued` → `running` → one of the four final
/// states; `running` may repeat with a higher attempt (a redelivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CastState {
    /// Submitted, not yet picked up.
    Queued,
    /// A worker is casting it.
    Running,
    /// It ran and ended `ok`.
    Succeeded,
    /// It ran and ended otherwise (exit code, trap, a limit, a refusal of the cast request).
    Failed,
    /// It ran and hit its wall-time limit.
    TimedOut,
    /// It could not be done (unknown spell, refused package, malformed, attempts exhausted).
    DeadLetter,
}

impl CastState {
    /// Whether no further move is possible.
    pub fn is_final(self) -> bool {
        !matches!(self, CastState::Queued | CastState::Running)
    }

    fn rank(self) -> u8 {
        match self {
            CastState::Queued => 0,
            CastState::Running => 1,
            _ => 2,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CastState::Queued => "queued",
            CastState::Running => "running",
            CastState::Succeeded => "succeeded",
            CastState::Failed => "failed",
            CastState::TimedOut => "timed_out",
            CastState::DeadLetter => "dead_letter",
        }
    }

    /// The final state of a cast that ran to `outcome`.
    pub fn of_outcome(outcome: Outcome) -> CastState {
        match outcome {
            Outcome::Ok => CastState::Succeeded,
            Outcome::Timeout => CastState::TimedOut,
            _ => CastState::Failed,
        }
    }
}

impl std::fmt::Display for CastState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cast's lifecycle entry in the `spell_state` bucket, keyed by cast id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The cast.
    pub cast_id: String,
    /// Its tenant.
    pub tenant: String,
    /// The spell's digest.
    pub spell: String,
    /// Where it is.
    pub state: CastState,
    /// The worker of the latest attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Attempts started so far.
    pub attempt: u32,
    /// When it was submitted (ms since the Unix epoch); 0 when a worker saw it first.
    pub queued_at_ms: u64,
    /// When the latest attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// When the latest attempt last reported progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_at_ms: Option<u64>,
    /// When it reached its final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// The caller's trace context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// On a final state, the stored result's [`CastResult::digest`]: which result is the
    /// cast's, for anyone checking one they were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_digest: Option<String>,
}

impl Lifecycle {
    /// The final state `result` gives a cast whose lifecycle is `current`, finished at
    /// `finished_at_ms` (`None` when the move to it is not stored yet).
    pub(crate) fn finished_by(
        current: Option<&Lifecycle>,
        result: &CastResult,
        finished_at_ms: Option<u64>,
    ) -> Lifecycle {
        Lifecycle {
            cast_id: result.cast_id.clone(),
            tenant: result.tenant.clone(),
            spell: result.spell.clone(),
            state: result.state,
            worker: Some(result.worker.clone()),
            attempt: result.attempts,
            queued_at_ms: current.map(|c| c.queued_at_ms).unwrap_or(0),
            started_at_ms: current.and_then(|c| c.started_at_ms),
            progress_at_ms: current.and_then(|c| c.progress_at_ms),
            finished_at_ms,
            traceparent: result.traceparent.clone(),
            result_digest: Some(result.digest()),
        }
    }

    /// Whether `next` may replace `self`: forward only, and `running` again only for a later
    /// attempt.
    pub fn may_become(&self, next: &Lifecycle) -> bool {
        if self.state.is_final() {
            return false;
        }
        if (self.state, next.state) == (CastState::Running, CastState::Running) {
            return next.attempt > self.attempt;
        }
        next.state.rank() > self.state.rank()
    }
}

/// A refusal or failure in the catalog's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The stable code, e.g. `E-SVC-004`.
    pub code: String,
    /// Its snake_case name.
    pub name: String,
    /// What happened.
    pub message: String,
}

impl ErrorInfo {
    /// The catalog entry of an error, with its message.
    pub fn of(e: &(impl HasCode + std::fmt::Display)) -> ErrorInfo {
        ErrorInfo::new(e.code(), e.to_string())
    }

    /// A code with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            code: code.code().into(),
            name: code.name().into(),
            message: message.into(),
        }
    }
}

/// A cast's result in the `spell_results` bucket, keyed by cast id. Written once (a KV create):
/// the first result stored is the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastResult {
    /// The cast.
    pub cast_id: String,
    /// Its tenant.
    pub tenant: String,
    /// The spell's digest.
    pub spell: String,
    /// Its final state.
    pub state: CastState,
    /// How the cast ended, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The guest's exit code, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The trap kind, for `trap` outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trap: Option<TrapKind>,
    /// Why it ended, for outcomes other than `ok` and `exit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Captured stdout (base64), up to the worker's result cap.
    #[serde(default, with = "base64_bytes")]
    pub stdout: Vec<u8>,
    /// Captured stderr (base64), up to the worker's result cap.
    #[serde(default, with = "base64_bytes")]
    pub stderr: Vec<u8>,
    /// Whether stdout or stderr was cut to fit the result cap.
    #[serde(default)]
    pub output_truncated: bool,
    /// The usage of the attempt that produced this result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRecord>,
    /// Why it was dead-lettered, or why the cast request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// Attempts it took.
    pub attempts: u32,
    /// The worker that stored it.
    pub worker: String,
    /// The caller's trace context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl CastResult {
    /// SHA-256 of the result's JSON, hex: what a final [`Lifecycle`] names it by.
    ///
    /// ```
    /// # use spell_service::CastResult;
    /// # let result: CastResult = serde_json::from_str(r#"{"cast_id":"c","tenant":"t","spell":"s",
    /// #     "state":"succeeded","attempts":1,"worker":"w"}"#).unwrap();
    /// let other = CastResult { attempts: 2, ..result.clone() };
    /// assert_eq!(result.digest().len(), 64);
    /// assert_ne!(result.digest(), other.digest());
    /// ```
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        // Encoding a result cannot fail (string keys, no maps); if it ever did, the digest would
        // name no result.
        hex::encode(Sha256::digest(serde_json::to_vec(self).unwrap_or_default()))
    }
}

/// Whether a usage entry is the cast's own or a failed attempt's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billed {
    /// The attempt whose result is the cast's result: exactly one per cast that ran.
    Cast,
    /// An attempt that used resources but produced no result: its worker died, was drained,
    /// or lost the race to store the result.
    FailedAttempt,
}

/// One entry of the `SPELL_USAGE` stream (subject `spell.usage.<tenant>`), de-duplicated by
/// its message id: the cast id for [`Billed::Cast`], `<cast id>.<attempt>` for failed attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEntry {
    /// The cast.
    pub cast_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Which attempt (1-based).
    pub attempt: u32,
    /// The cast's own usage or a failed attempt's.
    pub billed: Billed,
    /// Why the attempt failed (`worker_lost`, `drained`, `superseded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it used. For a lost worker's attempt only the wall time up to its last progress
    /// report is known (outcome `cancelled`, counters 0).
    pub usage: UsageRecord,
}

impl UsageEntry {
    /// The JetStream message id that makes publishing this entry idempotent.
    pub fn message_id(&self) -> String {
        match self.billed {
            Billed::Cast => self.cast_id.clone(),
            Billed::FailedAttempt => format!("{}.{}", self.cast_id, self.attempt),
        }
    }

    /// The usage record a ledger bills for this entry: its cast id is the entry's message id,
    /// so a cast and each of its failed attempts are rows of their own, and an entry applied
    /// twice (a redelivery) is the same row, charged once.
    pub fn billing_record(&self) -> UsageRecord {
        UsageRecord {
            cast_id: self.message_id(),
            ..self.usage.clone()
        }
    }
}

/// An entry of the `SPELL_DEAD` stream (subject `spell.dead.<tenant>`): a request that could not
/// be done, why, and what its attempts used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The cast.
    pub cast_id: String,
    /// Why.
    pub reason: ErrorInfo,
    /// Attempts made.
    pub attempts: u32,
    /// The request as received, when it could be decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<CastJob>,
    /// The usage entries of its failed attempts.
    #[serde(default)]
    pub usage: Vec<UsageEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(state: CastState, attempt: u32) -> Lifecycle {
        Lifecycle {
            cast_id: "c".into(),
            tenant: "t".into(),
            spell: "s".into(),
            state,
            worker: None,
            attempt,
            queued_at_ms: 0,
            started_at_ms: None,
            progress_at_ms: None,
            finished_at_ms: None,
            traceparent: None,
            result_digest: None,
        }
    }

    #[test]
    fn lifecycles_only_move_forward() {
        use CastState::*;
        let finals = [Succeeded, Failed, TimedOut, DeadLetter];
        assert!(at(Queued, 0).may_become(&at(Running, 1)));
        assert!(at(Running, 1).may_become(&at(Running, 2)), "a redelivery");
        assert!(
            !at(Running, 2).may_become(&at(Running, 1)),
            "a stale delivery"
        );
        assert!(!at(Running, 1).may_become(&at(Running, 1)));
        assert!(!at(Running, 1).may_become(&at(Queued, 0)));
        assert!(!at(Queued, 0).may_become(&at(Queued, 0)));
        for f in finals {
            assert!(at(Queued, 0).may_become(&at(f, 1)));
            assert!(at(Running, 3).may_become(&at(f, 3)));
            for g in [Queued, Running, Succeeded, Failed, TimedOut, DeadLetter] {
                assert!(!at(f, 1).may_become(&at(g, 2)), "{f} is final, not {g}");
            }
        }
    }

    #[test]
    fn usage_entries_are_deduplicated_per_cast_and_per_failed_attempt() {
        let usage: UsageRecord = serde_json::from_value(serde_json::json!({
            "cast_id": "r", "spell_digest": "d", "spell_name": "n", "outcome": "ok",
            "exit_code": 0, "fuel": 1, "wall_ns": 1, "cpu_ns": 1, "memory_peak_bytes": 1,
            "stdout_bytes": 0, "stderr_bytes": 0, "net_requests": 0, "net_bytes_in": 0,
            "net_bytes_out": 0, "disk_bytes_written": 0, "started_at_ms": 1
        }))
        .expect("a usage record reads back");
        let entry = |attempt, billed| UsageEntry {
            cast_id: "c1".into(),
            tenant: "t".into(),
            attempt,
            billed,
            reason: None,
            usage: usage.clone(),
        };
        assert_eq!(
            entry(1, Billed::Cast).message_id(),
            entry(2, Billed::Cast).message_id()
        );
        assert_eq!(entry(2, Billed::FailedAttempt).message_id(), "c1.2");
        assert_ne!(
            entry(1, Billed::FailedAttempt).message_id(),
            entry(1, Billed::Cast).message_id()
        );
    }
}
