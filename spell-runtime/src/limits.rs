//! Host-enforced limits: the memory limiter and the tripwire that ends a cast.
//!
//! Fuel is enforced by wasmtime itself (`Store::set_fuel`); wall time and cancellation by the
//! [`Deadline`], checked by the epoch callback, when a host call returns, inside long host calls
//! and whenever the guest yields (`cast.rs`); output by `output.rs`; disk writes by
//! `fs_guard.rs`. Each of them, when it stops a cast, trips the cast's [`Tripwire`] first, so the
//! outcome names the limit that fired even when the guest sees the refusal as an ordinary trap.

use crate::cast::CancelHandle;
use crate::metering::{Event, EventKind, HookError, MeteringHook, Outcome};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::Notify;
use wasmtime::ResourceLimiter;

/// Bytes a table element counts for in the memory limit: the size of a funcref slot.
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Why the host stopped a cast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    #[error("wall-time limit of {0} ms reached")]
    Timeout(u64),
    #[error("the authorize hook's wall-time allowance of {0} ms is used up")]
    AllowanceTimeout(u64),
    #[error("cancelled by the host")]
    Cancelled,
    #[error("memory limit of {cap} bytes reached (asked for {wanted})")]
    MemoryLimit { cap: u64, wanted: u64 },
    #[error("output limit of {0} bytes reached")]
    OutputLimit(u64),
    #[error("network limit reached: {0}")]
    NetworkLimit(String),
    #[error("disk write limit of {cap} bytes reached (would write {wanted} in all)")]
    DiskLimit { cap: u64, wanted: u64 },
}

impl Stop {
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Stop::Timeout(_) | Stop::AllowanceTimeout(_) => Outcome::Timeout,
            Stop::Cancelled => Outcome::Cancelled,
            Stop::MemoryLimit { .. } => Outcome::MemoryLimit,
            Stop::OutputLimit(_) => Outcome::OutputLimit,
            Stop::NetworkLimit(_) => Outcome::NetworkLimit,
            Stop::DiskLimit { .. } => Outcome::DiskLimit,
        }
    }
}

/// Records the first reason a cast was stopped and tells the observer hook at once; keeps the
/// cast's first hook failure.
pub(crate) struct Tripwire {
    reason: OnceLock<Stop>,
    /// Wakes the cast's supervisor when something outside the guest's own calls trips the cast
    /// (a component's HTTP exchange, which runs beside it).
    tripped: Notify,
    failure: OnceLock<HookError>,
    cast_id: String,
    hook: Arc<dyn MeteringHook>,
}

impl Tripwire {
    pub(crate) fn new(cast_id: String, hook: Arc<dyn MeteringHook>) -> Arc<Tripwire> {
        Arc::new(Tripwire {
            reason: OnceLock::new(),
            tripped: Notify::new(),
            failure: OnceLock::new(),
            cast_id,
            hook,
        })
    }

    /// The id of the cast this tripwire guards.
    pub(crate) fn cast_id(&self) -> &str {
        &self.cast_id
    }

    /// Trips (the first reason wins) and returns the error that unwinds the guest.
    pub(crate) fn trip(&self, stop: Stop) -> wasmtime::Error {
        if self.reason.set(stop.clone()).is_ok() {
            self.tripped.notify_one();
            self.observe(EventKind::LimitHit {
                outcome: stop.outcome(),
                detail: stop.to_string(),
            });
        }
        wasmtime::Error::new(stop)
    }

    /// Resolves once the cast is tripped.
    pub(crate) async fn tripped(&self) {
        // `notify_one` keeps a permit when nobody waits yet, so a trip before this is not lost.
        self.tripped.notified().await;
    }

    pub(crate) fn reason(&self) -> Option<&Stop> {
        self.reason.get()
    }

    /// Tells the observer about a refused action that did not stop the cast.
    pub(crate) fn violation(&self, capability: &str, detail: String) {
        self.observe(EventKind::PolicyViolation {
            capability: capability.into(),
            detail,
        });
    }

    fn observe(&self, kind: EventKind) {
        let event = Event {
            cast_id: self.cast_id.clone(),
            kind,
        };
        if let Err(e) = self.hook.observe(&event) {
            self.fail(e);
        }
    }

    /// Keeps `failure` unless the cast already failed: the first one is the outcome's.
    pub(crate) fn fail(&self, failure: HookError) {
        let _ = self.failure.set(failure);
    }

    /// The cast's first hook failure.
    pub(crate) fn failure(&self) -> Option<HookError> {
        self.failure.get().cloned()
    }
}

/// When a cast must stop: its wall-time deadline or its cancel handle, whichever comes first.
#[derive(Clone)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    wall_ms: u64,
    /// Whether the authorize hook's allowance set `wall_ms` (below the limit), to name it.
    allowance_bound: bool,
    /// The request's cancel handle, if it has one (most casts have none: no channel for them).
    pub(crate) cancel: Option<CancelHandle>,
    pub(crate) tripwire: Arc<Tripwire>,
}

impl Deadline {
    pub(crate) fn new(
        at: Instant,
        wall_ms: u64,
        allowance_bound: bool,
        cancel: Option<CancelHandle>,
        tripwire: Arc<Tripwire>,
    ) -> Deadline {
        Deadline {
            at,
            wall_ms,
            allowance_bound,
            cancel,
            tripwire,
        }
    }

    /// Trips the cast and returns the error that unwinds the guest once it was cancelled or
    /// its deadline passed; returns that error too once something else tripped it.
    pub(crate) fn check(&self) -> wasmtime::Result<()> {
        self.check_at(Instant::now())
    }

    /// [`Deadline::check`] with the clock read at `now`.
    pub(crate) fn check_at(&self, now: Instant) -> wasmtime::Result<()> {
        if let Some(stop) = self.tripwire.reason() {
            // Tripped beside the guest (a component's HTTP exchange): it ends here.
            return Err(wasmtime::Error::new(stop.clone()));
        }
        if self.cancel.as_ref().is_some_and(CancelHandle::is_cancelled) {
            return Err(self.tripwire.trip(Stop::Cancelled));
        }
        if now >= self.at {
            let stop = if self.allowance_bound {
                Stop::AllowanceTimeout(self.wall_ms)
            } else {
                Stop::Timeout(self.wall_ms)
            };
            return Err(self.tripwire.trip(stop));
        }
        Ok(())
    }
}

/// Caps the sum of all linear memories and tables of a cast, and records its peak.
pub(crate) struct MemoryLimiter {
    cap: u64,
    current: u64,
    peak: u64,
    /// The most bytes a memory, and elements a table, can have in this engine (the pool's slots).
    engine_max: (u64, u64),
    tripwire: Arc<Tripwire>,
}

impl MemoryLimiter {
    /// `engine_max`: the most bytes a memory, and elements a table, may have in the engine.
    pub(crate) fn new(cap: u64, engine_max: (u64, u64), tripwire: Arc<Tripwire>) -> MemoryLimiter {
        MemoryLimiter {
            cap,
            current: 0,
            peak: 0,
            engine_max,
            tripwire,
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    /// Counts a grow wasmtime is about to make. A grow past the memory's or table's declared
    /// maximum, or past what the engine can hold, fails (-1 to the guest) whatever the limit: it
    /// is refused here, before it is counted, as nothing will be used.
    fn grow(&mut self, current: u64, desired: u64, max: u64) -> wasmtime::Result<bool> {
        if desired > max {
            return Ok(false);
        }
        let total = self.current.saturating_add(desired.saturating_sub(current));
        if total > self.cap {
            return Err(self.tripwire.trip(Stop::MemoryLimit {
                cap: self.cap,
                wanted: total,
            }));
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = max.map_or(self.engine_max.0, |m| (m as u64).min(self.engine_max.0));
        self.grow(current as u64, desired as u64, max)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = max.map_or(self.engine_max.1, |m| (m as u64).min(self.engine_max.1));
        let bytes = |elements: u64| elements.saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow(bytes(current as u64), bytes(desired as u64), bytes(max))
    }
}
