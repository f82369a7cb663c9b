//! How a cast ended: [`PyCastOutcome`] and its usage record [`PyUsage`].

use crate::errors::{hook_error, spell_error};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use spell_core::ErrorCode;
use spell_runtime::json::OutcomeJson;
use spell_runtime::{CastOutcome, HookError, Outcome, TrapKind, UsageRecord, Val};

/// Everything one cast consumed, with the fields (and names) of the Rust `UsageRecord`.
#[pyclass(name = "Usage", module = "spell", frozen)]
pub(crate) struct PyUsage {
    record: UsageRecord,
}

impl PyUsage {
    pub(crate) fn new(record: UsageRecord) -> PyUsage {
        PyUsage { record }
    }
}

#[pymethods]
impl PyUsage {
    /// Unique id of the cast (32 hex digits).
    #[getter]
    fn cast_id(&self) -> &str {
        &self.record.cast_id
    }

    /// sha256 of the spell's `spell.json`, hex.
    #[getter]
    fn spell_digest(&self) -> &str {
        &self.record.spell_digest
    }

    /// The spell's name.
    #[getter]
    fn spell_name(&self) -> &str {
        &self.record.spell_name
    }

    /// How the cast ended (`ok`, `exit`, `trap`, `timeout`, `out_of_fuel`, ...).
    #[getter]
    fn outcome(&self) -> &'static str {
        self.record.outcome.as_str()
    }

    /// The guest's exit code, when it exited.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.record.exit_code
    }

    /// Fuel consumed (`None` when the runtime meters time instead).
    #[getter]
    fn fuel(&self) -> Option<u64> {
        self.record.fuel
    }

    /// Wall-clock time, nanoseconds.
    #[getter]
    fn wall_ns(&self) -> u64 {
        self.record.wall_ns
    }

    /// CPU time of the thread running the guest, nanoseconds.
    #[getter]
    fn cpu_ns(&self) -> u64 {
        self.record.cpu_ns
    }

    /// Peak of linear memories plus tables, bytes.
    #[getter]
    fn memory_peak_bytes(&self) -> u64 {
        self.record.memory_peak_bytes
    }

    /// Bytes captured from stdout.
    #[getter]
    fn stdout_bytes(&self) -> u64 {
        self.record.stdout_bytes
    }

    /// Bytes captured from stderr.
    #[getter]
    fn stderr_bytes(&self) -> u64 {
        self.record.stderr_bytes
    }

    /// Outbound requests made.
    #[getter]
    fn net_requests(&self) -> u64 {
        self.record.net_requests
    }

    /// Network bytes received.
    #[getter]
    fn net_bytes_in(&self) -> u64 {
        self.record.net_bytes_in
    }

    /// Network bytes sent.
    #[getter]
    fn net_bytes_out(&self) -> u64 {
        self.record.net_bytes_out
    }

    /// Bytes written to files, plus holes and growth by truncation.
    #[getter]
    fn disk_bytes_written(&self) -> u64 {
        self.record.disk_bytes_written
    }

    /// When the cast started, milliseconds since the Unix epoch.
    #[getter]
    fn started_at_ms(&self) -> u64 {
        self.record.started_at_ms
    }

    /// The W3C trace the cast joined (32 hex digits), or `None` without a `traceparent`.
    #[getter]
    fn trace_id(&self) -> Option<&str> {
        self.record.trace_id.as_deref()
    }

    /// The record as a dict, serialized exactly as the Rust record is (the `usage` object of
    /// `spell cast --json`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.record)
    }

    fn __repr__(&self) -> String {
        format!(
            "Usage(outcome={:?}, fuel={:?}, wall_ns={}, memory_peak_bytes={})",
            self.outcome(),
            self.record.fuel,
            self.record.wall_ns,
            self.record.memory_peak_bytes
        )
    }
}

/// How a cast ended, what it printed, and what it used.
#[pyclass(name = "CastOutcome", module = "spell", frozen)]
pub(crate) struct PyCastOutcome {
    outcome: Outcome,
    /// The exit code, when the guest exited (`_start` returning counts as 0).
    #[pyo3(get)]
    exit_code: Option<i32>,
    trap: Option<TrapKind>,
    /// Why, for every outcome but `ok` and `exit`.
    #[pyo3(get)]
    detail: Option<String>,
    returned: Vec<Val>,
    /// Captured stdout.
    #[pyo3(get)]
    stdout: Py<PyBytes>,
    /// Captured stderr.
    #[pyo3(get)]
    stderr: Py<PyBytes>,
    /// The usage record the metering hook got.
    #[pyo3(get)]
    usage: Py<PyUsage>,
    /// The first exception a hook, `on_output` or a host function raised during the cast, as a
    /// `spell.HookError` whose `__cause__` is the original; `None` if none raised.
    #[pyo3(get)]
    hook_error: Option<Py<PyAny>>,
    /// `hook_error` as the runtime describes it, for `to_dict`.
    hook_failure: Option<HookError>,
    denial_code: Option<ErrorCode>,
}

impl PyCastOutcome {
    pub(crate) fn new(py: Python<'_>, o: CastOutcome) -> PyResult<PyCastOutcome> {
        let hook_error = o.hook_error.as_ref().map(|h| {
            // What Python raised comes back as the cause; other sources stay in the message.
            let cause = h
                .source
                .as_deref()
                .and_then(|s| s.downcast_ref::<PyErr>())
                .map(|e| e.clone_ref(py));
            hook_error(py, &h.hook, h, cause)
        });
        Ok(PyCastOutcome {
            outcome: o.outcome,
            exit_code: o.exit_code,
            trap: o.trap,
            detail: o.detail,
            returned: o.returned,
            stdout: PyBytes::new(py, &o.stdout).unbind(),
            stderr: PyBytes::new(py, &o.stderr).unbind(),
            usage: Py::new(py, PyUsage::new(o.usage))?,
            hook_error: hook_error.map(|e| e.into_value(py).into_any()),
            hook_failure: o.hook_error,
            denial_code: o.denial_code,
        })
    }
}

#[pymethods]
impl PyCastOutcome {
    /// How it ended: `ok`, `exit`, `trap`, `timeout`, `out_of_fuel`, `memory_limit`,
    /// `output_limit`, `network_limit`, `cancelled`, `denied` or `disk_limit`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.outcome.as_str()
    }

    /// Whether it ended `ok`.
    #[getter]
    fn ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// The trap kind of `trap` outcomes, e.g. `unreachable_code_reached`, `host_error`.
    #[getter]
    fn trap(&self) -> Option<&'static str> {
        self.trap.map(TrapKind::as_str)
    }

    /// For `denied` casts, the catalog code the authorize hook gave, e.g. `E-BILL-001` when a
    /// ledger account cannot pay; `None` otherwise.
    #[getter]
    fn denial_code(&self) -> Option<&'static str> {
        self.denial_code.map(|c| c.code())
    }

    /// What a named export returned (ints and floats).
    #[getter]
    fn returned<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let values: Vec<Bound<'py, PyAny>> = self
            .returned
            .iter()
            .map(|v| val_to_python(py, *v))
            .collect::<PyResult<_>>()?;
        PyList::new(py, values)
    }

    /// The outcome as a dict, in the JSON shape of `spell cast --json` (the Rust
    /// `CastOutcome`'s serialization): `stdout` and `stderr` as text, `usage` a dict,
    /// `hook_error` `None` or a dict with `code`, `name`, `hook` and `message`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let usage = self.usage.bind(py).get();
        let json = OutcomeJson {
            outcome: self.outcome,
            exit_code: self.exit_code,
            trap: self.trap,
            detail: self.detail.as_deref(),
            returned: &self.returned,
            stdout: self.stdout.bind(py).as_bytes(),
            stderr: self.stderr.bind(py).as_bytes(),
            usage: &usage.record,
            hook_error: self.hook_failure.as_ref(),
            denial_code: self.denial_code,
        };
        to_python(py, &json)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let (out, err) = (
            self.stdout.bind(py).as_bytes().len(),
            self.stderr.bind(py).as_bytes().len(),
        );
        format!(
            "CastOutcome(outcome={:?}, exit_code={:?}, stdout={out} bytes, stderr={err} bytes)",
            self.outcome.as_str(),
            self.exit_code
        )
    }
}

pub(crate) fn val_to_python(py: Python<'_>, v: Val) -> PyResult<Bound<'_, PyAny>> {
    Ok(match v {
        Val::I32(x) => x.into_pyobject(py)?.into_any(),
        Val::I64(x) => x.into_pyobject(py)?.into_any(),
        Val::F32(x) => x.into_pyobject(py)?.into_any(),
        Val::F64(x) => x.into_pyobject(py)?.into_any(),
    })
}

/// A value serialized to JSON, as the Python value `json.loads` would give.
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| spell_error(py, ErrorCode::Internal, e))?;
    json_to_python(py, &value)
}

/// A JSON value as the Python value `json.loads` would give.
pub(crate) fn json_to_python<'py>(
    py: Python<'py>,
    v: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any(),
            (None, None) => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let items: Vec<Bound<'py, PyAny>> = items
                .iter()
                .map(|x| json_to_python(py, x))
                .collect::<PyResult<_>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let d = PyDict::new(py);
            for (k, x) in map {
                d.set_item(k, json_to_python(py, x)?)?;
            }
            d.into_any()
        }
    })
}
