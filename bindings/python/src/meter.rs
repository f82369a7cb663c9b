//! Metering hooks from Python.
//!
//! A meter is a `spell.UsageLog` (the Rust one, no Python in the loop), an object with any of
//! `authorize(ctx)`, `record(usage)` and `observe(event)`, or a plain callable used as `record`.
//! What a hook raises is returned to the runtime as a `HookError` whose source is the exception:
//! the runtime keeps the cast's first failure as the outcome's `hook_error` (never a crash, never
//! a lost usage record) and `CastOutcome` gives the exception back as its `__cause__`. An
//! `authorize` hook that raises anything but `spell.Denied` fails closed: the cast is denied.

use crate::errors::{Denied as PyDenied, describe};
use crate::outcome::PyUsage;
use crate::request::{PyLimits, type_name};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use spell_runtime::{
    Allowance, CastContext, Denied, Event, EventKind, HookError, MeteringHook, UsageLog,
    UsageRecord,
};
use std::sync::Arc;

/// A failure of `hook` that raised `err`, with the exception kept as its source.
pub(crate) fn raised(py: Python<'_>, hook: &str, err: PyErr) -> HookError {
    HookError::new(hook, describe(py, &err)).with_source(err)
}

/// A meter written in Python: the hooks the object has.
pub(crate) struct PyMeter {
    authorize: Option<Py<PyAny>>,
    record: Option<Py<PyAny>>,
    observe: Option<Py<PyAny>>,
}

impl PyMeter {
    /// The hook a meter given from Python stands for: a `UsageLog` or a ledger meter as the Rust
    /// hook they are, an object with `authorize`/`record`/`observe` methods, or a callable
    /// (`record`); `None` for `None`.
    pub(crate) fn hook(obj: &Bound<'_, PyAny>) -> PyResult<Option<Arc<dyn MeteringHook>>> {
        if obj.is_none() {
            return Ok(None);
        }
        if let Ok(log) = obj.cast::<PyUsageLog>() {
            return Ok(Some(log.get().inner.clone()));
        }
        if let Ok(meter) = obj.cast::<crate::ledger::PyLedgerMeter>() {
            return Ok(Some(meter.get().inner.clone()));
        }
        let method = |name: &str| -> PyResult<Option<Py<PyAny>>> {
            Ok(obj
                .getattr_opt(name)?
                .filter(|m| m.is_callable())
                .map(Bound::unbind))
        };
        let (authorize, mut record, observe) =
            (method("authorize")?, method("record")?, method("observe")?);
        if authorize.is_none() && record.is_none() && observe.is_none() {
            if !obj.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "meter must be a UsageLog, a callable, or have authorize/record/observe methods; got {}",
                    type_name(obj)
                )));
            }
            record = Some(obj.clone().unbind());
        }
        Ok(Some(Arc::new(PyMeter {
            authorize,
            record,
            observe,
        })))
    }
}

impl MeteringHook for PyMeter {
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        match &self.authorize {
            Some(f) => Python::attach(|py| ask(py, f, ctx)),
            None => Ok(Allowance::default()),
        }
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        let Some(f) = &self.record else { return Ok(()) };
        Python::attach(|py| {
            Py::new(py, PyUsage::new(usage.clone()))
                .and_then(|u| f.call1(py, (u,)))
                .map(drop)
                .map_err(|e| raised(py, "record", e))
        })
    }

    fn observe(&self, event: &Event) -> Result<(), HookError> {
        let Some(f) = &self.observe else {
            return Ok(());
        };
        Python::attach(|py| {
            Py::new(py, PyEvent::new(event))
                .and_then(|e| f.call1(py, (e,)))
                .map(drop)
                .map_err(|e| raised(py, "observe", e))
        })
    }
}

/// Calls the Python `authorize`: `None` allows, an int or `Allowance` caps fuel, `Denied`
/// refuses; anything else it raises or returns denies the cast as a hook failure.
fn ask(py: Python<'_>, f: &Py<PyAny>, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
    let answer = Py::new(py, PyCastContext::new(ctx)).and_then(|c| f.call1(py, (c,)));
    let err = match answer.map(|a| allowance(a.bind(py))) {
        Ok(Ok(allowance)) => return Ok(allowance),
        Ok(Err(e)) | Err(e) => e,
    };
    if err.is_instance_of::<PyDenied>(py) {
        let reason = err
            .value(py)
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Err(Denied::new(if reason.is_empty() {
            "denied by the authorize hook".into()
        } else {
            reason
        }));
    }
    Err(Denied::failed(raised(py, "authorize", err)))
}

fn allowance(answer: &Bound<'_, PyAny>) -> PyResult<Allowance> {
    if answer.is_none() {
        return Ok(Allowance::default());
    }
    if let Ok(a) = answer.cast::<PyAllowance>() {
        return Ok(Allowance {
            max_fuel: a.get().max_fuel,
            ..Allowance::default()
        });
    }
    match answer.extract::<u64>() {
        Ok(fuel) => Ok(Allowance {
            max_fuel: Some(fuel),
            ..Allowance::default()
        }),
        Err(_) => Err(PyTypeError::new_err(format!(
            "authorize must return None, an int (max fuel) or spell.Allowance, not {}",
            type_name(answer)
        ))),
    }
}

/// What an `authorize` hook grants a cast: at most `max_fuel` (e.g. the caller's remaining
/// budget). Running out ends the cast `out_of_fuel`. Returning an int means `Allowance(max_fuel=n)`.
#[pyclass(name = "Allowance", module = "spell", frozen, eq, get_all)]
#[derive(PartialEq, Eq)]
pub(crate) struct PyAllowance {
    max_fuel: Option<u64>,
}

#[pymethods]
impl PyAllowance {
    #[new]
    #[pyo3(signature = (*, max_fuel=None))]
    fn new(max_fuel: Option<u64>) -> PyAllowance {
        PyAllowance { max_fuel }
    }

    fn __repr__(&self) -> String {
        format!(
            "Allowance(max_fuel={})",
            self.max_fuel.map_or("None".into(), |f| f.to_string())
        )
    }
}

/// What an `authorize` hook sees: the cast, the spell, and the limits it will run under.
#[pyclass(name = "CastContext", module = "spell", frozen, get_all)]
pub(crate) struct PyCastContext {
    cast_id: String,
    spell_digest: String,
    spell_name: String,
    spell_version: String,
    limits: PyLimits,
}

impl PyCastContext {
    fn new(c: &CastContext<'_>) -> PyCastContext {
        PyCastContext {
            cast_id: c.cast_id.to_owned(),
            spell_digest: c.spell_digest.to_owned(),
            spell_name: c.spell_name.to_owned(),
            spell_version: c.spell_version.to_owned(),
            limits: PyLimits::effective(&c.limits),
        }
    }
}

#[pymethods]
impl PyCastContext {
    fn __repr__(&self) -> String {
        format!(
            "CastContext(cast_id={:?}, spell_name={:?})",
            self.cast_id, self.spell_name
        )
    }
}

/// Something an `observe` hook sees: during a cast, `kind` is `limit_hit` (with the `outcome` it
/// causes) or `policy_violation` (with the `capability` involved); outside any cast (`cast_id`
/// empty, seen by the runtime's meter), `spell_revoked` (with `spell_digest`, `spell_name` and
/// the refusal's `code`).
#[pyclass(name = "Event", module = "spell", frozen, get_all)]
pub(crate) struct PyEvent {
    cast_id: String,
    kind: &'static str,
    outcome: Option<&'static str>,
    capability: Option<String>,
    spell_digest: Option<String>,
    spell_name: Option<String>,
    code: Option<String>,
    detail: String,
}

impl PyEvent {
    pub(crate) fn new(e: &Event) -> PyEvent {
        let mut event = PyEvent {
            cast_id: e.cast_id.clone(),
            kind: "",
            outcome: None,
            capability: None,
            spell_digest: None,
            spell_name: None,
            code: None,
            detail: String::new(),
        };
        match &e.kind {
            EventKind::LimitHit { outcome, detail } => {
                event.kind = "limit_hit";
                event.outcome = Some(outcome.as_str());
                event.detail = detail.clone();
            }
            EventKind::PolicyViolation { capability, detail } => {
                event.kind = "policy_violation";
                event.capability = Some(capability.clone());
                event.detail = detail.clone();
            }
            EventKind::SpellRevoked {
                spell_digest,
                spell_name,
                code,
                detail,
            } => {
                event.kind = "spell_revoked";
                event.spell_digest = Some(spell_digest.clone());
                event.spell_name = Some(spell_name.clone());
                event.code = Some(code.clone());
                event.detail = detail.clone();
            }
        }
        event
    }
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self) -> String {
        format!("Event(kind={:?}, detail={:?})", self.kind, self.detail)
    }
}

/// The ready-made meter: keeps every usage record and event in memory (in Rust, so casts run
/// without Python in the loop). With `fuel_budget`, all its casts together may spend at most
/// that much fuel: each is allowed what remains, and casts are denied once it is spent.
#[pyclass(name = "UsageLog", module = "spell", frozen)]
pub(crate) struct PyUsageLog {
    inner: Arc<UsageLog>,
}

#[pymethods]
impl PyUsageLog {
    #[new]
    #[pyo3(signature = (*, fuel_budget=None))]
    fn new(fuel_budget: Option<u64>) -> PyUsageLog {
        let log = fuel_budget.map_or_else(UsageLog::new, UsageLog::with_fuel_budget);
        PyUsageLog {
            inner: Arc::new(log),
        }
    }

    /// The usage records so far, in order.
    fn records(&self) -> Vec<PyUsage> {
        self.inner.records().into_iter().map(PyUsage::new).collect()
    }

    /// The events so far, in order.
    fn events(&self) -> Vec<PyEvent> {
        self.inner.events().iter().map(PyEvent::new).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.records().len()
    }
}
