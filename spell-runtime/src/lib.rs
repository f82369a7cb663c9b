//! # spell-runtime
//!
//! Loads verified spells, core modules (WASI preview 1) and components (WASI preview 2), and
//! casts them in a wasmtime WASI sandbox where every limit is enforced by the host and every
//! cast reports exactly what it used.
//!
//! ```
//! use spell_runtime::{CastRequest, Outcome, Runtime, UsageLog};
//! use spell_core::{Package, Policy};
//! use std::sync::Arc;
//!
//! let runtime = Runtime::new()?;
//! let wasm = wat::parse_str(r#"(module (func (export "spin") (loop br 0)))"#)?;
//! let manifest = br#"{"name":"spin","version":"1.0.0","license":"MIT","entrypoint":"spin",
//!                     "limits":{"fuel":100000}}"#;
//! let policy = Policy::from_toml("allow_unsigned = true")?;
//! let spell = runtime.load(&Package::pack(manifest, &wasm, None, None)?, &policy)?;
//!
//! let log = Arc::new(UsageLog::new());
//! let outcome = spell.cast(CastRequest::new().meter(log.clone()))?;
//! assert_eq!(outcome.outcome, Outcome::OutOfFuel);
//! assert_eq!(log.records()[0].fuel, Some(100_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`config`] (the builder and its defaults), [`metering`] (hooks, usage records),
//! [`host`] (host functions), [`json`] (the JSON shape of outcomes), [`rescan`] (re-verifying loaded spells, revocation), and the cast request and outcome types re-exported here.

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod cast;
mod compile;
mod component;
mod component_fs;
mod component_fs_p3;
mod component_instances;
pub mod config;
mod cpu_clock;
mod eager;
mod error;
mod fs_guard;
#[cfg(feature = "metrics")]
mod histogram;
pub mod host;
pub mod json;
mod limits;
pub mod metering;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
mod metrics;
mod net;
mod output;
pub mod pool;
mod random;
mod reaper;
pub mod rescan;
mod runtime;
mod spell;
mod ticker;
mod trace;
mod trap;

pub use cache::{CacheStats, CacheUsage, cache_usage, clear_cache};
pub use cast::{CancelHandle, CastOutcome, CastRequest, DirMount, MAX_ARGS_ENV_BYTES};
pub use compile::{CompileBudget, CompileCost, FREE_BRANCH_DEPTH, FREE_LOOP_DEPTH};
pub use config::{Metering, RuntimeBuilder};
pub use error::Error;
pub use host::{HostCall, HostError, HostFunction, Val, ValType};
pub use limits::TABLE_ELEMENT_BYTES;
pub use metering::{
    Allowance, CastContext, Denied, Event, EventKind, HookError, MeteringHook, NoMetering, Outcome,
    UsageLog, UsageRecord,
};
pub use output::{OutputCallback, Stream};
pub use rescan::{RescanReport, Verdict, VerdictChange};
pub use runtime::{ModuleAsk, Runtime, UnverifiedModule, Verified};
pub use spell::Spell;
pub use trap::TrapKind;

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runtime>();
    assert_send_sync::<Spell>();
    assert_send_sync::<CastRequest>();
    const fn assert_send<T: Send>(_: &T) {}
    // `Spell::cast_async` must stay `Send`, for multi-threaded executors.
    let _ = |spell: &Spell| assert_send(&spell.cast_async(CastRequest::new()));
};

/// `Spell::cast_async` can be spawned on a multi-threaded executor (service-mode workers do).
#[expect(dead_code, reason = "a compile-time check")]
fn cast_async_is_send(spell: &Spell) -> impl std::future::Future + Send + '_ {
    spell.cast_async(CastRequest::new())
}
