//! [`PySpell`]: a loaded spell, cast from Python threads (GIL released) or from asyncio.

use crate::errors::OrRaise;
use crate::outcome::{PyCastOutcome, to_python};
use crate::request::{CastArgs, PyCancelHandle};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use spell_runtime::{CancelHandle, CastOutcome, Error, Spell};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// A spell ready to cast: verified, granted, compiled and pre-instantiated. Cast it from many
/// threads at once; each cast runs with the GIL released.
/// How often a blocking cast lets Python run its signal handlers. Python runs them on the main
/// thread only, and only while it runs Python code: a cast blocking the main thread with the GIL
/// released would hold `KeyboardInterrupt` back until it ends (in a notebook, up to the
/// wall-time limit). When a handler raises, the cast is cancelled and the exception raised once
/// the cast has ended, its usage recorded like any other.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// `asyncio.get_running_loop`, looked up once: `cast_async` calls it on every cast.
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// How long `cast_async` may run a cast on the event loop's thread before handing it to the
/// runtime's pool: the most the loop is held by one cast.
const EAGER_BUDGET: Duration = Duration::from_micros(250);

#[pyclass(name = "Spell", module = "spell", frozen)]
pub(crate) struct PySpell {
    pub(crate) inner: Spell,
}

impl PySpell {
    pub(crate) fn new(inner: Spell) -> PySpell {
        PySpell { inner }
    }
}

#[pymethods]
impl PySpell {
    /// The spell's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The spell's version.
    #[getter]
    fn version(&self) -> &str {
        self.inner.version()
    }

    /// sha256 of the spell's `spell.json`, hex: its identity.
    #[getter]
    fn digest(&self) -> String {
        self.inner.digest().to_hex()
    }

    /// The export a cast calls unless it names another.
    #[getter]
    fn entrypoint(&self) -> &str {
        self.inner.entrypoint()
    }

    /// What the spell may use (env, mounts, network, host_functions, limits), as a dict.
    #[getter]
    fn grant<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.inner.grant())
    }

    /// Casts the spell and waits for the outcome, with the GIL released. Ctrl-C (any signal
    /// handler that raises) cancels the cast and raises once its usage is recorded.
    ///
    /// Raises only when the cast cannot start (`PolicyError` `cast_request_denied` for a
    /// request beyond the grant, `RunError` `busy` or `cast_setup`). Once started, every end
    /// (traps, limits, cancellation, a denying `authorize`) is a returned `CastOutcome` whose
    /// usage record was passed to `record` exactly once.
    #[pyo3(signature = (args=None, *, env=None, stdin=None, mounts=None, limits=None, meter=None, cancel=None, export=None, on_output=None, traceparent=None, tracestate=None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "the keyword arguments of the Python method"
    )]
    fn cast<'py>(
        &self,
        py: Python<'py>,
        args: Option<Vec<String>>,
        env: Option<BTreeMap<String, String>>,
        stdin: Option<Bound<'py, PyAny>>,
        mounts: Option<Vec<Bound<'py, PyAny>>>,
        limits: Option<Bound<'py, PyAny>>,
        meter: Option<Bound<'py, PyAny>>,
        cancel: Option<Bound<'py, PyCancelHandle>>,
        export: Option<String>,
        on_output: Option<Bound<'py, PyAny>>,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<PyCastOutcome> {
        let cancel = cancel.map(|c| c.get().inner.clone());
        let request = CastArgs {
            args,
            env,
            stdin,
            mounts,
            limits,
            meter,
            cancel,
            export,
            on_output,
            traceparent,
            tracestate,
        };
        let (request, _) = request.into_request(py)?;
        let spell = &self.inner;
        let (result, interrupted) = py.detach(|| {
            spell.cast_interruptible(request, SIGNAL_CHECK, || {
                Python::attach(|py| py.check_signals()).err()
            })
        });
        let outcome = outcome(py, result);
        match interrupted {
            Some(e) => Err(e),
            None => outcome,
        }
    }

    /// `cast` for asyncio: returns an awaitable `CastOutcome`. The cast runs on a thread of its
    /// own (reused between casts), so casts awaited together run in parallel and the event loop
    /// is never blocked.
    /// Cancelling the awaiting task cancels the cast (through `cancel`, if given).
    #[pyo3(signature = (args=None, *, env=None, stdin=None, mounts=None, limits=None, meter=None, cancel=None, export=None, on_output=None, traceparent=None, tracestate=None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "the keyword arguments of the Python method"
    )]
    fn cast_async<'py>(
        &self,
        py: Python<'py>,
        args: Option<Vec<String>>,
        env: Option<BTreeMap<String, String>>,
        stdin: Option<Bound<'py, PyAny>>,
        mounts: Option<Vec<Bound<'py, PyAny>>>,
        limits: Option<Bound<'py, PyAny>>,
        meter: Option<Bound<'py, PyAny>>,
        cancel: Option<Bound<'py, PyCancelHandle>>,
        export: Option<String>,
        on_output: Option<Bound<'py, PyAny>>,
        traceparent: Option<String>,
        tracestate: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cancel = cancel.map(|c| c.get().inner.clone());
        let request = CastArgs {
            args,
            env,
            stdin,
            mounts,
            limits,
            meter,
            cancel,
            export,
            on_output,
            traceparent,
            tracestate,
        };
        let (request, cancel) = request.into_request(py)?;
        let event_loop = GET_RUNNING_LOOP
            .import(py, "asyncio", "get_running_loop")?
            .call0()?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        let (future_ref, loop_ref) = (future.clone().unbind(), event_loop.unbind());
        let spell = &self.inner;
        // Most casts end within the budget: their future is done before it is awaited, and
        // `await` returns at once. The rest finish in the runtime's pool and come back through
        // the loop's call_soon_threadsafe.
        let finished = py.detach(|| {
            spell.cast_eager(request, EAGER_BUDGET, move |result| {
                Python::attach(|py| deliver(py, &future_ref, &loop_ref, outcome(py, result)))
            })
        });
        match finished {
            Some(result) => match outcome(py, result) {
                Ok(o) => future.call_method1(intern!(py, "set_result"), (Py::new(py, o)?,))?,
                Err(e) => future.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
            },
            // Only a cast still running can be cancelled by cancelling its awaiter; a done
            // future needs no callback (setting its result would schedule one on the loop).
            None => future.call_method1("add_done_callback", (CancelIfCancelled { cancel },))?,
        };
        Ok(future)
    }

    fn __repr__(&self) -> String {
        format!(
            "Spell(name={:?}, version={:?}, digest={:?})",
            self.name(),
            self.version(),
            self.digest()
        )
    }
}

fn outcome(py: Python<'_>, result: Result<CastOutcome, Error>) -> PyResult<PyCastOutcome> {
    PyCastOutcome::new(py, result.or_raise(py)?)
}

/// Hands a finished cast to its future on the event loop's thread, unless nobody waits for it
/// any more (the future was cancelled).
fn deliver(
    py: Python<'_>,
    future: &Py<PyAny>,
    event_loop: &Py<PyAny>,
    result: PyResult<PyCastOutcome>,
) {
    let future = future.bind(py);
    if future
        .call_method0("done")
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
    {
        return;
    }
    let settle = result
        .and_then(|o| Py::new(py, o))
        .map(|o| Settle {
            future: future.clone().unbind(),
            result: Mutex::new(Some(Ok(o.into_any()))),
        })
        .unwrap_or_else(|e| Settle {
            future: future.clone().unbind(),
            result: Mutex::new(Some(Err(e))),
        });
    if let Err(e) = event_loop.call_method1(py, "call_soon_threadsafe", (settle,)) {
        // The loop is closed while the future still waits: say so rather than lose it silently.
        e.write_unraisable(py, Some(future));
    }
}

/// Runs on the event loop: sets the future's result or exception if it is still pending.
#[pyclass(frozen)]
struct Settle {
    future: Py<PyAny>,
    result: Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl Settle {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        let result = crate::lock(&self.result).take();
        match result {
            Some(_) if future.call_method0("done")?.is_truthy()? => Ok(()),
            Some(Ok(value)) => future.call_method1("set_result", (value,)).map(drop),
            Some(Err(e)) => future
                .call_method1("set_exception", (e.into_value(py),))
                .map(drop),
            None => Ok(()),
        }
    }
}

/// A done-callback of the future: cancelling the awaiting task cancels the cast.
#[pyclass(frozen)]
struct CancelIfCancelled {
    cancel: CancelHandle,
}

#[pymethods]
impl CancelIfCancelled {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.cancel.cancel();
        }
        Ok(())
    }
}
