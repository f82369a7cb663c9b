//! # spell-python
//!
//! The Python binding of the Spell runtime, built with maturin as the `spell._spell` extension
//! of the `spell` package (`pip install ./bindings/python`).
//!
//! ```python
//! import spell
//! runtime = spell.Runtime()
//! hello = runtime.load("examples/hello/hello.spell", spell.Policy.from_file("examples/policy.toml"))
//! outcome = hello.cast(["world"], meter=spell.UsageLog())
//! assert outcome.outcome == "ok" and outcome.stdout == b"Hello, world!\n"
//! ```
//!
//! Modules, one per Python concept: [`runtime`] (`Runtime`), [`policy`] (`Policy`), [`spell`]
//! (`Spell`: `cast` through the runtime's interruptible cast, `cast_async` through its eager
//! one), [`request`] (`Limits`, `CancelHandle`, cast arguments),
//! [`outcome`] (`CastOutcome`, `Usage`), [`meter`] (metering hooks, `UsageLog`), [`host`]
//! (`HostFunction`, `HostCall`), [`package`] (`pack`), [`errors`] (the exception hierarchy) and
//! [`bench`] (the Rust baseline of `bench.py`). The binding wraps the Rust API and keeps no
//! runtime logic of its own.

mod bench;
mod errors;
mod host;
mod ledger;
mod meter;
mod outcome;
mod package;
mod policy;
mod request;
mod runtime;
mod spell;

/// The extension's own allocations go to mimalloc, as in the Node addon (see its `lib.rs` for
/// the choice of version and TLS model); Python keeps its allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pyo3::prelude::*;
use std::sync::{Mutex, MutexGuard};

#[pymodule]
fn _spell(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<runtime::PyRuntime>()?;
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<spell::PySpell>()?;
    m.add_class::<outcome::PyCastOutcome>()?;
    m.add_class::<outcome::PyUsage>()?;
    m.add_class::<request::PyLimits>()?;
    m.add_class::<request::PyCancelHandle>()?;
    m.add_class::<meter::PyUsageLog>()?;
    m.add_class::<ledger::PyLedger>()?;
    m.add_class::<ledger::PyLedgerMeter>()?;
    m.add_class::<meter::PyAllowance>()?;
    m.add_class::<meter::PyCastContext>()?;
    m.add_class::<meter::PyEvent>()?;
    m.add_class::<host::PyHostFunction>()?;
    m.add_class::<host::PyHostCall>()?;
    m.add_function(wrap_pyfunction!(package::pack, m)?)?;
    m.add_function(wrap_pyfunction!(package::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_cast_seconds, m)?)?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Locks a mutex, recovering from poisoning: every value guarded here stays consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
