//! [`PyRuntime`]: one wasmtime engine, its caches and host functions; loads spells.

use crate::errors::{OrRaise, invalid_argument};
use crate::host::PyHostFunction;
use crate::meter::PyMeter;
use crate::outcome::to_python;
use crate::package::package_bytes;
use crate::policy::PyPolicy;
use crate::spell::PySpell;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spell_runtime::{Metering, Runtime, UnverifiedModule};
use std::path::PathBuf;
use std::time::Duration;

/// A Spell runtime. Make one per process and share it between threads; every argument left
/// `None` keeps the Rust default (see the stub file or the README).
#[pyclass(name = "Runtime", module = "spell", frozen)]
pub(crate) struct PyRuntime {
    inner: Runtime,
}

#[pymethods]
impl PyRuntime {
    #[new]
    #[pyo3(signature = (*, cache_dir=None, pooling=None, max_concurrent_casts=None, queue_timeout=None, module_cache_capacity=None, epoch_tick=None, max_memory_bytes=None, metering=None, host_functions=None, meter=None, tls_root_certificates=None, wasi_p3=None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "the keyword arguments of the Python constructor"
    )]
    fn new(
        py: Python<'_>,
        cache_dir: Option<PathBuf>,
        pooling: Option<bool>,
        max_concurrent_casts: Option<usize>,
        queue_timeout: Option<f64>,
        module_cache_capacity: Option<usize>,
        epoch_tick: Option<f64>,
        max_memory_bytes: Option<u64>,
        metering: Option<String>,
        host_functions: Option<Vec<Bound<'_, PyHostFunction>>>,
        meter: Option<Bound<'_, PyAny>>,
        tls_root_certificates: Option<Vec<Vec<u8>>>,
        wasi_p3: Option<bool>,
    ) -> PyResult<PyRuntime> {
        let mut b = Runtime::builder();
        if let Some(dir) = cache_dir {
            b = b.cache_dir(dir);
        }
        if let Some(on) = pooling {
            b = b.pooling(on);
        }
        if let Some(n) = max_concurrent_casts {
            b = b.max_concurrent_casts(n);
        }
        if let Some(t) = queue_timeout {
            b = b.queue_timeout(seconds(py, "queue_timeout", t)?);
        }
        if let Some(n) = module_cache_capacity {
            b = b.module_cache_capacity(n);
        }
        if let Some(t) = epoch_tick {
            b = b.epoch_tick(seconds(py, "epoch_tick", t)?);
        }
        if let Some(bytes) = max_memory_bytes {
            b = b.max_memory_bytes(bytes);
        }
        if let Some(on) = wasi_p3 {
            b = b.wasi_p3(on);
        }
        match metering.as_deref() {
            None | Some("fuel") => {}
            Some("time") => b = b.metering(Metering::Time),
            Some(other) => {
                return Err(invalid_argument(
                    py,
                    format!("metering must be \"fuel\" or \"time\", not {other:?}"),
                ));
            }
        }
        for der in tls_root_certificates.unwrap_or_default() {
            b = b.tls_root_certificate(der);
        }
        let host_functions = host_functions.unwrap_or_default();
        for f in &host_functions {
            b = b.host_function(f.get().to_rust(py));
        }
        if let Some(meter) = meter.as_ref().map(PyMeter::hook).transpose()?.flatten() {
            b = b.meter(meter);
        }
        let inner = py.detach(|| b.build()).or_raise(py)?;
        Ok(PyRuntime { inner })
    }

    /// Loads a `.spell` package (bytes, or a path to read) through the whole verified-loading
    /// pipeline under `policy`: package checks, signature and SBOM rules, the grant, compiling
    /// (cached), import checks. Runs with the GIL released.
    fn load(
        &self,
        py: Python<'_>,
        package: &Bound<'_, PyAny>,
        policy: &Bound<'_, PyPolicy>,
    ) -> PyResult<PySpell> {
        let bytes = package_bytes(package)?;
        let (runtime, policy) = (&self.inner, &policy.get().inner);
        let spell = py.detach(|| runtime.load(&bytes, policy)).or_raise(py)?;
        Ok(PySpell::new(spell))
    }

    /// Loads a bare WebAssembly module (bytes, or a path to read) without a package: no signature,
    /// SBOM or license check; the host vouches for it. It gets what it asks for (`capabilities`
    /// and `limits` as in a manifest's `spell.json`), bounded by `policy` when one is given.
    /// Compiles with the GIL released; raises `SpellError` as `load` does (`E-MAN-001` for an
    /// unknown field).
    #[pyo3(signature = (module, *, name=None, entrypoint=None, capabilities=None, limits=None, policy=None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "the keyword arguments of the Python method"
    )]
    fn load_unverified(
        &self,
        py: Python<'_>,
        module: &Bound<'_, PyAny>,
        name: Option<String>,
        entrypoint: Option<String>,
        capabilities: Option<Bound<'_, PyDict>>,
        limits: Option<Bound<'_, PyDict>>,
        policy: Option<Bound<'_, PyPolicy>>,
    ) -> PyResult<PySpell> {
        let wasm = package_bytes(module)?;
        let ask = PyDict::new(py);
        ask.set_item("name", name)?;
        ask.set_item("entrypoint", entrypoint)?;
        if let Some(c) = capabilities {
            ask.set_item("capabilities", c)?;
        }
        if let Some(l) = limits {
            ask.set_item("limits", l)?;
        }
        let ask: String = py
            .import("json")?
            .call_method1("dumps", (ask,))?
            .extract()?;
        let runtime = &self.inner;
        let policy = policy.as_ref().map(|p| &p.get().inner);
        let spell = py
            .detach(|| {
                let module = UnverifiedModule::from_json(&wasm, &ask, policy)?;
                runtime.load_unverified(&wasm, module)
            })
            .or_raise(py)?;
        Ok(PySpell::new(spell))
    }

    /// Checks a package exactly as `load` does (package, signature and signer rule, SBOM rules,
    /// grant) without compiling it; raises what `load` would raise. Returns `{"name", "version",
    /// "digest", "verification": {"signer", "sbom", "warnings"}, "grant"}`, the object `spell
    /// verify --json` prints. Runs with the GIL released.
    fn verify<'py>(
        &self,
        py: Python<'py>,
        package: &Bound<'_, PyAny>,
        policy: &Bound<'_, PyPolicy>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = package_bytes(package)?;
        let (runtime, policy) = (&self.inner, &policy.get().inner);
        let verified = py.detach(|| runtime.verify(&bytes, policy)).or_raise(py)?;
        to_python(py, &verified)
    }

    /// Re-verifies every spell this runtime loaded against `policy` as it is now (its trusted
    /// roots, keys and OSV database read again if they changed) and revokes those it refuses:
    /// their next cast raises `SignatureError` `E-SIG-008`; casts in flight finish. Returns
    /// `{"spells": n, "changes": [{"digest", "name", "version", "before", "after"}]}`, each
    /// verdict `{"verdict": "accepted", "warnings"}` or `{"verdict": "refused", "code",
    /// "message"}`. Runs with the GIL released.
    fn rescan<'py>(
        &self,
        py: Python<'py>,
        policy: &Bound<'_, PyPolicy>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (runtime, policy) = (&self.inner, &policy.get().inner);
        let report = py.detach(|| runtime.rescan(policy)).or_raise(py)?;
        to_python(py, &report)
    }

    /// The runtime's metrics in the Prometheus text format (0.0.4), for a host's `/metrics`:
    /// casts by spell and outcome, refusals by code, histograms of time, fuel, memory and
    /// network bytes, casts in flight, queue wait, cache hits and misses.
    fn metrics(&self, py: Python<'_>) -> String {
        let runtime = &self.inner;
        py.detach(|| runtime.metrics())
    }

    /// Module cache counters: `compiled`, `memory_hits`, `disk_hits`, `disk_rejected`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("compiled", s.compiled)?;
        d.set_item("memory_hits", s.memory_hits)?;
        d.set_item("disk_hits", s.disk_hits)?;
        d.set_item("disk_rejected", s.disk_rejected)?;
        Ok(d)
    }
}

fn seconds(py: Python<'_>, name: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        invalid_argument(
            py,
            format!("{name} must be a non-negative number of seconds, not {s}"),
        )
    })
}
