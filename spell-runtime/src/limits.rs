//! Host-enforced limits: the memory limiter and the tripwire that ends a cast.
//!
//! Fuel is enforced by wasmtime itself (`Store::set_fuel`); wall time and cancellation by the
//! epoch callback in `cast.rs`; output by `output.rs`; disk writes by `fs_guard.rs`. Each of
//! them, when it stops a cast, trips the cast's [`Tripwire`] first, so the outcome names the
//! limit that fired even when the guest sees the refusal as an ordinary trap.

use crate::metering::{Event, EventKind, MeteringHook, Outcome};
use std::sync::{Arc, OnceLock};
use wasmtime::ResourceLimiter;

/// Bytes a table element counts for in the memory limit: the size of a funcref slot.
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Why the host stopped a cast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Stop {
    #[error("wall-time limit of {0} ms reached")]
    Timeout(u64),
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
            Stop::Timeout(_) => Outcome::Timeout,
            Stop::Cancelled => Outcome::Cancelled,
            Stop::MemoryLimit { .. } => Outcome::MemoryLimit,
            Stop::OutputLimit(_) => Outcome::OutputLimit,
            Stop::NetworkLimit(_) => Outcome::NetworkLimit,
            Stop::DiskLimit { .. } => Outcome::DiskLimit,
        }
    }
}

/// Records the first reason a cast was stopped and tells the observer hook at once.
pub(crate) struct Tripwire {
    reason: OnceLock<Stop>,
    cast_id: String,
    hook: Arc<dyn MeteringHook>,
}

impl Tripwire {
    pub(crate) fn new(cast_id: String, hook: Arc<dyn MeteringHook>) -> Arc<Tripwire> {
        Arc::new(Tripwire {
            reason: OnceLock::new(),
            cast_id,
            hook,
        })
    }

    /// Trips (the first reason wins) and returns the error that unwinds the guest.
    pub(crate) fn trip(&self, stop: Stop) -> wasmtime::Error {
        if self.reason.set(stop.clone()).is_ok() {
            self.hook.observe(&Event {
                cast_id: self.cast_id.clone(),
                kind: EventKind::LimitHit {
                    outcome: stop.outcome(),
                    detail: stop.to_string(),
                },
            });
        }
        wasmtime::Error::new(stop)
    }

    pub(crate) fn reason(&self) -> Option<&Stop> {
        self.reason.get()
    }

    /// Tells the observer about a refused action that did not stop the cast.
    pub(crate) fn violation(&self, capability: &str, detail: String) {
        self.hook.observe(&Event {
            cast_id: self.cast_id.clone(),
            kind: EventKind::PolicyViolation {
                capability: capability.into(),
                detail,
            },
        });
    }
}

/// Caps the sum of all linear memories and tables of a cast, and records its peak.
pub(crate) struct MemoryLimiter {
    cap: u64,
    current: u64,
    peak: u64,
    tripwire: Arc<Tripwire>,
}

impl MemoryLimiter {
    pub(crate) fn new(cap: u64, tripwire: Arc<Tripwire>) -> MemoryLimiter {
        MemoryLimiter {
            cap,
            current: 0,
            peak: 0,
            tripwire,
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    fn grow(&mut self, current: u64, desired: u64) -> wasmtime::Result<bool> {
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
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current as u64, desired as u64)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        )
    }
}
