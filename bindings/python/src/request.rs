//! What a cast is asked to do: [`PyLimits`], [`PyCancelHandle`], and the conversion of
//! `Spell.cast(...)` keyword arguments into a [`CastRequest`].

use crate::errors::invalid_argument;
use crate::meter::{PyMeter, raised};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use spell_core::{Access, EffectiveLimits, Limits};
use spell_runtime::{CancelHandle, CastRequest, Stream};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Resource limits. For a cast they may only lower the spell's grant; unset fields keep it.
#[pyclass(name = "Limits", module = "spell", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct PyLimits {
    memory_bytes: Option<u64>,
    fuel: Option<u64>,
    wall_time_ms: Option<u64>,
    output_bytes: Option<u64>,
    net_requests: Option<u64>,
    net_bytes: Option<u64>,
    open_files: Option<u64>,
    disk_write_bytes: Option<u64>,
}

#[pymethods]
impl PyLimits {
    #[new]
    #[expect(
        clippy::too_many_arguments,
        reason = "Python's keyword arguments, one per limit"
    )]
    #[pyo3(signature = (*, memory_bytes=None, fuel=None, wall_time_ms=None, output_bytes=None, net_requests=None, net_bytes=None, open_files=None, disk_write_bytes=None))]
    fn new(
        memory_bytes: Option<u64>,
        fuel: Option<u64>,
        wall_time_ms: Option<u64>,
        output_bytes: Option<u64>,
        net_requests: Option<u64>,
        net_bytes: Option<u64>,
        open_files: Option<u64>,
        disk_write_bytes: Option<u64>,
    ) -> PyLimits {
        PyLimits {
            memory_bytes,
            fuel,
            wall_time_ms,
            output_bytes,
            net_requests,
            net_bytes,
            open_files,
            disk_write_bytes,
        }
    }

    /// The fields that are set, by name.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.fields() {
            if let Some(v) = v {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let set: Vec<String> = self
            .fields()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
        format!("Limits({})", set.join(", "))
    }
}

impl PyLimits {
    fn fields(&self) -> [(&'static str, Option<u64>); 8] {
        [
            ("memory_bytes", self.memory_bytes),
            ("fuel", self.fuel),
            ("wall_time_ms", self.wall_time_ms),
            ("output_bytes", self.output_bytes),
            ("net_requests", self.net_requests),
            ("net_bytes", self.net_bytes),
            ("open_files", self.open_files),
            ("disk_write_bytes", self.disk_write_bytes),
        ]
    }

    /// Every field set: the limits a cast runs under.
    pub(crate) fn effective(l: &EffectiveLimits) -> PyLimits {
        PyLimits {
            memory_bytes: Some(l.memory_bytes),
            fuel: Some(l.fuel),
            wall_time_ms: Some(l.wall_time_ms),
            output_bytes: Some(l.output_bytes),
            net_requests: Some(l.net_requests),
            net_bytes: Some(l.net_bytes),
            open_files: Some(l.open_files),
            disk_write_bytes: Some(l.disk_write_bytes),
        }
    }

    fn to_rust(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes,
            fuel: self.fuel,
            wall_time_ms: self.wall_time_ms,
            output_bytes: self.output_bytes,
            net_requests: self.net_requests,
            net_bytes: self.net_bytes,
            open_files: self.open_files,
            disk_write_bytes: self.disk_write_bytes,
        }
    }

    /// A `Limits` or a mapping of its keyword arguments.
    fn extract(obj: &Bound<'_, PyAny>) -> PyResult<PyLimits> {
        if let Ok(l) = obj.cast::<PyLimits>() {
            return Ok(l.get().clone());
        }
        let kwargs = obj.cast::<PyDict>()?;
        let made = obj.py().get_type::<PyLimits>().call((), Some(kwargs))?;
        Ok(made.cast::<PyLimits>()?.get().clone())
    }
}

/// Cancels casts from any thread: `handle.cancel()` ends every cast using it as `cancelled`
/// within about one epoch tick. A cancelled handle stays cancelled.
#[pyclass(name = "CancelHandle", module = "spell", frozen)]
#[derive(Default)]
pub(crate) struct PyCancelHandle {
    pub(crate) inner: CancelHandle,
}

#[pymethods]
impl PyCancelHandle {
    #[new]
    fn new() -> PyCancelHandle {
        PyCancelHandle::default()
    }

    /// Cancels every cast using this handle (also those that have not started yet).
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether `cancel()` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// The keyword arguments of `Spell.cast` and `Spell.cast_async`, as Python gave them.
pub(crate) struct CastArgs<'py> {
    pub(crate) args: Option<Vec<String>>,
    pub(crate) env: Option<BTreeMap<String, String>>,
    pub(crate) stdin: Option<Bound<'py, PyAny>>,
    pub(crate) mounts: Option<Vec<Bound<'py, PyAny>>>,
    pub(crate) limits: Option<Bound<'py, PyAny>>,
    pub(crate) meter: Option<Bound<'py, PyAny>>,
    pub(crate) cancel: Option<CancelHandle>,
    pub(crate) export: Option<String>,
    pub(crate) on_output: Option<Bound<'py, PyAny>>,
    pub(crate) traceparent: Option<String>,
    pub(crate) tracestate: Option<String>,
}

impl CastArgs<'_> {
    /// The request, and the cancel handle it uses.
    pub(crate) fn into_request(self, py: Python<'_>) -> PyResult<(CastRequest, CancelHandle)> {
        let cancel = self.cancel.unwrap_or_default();
        let mut req = CastRequest::new()
            .args(self.args.unwrap_or_default())
            .cancel(cancel.clone());
        if let Some(meter) = self
            .meter
            .as_ref()
            .map(PyMeter::hook)
            .transpose()?
            .flatten()
        {
            req = req.meter(meter);
        }
        for (k, v) in self.env.unwrap_or_default() {
            req = req.env(k, v);
        }
        if let Some(stdin) = &self.stdin {
            req = req.stdin(text_or_bytes(stdin, "stdin must be bytes or str")?);
        }
        for m in self.mounts.unwrap_or_default() {
            let (host, guest, access) = mount(py, &m)?;
            req = req.mount(host, guest, access);
        }
        if let Some(l) = &self.limits {
            req = req.limits(PyLimits::extract(l)?.to_rust());
        }
        if let Some(export) = self.export {
            req = req.export(export);
        }
        if let Some(tp) = self.traceparent {
            req = req.traceparent(tp);
        }
        if let Some(ts) = self.tracestate {
            req = req.tracestate(ts);
        }
        if let Some(cb) = self.on_output.filter(|c| !c.is_none()) {
            req = req.on_output(output_callback(cb.unbind()));
        }
        Ok((req, cancel))
    }
}

/// `str` (as UTF-8), `bytes` or `bytearray`; otherwise a `TypeError` saying what was `expected`.
pub(crate) fn text_or_bytes(obj: &Bound<'_, PyAny>, expected: &str) -> PyResult<Vec<u8>> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned().into_bytes()),
        Err(_) => bytes_like(obj, expected),
    }
}

/// The bytes of a `bytes` or `bytearray`; otherwise a `TypeError` saying what was `expected`.
pub(crate) fn bytes_like(obj: &Bound<'_, PyAny>, expected: &str) -> PyResult<Vec<u8>> {
    match obj.extract::<Cow<'_, [u8]>>() {
        Ok(b) => Ok(b.into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{expected}, not {}",
            type_name(obj)
        ))),
    }
}

/// `(host_dir, guest_path)` or `(host_dir, guest_path, "ro" | "rw")`.
fn mount(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<(PathBuf, String, Access)> {
    let t = obj.cast::<PyTuple>()?;
    let access = match t.len() {
        2 => Access::Ro,
        3 => match t.get_item(2)?.extract::<String>()?.as_str() {
            "ro" => Access::Ro,
            "rw" => Access::Rw,
            other => {
                return Err(invalid_argument(
                    py,
                    format!("mount access must be \"ro\" or \"rw\", not {other:?}"),
                ));
            }
        },
        n => {
            return Err(invalid_argument(
                py,
                format!("a mount is (host, guest) or (host, guest, access), not {n} items"),
            ));
        }
    };
    Ok((t.get_item(0)?.extract()?, t.get_item(1)?.extract()?, access))
}

/// Calls `cb(stream, chunk)` for each captured chunk; what it raises is the outcome's
/// `hook_error` (the cast goes on).
fn output_callback(cb: Py<PyAny>) -> spell_runtime::OutputCallback {
    Arc::new(move |stream: Stream, chunk: &[u8]| {
        Python::attach(|py| {
            let name = match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            cb.call1(py, (name, PyBytes::new(py, chunk)))
                .map(drop)
                .map_err(|e| raised(py, "on_output", e))
        })
    })
}

pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".into(), |n| n.to_string())
}
