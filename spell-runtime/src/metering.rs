//! Metering hooks and usage records: what billing is computed from.
//!
//! A [`MeteringHook`] sees every cast three ways:
//! - [`MeteringHook::authorize`] before anything runs (a budget pre-check; it may cap fuel),
//! - [`MeteringHook::observe`] as limits are hit and policy violations happen,
//! - [`MeteringHook::record`] exactly once after every cast that passed request validation,
//!   whatever its outcome, including denials, traps, timeouts and cancellations.
//!
//! When a hook, a host function or the output callback fails, the runtime keeps the failure (with
//! its source error) as the outcome's `hook_error`, so every binding reports hook failures the
//! same way without keeping its own.
//!
//! [`UsageLog`] is a ready-made hook that keeps every record in memory.

use serde::{Deserialize, Serialize};
use spell_core::{EffectiveLimits, ErrorCode};
use std::sync::{Arc, Mutex};

/// How a cast ended. Serialized in snake_case (`out_of_fuel`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The guest exited with code 0 or its entrypoint returned.
    #[default]
    Ok,
    /// The guest exited with a non-zero code.
    Exit,
    /// The guest trapped (see `CastOutcome::trap` for the kind).
    Trap,
    /// The wall-time limit ended the cast.
    Timeout,
    /// The fuel limit (or the authorize hook's fuel allowance) ended the cast.
    OutOfFuel,
    /// The memory limit ended the cast.
    MemoryLimit,
    /// The stdout/stderr byte limit ended the cast.
    OutputLimit,
    /// A network byte limit ended the cast.
    NetworkLimit,
    /// The host cancelled the cast.
    Cancelled,
    /// The authorize hook refused the cast; nothing ran.
    Denied,
    /// The disk write limit ended the cast.
    DiskLimit,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 11] = [
        Outcome::Ok,
        Outcome::Exit,
        Outcome::Trap,
        Outcome::Timeout,
        Outcome::OutOfFuel,
        Outcome::MemoryLimit,
        Outcome::OutputLimit,
        Outcome::NetworkLimit,
        Outcome::Cancelled,
        Outcome::Denied,
        Outcome::DiskLimit,
    ];

    /// The snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exit => "exit",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfFuel => "out_of_fuel",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::OutputLimit => "output_limit",
            Outcome::NetworkLimit => "network_limit",
            Outcome::Cancelled => "cancelled",
            Outcome::Denied => "denied",
            Outcome::DiskLimit => "disk_limit",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the authorize hook sees: a view of the cast about to start, borrowed for the call
/// (copy the fields a hook keeps).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CastContext<'a> {
    /// Unique id of this cast (32 hex digits).
    pub cast_id: &'a str,
    /// sha256 of the spell's `spell.json` (or of the module, for unverified modules).
    pub spell_digest: &'a str,
    /// The spell's name.
    pub spell_name: &'a str,
    /// The spell's version.
    pub spell_version: &'a str,
    /// The limits this cast will run under (before any allowance).
    pub limits: EffectiveLimits,
}

/// What the authorize hook grants this cast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowance {
    /// At most this much fuel for this cast (e.g. the caller's remaining budget). Running out ends
    /// the cast as `out_of_fuel` with the allowance named as the reason.
    pub max_fuel: Option<u64>,
    /// At most this many milliseconds of wall time (e.g. what a budget can pay when the price
    /// depends on time, or when the runtime meters without fuel). Running out ends the cast as
    /// `timeout` with the allowance named as the reason.
    pub max_wall_time_ms: Option<u64>,
}

/// The authorize hook refused the cast, or could not decide.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Denied {
    /// Why, in the host's words.
    pub reason: String,
    /// The catalog code of the refusal, when it has one (`E-BILL-001`: the account cannot pay).
    /// It is the outcome's `denial_code`.
    pub code: Option<ErrorCode>,
    /// Set when the hook failed rather than refused (its store was down, a binding's callback
    /// raised): the cast is denied all the same (fail closed) and this is its `hook_error`.
    pub failure: Option<HookError>,
}

impl Denied {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Denied {
        Denied {
            reason: reason.into(),
            code: None,
            failure: None,
        }
    }

    /// A refusal with a catalog code and a reason.
    pub fn with_code(code: ErrorCode, reason: impl Into<String>) -> Denied {
        Denied {
            code: Some(code),
            ..Denied::new(reason)
        }
    }

    /// The hook failed: the cast is denied, and `failure` becomes its `hook_error`.
    ///
    /// ```
    /// use spell_runtime::{Denied, HookError};
    /// let d = Denied::failed(HookError::new("authorize", "budget store unreachable"));
    /// assert_eq!(d.reason, "authorize hook failed: budget store unreachable");
    /// assert!(d.failure.is_some());
    /// ```
    pub fn failed(failure: HookError) -> Denied {
        Denied {
            failure: Some(failure.clone()),
            ..Denied::new(failure.to_string())
        }
    }
}

/// A hook failed (the billing store was unreachable, a binding's callback raised, a host function
/// returned an error). The first failure of a cast is its `CastOutcome::hook_error`.
///
/// ```
/// use spell_runtime::HookError;
/// let io = std::io::Error::other("disk full");
/// let e = HookError::new("record", "could not store the usage").with_source(io);
/// assert_eq!(e.to_string(), "record hook failed: could not store the usage");
/// assert_eq!(std::error::Error::source(&e).map(|s| s.to_string()), Some("disk full".into()));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{hook} hook failed: {message}")]
pub struct HookError {
    /// Which hook: `authorize`, `observe`, `record`, `on_output` or a host function's
    /// `module::name`.
    pub hook: String,
    /// What went wrong.
    pub message: String,
    /// The error the hook failed with, for a host that wants the original back (a binding's
    /// exception); not serialized.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl HookError {
    /// A failure of `hook`.
    pub fn new(hook: impl Into<String>, message: impl Into<String>) -> HookError {
        HookError {
            hook: hook.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same failure, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
}

/// Equal when the hook and message are: sources are opaque.
impl PartialEq for HookError {
    fn eq(&self, other: &HookError) -> bool {
        self.hook == other.hook && self.message == other.message
    }
}

/// Everything one cast consumed. Serialized with the field names of `spell cast --json`; service
/// mode reads it back from its usage stream. The default is a record of nothing used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Unique id of the cast.
    pub cast_id: String,
    /// sha256 of the spell's `spell.json`.
    pub spell_digest: String,
    /// The spell's name.
    pub spell_name: String,
    /// How the cast ended.
    pub outcome: Outcome,
    /// The guest's exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Fuel consumed (`None` when the runtime meters without fuel).
    pub fuel: Option<u64>,
    /// Wall-clock time of the cast, nanoseconds: from when it had a slot (a wait for one is not
    /// billed) until its sandbox was torn down.
    pub wall_ns: u64,
    /// CPU time of the thread(s) running the guest, nanoseconds: less only by time a thread
    /// was descheduled just before a measure, more only by a virtual machine's steal time in a
    /// measure under 20 µs (see the README).
    pub cpu_ns: u64,
    /// Peak of linear memories plus tables, bytes.
    pub memory_peak_bytes: u64,
    /// Bytes the guest wrote to stdout (captured, up to the cap).
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr (captured, up to the cap).
    pub stderr_bytes: u64,
    /// Outbound requests made.
    pub net_requests: u64,
    /// Network bytes received (headers and bodies).
    pub net_bytes_in: u64,
    /// Network bytes sent (headers and bodies).
    pub net_bytes_out: u64,
    /// Bytes written to files in read-write mounts, plus holes left by writes past the end and
    /// growth by truncation.
    pub disk_bytes_written: u64,
    /// When the cast started, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// The W3C trace the cast joined (32 hex digits), when its request carried a `traceparent`.
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// Something that happened that a host may want to act on at once: during a cast, or to a loaded
/// spell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The cast it happened in (empty for events outside a cast).
    pub cast_id: String,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A limit ended the cast.
    LimitHit {
        /// The outcome it caused.
        outcome: Outcome,
        /// Details (which limit, its value).
        detail: String,
    },
    /// The guest tried something its grant does not allow.
    PolicyViolation {
        /// The capability involved (`network`, ...).
        capability: String,
        /// What was attempted and why it was refused.
        detail: String,
    },
    /// A rescan refused a loaded spell: its casts fail with `E-SIG-008` from now on. Observed by
    /// the runtime's meter, outside any cast.
    SpellRevoked {
        /// The spell's digest (hex).
        spell_digest: String,
        /// The spell's name.
        spell_name: String,
        /// The refusal's code (`E-SBOM-005`, …).
        code: String,
        /// The refusal with its findings.
        detail: String,
    },
}

/// Metering and policy hooks. Every method has a default, so implement only what you need.
///
/// Hooks run on the casting thread: keep them quick (queue to a billing system rather than
/// call it synchronously). They are not called for requests refused before a cast starts
/// (invalid request, `busy`).
pub trait MeteringHook: Send + Sync {
    /// Runs before a cast.
    ///
    /// ## Return Value
    /// - `Ok(allowance)`: the cast runs; `allowance.max_fuel` lowers its fuel limit and
    ///   `allowance.max_wall_time_ms` its wall-time limit.
    /// - `Err(Denied)`: nothing runs; the outcome is `denied` with the reason, and `record` is
    ///   still called with zero usage. A hook that fails rather than refuses returns
    ///   [`Denied::failed`]: the failure is also the outcome's `hook_error`.
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        let _ = ctx;
        Ok(Allowance::default())
    }

    /// Runs exactly once after the cast, whatever the outcome.
    ///
    /// ## Return Value
    /// An `Err` does not change the outcome; it is returned in `CastOutcome::hook_error` (ahead
    /// of any earlier failure of the cast) so the host can retry storing the record.
    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        let _ = usage;
        Ok(())
    }

    /// Runs as limits are hit and policy violations happen, from inside the cast.
    ///
    /// ## Return Value
    /// An `Err` does not stop the cast; it becomes the outcome's `hook_error` unless an earlier
    /// failure did.
    fn observe(&self, event: &Event) -> Result<(), HookError> {
        let _ = event;
        Ok(())
    }
}

/// The hook used when none is given: allows everything and records nothing.
#[derive(Debug, Default)]
pub struct NoMetering;

impl MeteringHook for NoMetering {}

/// A ready-made hook that keeps every usage record and event in memory, with an optional fuel
/// budget shared by all casts.
#[derive(Debug, Default)]
pub struct UsageLog {
    budget: Option<u64>,
    state: Mutex<UsageLogState>,
}

#[derive(Debug, Default)]
struct UsageLogState {
    records: Vec<UsageRecord>,
    events: Vec<Event>,
    spent: u64,
}

impl UsageLog {
    /// A log without a budget.
    pub fn new() -> UsageLog {
        UsageLog::default()
    }

    /// A log whose casts may spend at most `fuel` in total: each cast is allowed what remains,
    /// and casts are denied once it is spent.
    pub fn with_fuel_budget(fuel: u64) -> UsageLog {
        UsageLog {
            budget: Some(fuel),
            ..Default::default()
        }
    }

    /// The records so far, in order.
    pub fn records(&self) -> Vec<UsageRecord> {
        self.lock().records.clone()
    }

    /// The events so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UsageLogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MeteringHook for UsageLog {
    fn authorize(&self, _: &CastContext<'_>) -> Result<Allowance, Denied> {
        match self.budget {
            None => Ok(Allowance::default()),
            Some(budget) => {
                let left = budget.saturating_sub(self.lock().spent);
                if left == 0 {
                    Err(Denied::new(format!("fuel budget of {budget} is spent")))
                } else {
                    Ok(Allowance {
                        max_fuel: Some(left),
                        ..Allowance::default()
                    })
                }
            }
        }
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        let mut s = self.lock();
        s.spent += usage.fuel.unwrap_or(0);
        s.records.push(usage.clone());
        Ok(())
    }

    fn observe(&self, event: &Event) -> Result<(), HookError> {
        self.lock().events.push(event.clone());
        Ok(())
    }
}
