//! Host functions written in Python: [`PyHostFunction`] and the [`PyHostCall`] it receives.
//!
//! `func(call, *args)` gets the guest's arguments as ints and floats and returns `None`, one
//! value, or a tuple of values matching `results`. What it raises traps the guest (`trap` is
//! `host_error`) and becomes the outcome's `hook_error`, with the exception as its cause.

use crate::errors::{describe, invalid_argument};
use crate::lock;
use crate::outcome::val_to_python;
use crate::request::type_name;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use spell_runtime::{HostCall, HostError, HostFunction, Val, ValType};
use std::ptr::NonNull;
use std::sync::Mutex;

/// A function the host offers to spells as `module::name`; policies grant it by that name.
#[pyclass(name = "HostFunction", module = "spell", frozen)]
pub(crate) struct PyHostFunction {
    #[pyo3(get)]
    module: String,
    #[pyo3(get)]
    name: String,
    params: Vec<ValType>,
    results: Vec<ValType>,
    #[pyo3(get)]
    func: Py<PyAny>,
}

#[pymethods]
impl PyHostFunction {
    #[new]
    #[pyo3(signature = (module, name, func, *, params=Vec::new(), results=Vec::new()))]
    fn new(
        py: Python<'_>,
        module: String,
        name: String,
        func: Bound<'_, PyAny>,
        params: Vec<String>,
        results: Vec<String>,
    ) -> PyResult<PyHostFunction> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "func must be callable, not {}",
                type_name(&func)
            )));
        }
        let types = |names: Vec<String>| {
            names
                .iter()
                .map(|n| val_type(py, n))
                .collect::<PyResult<Vec<_>>>()
        };
        Ok(PyHostFunction {
            module,
            name,
            params: types(params)?,
            results: types(results)?,
            func: func.unbind(),
        })
    }

    /// Parameter types: `i32`, `i64`, `f32` or `f64`.
    #[getter]
    fn params(&self) -> Vec<&'static str> {
        self.params.iter().map(|t| type_str(*t)).collect()
    }

    /// Result types.
    #[getter]
    fn results(&self) -> Vec<&'static str> {
        self.results.iter().map(|t| type_str(*t)).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "HostFunction({}::{}: {:?} -> {:?})",
            self.module,
            self.name,
            self.params(),
            self.results()
        )
    }
}

impl PyHostFunction {
    /// The Rust host function calling `func`; what it raises is the error's source, which the
    /// runtime keeps on the outcome.
    pub(crate) fn to_rust(&self, py: Python<'_>) -> HostFunction {
        let func = self.func.clone_ref(py);
        let results = self.results.clone();
        let callback = move |call: &mut HostCall<'_>, args: &[Val]| {
            Python::attach(|py| {
                let cast_id = call.cast_id().to_string();
                let returned = with_call(py, call, cast_id.clone(), |handle| {
                    let mut argv = vec![handle.into_any()];
                    for a in args {
                        argv.push(val_to_python(py, *a)?);
                    }
                    let out = func.bind(py).call1(PyTuple::new(py, argv)?)?;
                    values(&out, &results)
                });
                returned.map_err(|e| HostError::new(describe(py, &e)).with_source(e))
            })
        };
        HostFunction::new(
            &self.module,
            &self.name,
            self.params.clone(),
            self.results.clone(),
            callback,
        )
    }
}

fn val_type(py: Python<'_>, name: &str) -> PyResult<ValType> {
    match name {
        "i32" => Ok(ValType::I32),
        "i64" => Ok(ValType::I64),
        "f32" => Ok(ValType::F32),
        "f64" => Ok(ValType::F64),
        other => Err(invalid_argument(
            py,
            format!("value type must be i32, i64, f32 or f64, not {other:?}"),
        )),
    }
}

fn type_str(t: ValType) -> &'static str {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
    }
}

/// What `func` returned, as values of the declared result types.
fn values(out: &Bound<'_, PyAny>, types: &[ValType]) -> PyResult<Vec<Val>> {
    let items: Vec<Bound<'_, PyAny>> = match types.len() {
        0 if out.is_none() => Vec::new(),
        0 => {
            return Err(PyTypeError::new_err(format!(
                "declared no results but returned {}",
                type_name(out)
            )));
        }
        1 => vec![out.clone()],
        n => {
            let items: Vec<Bound<'_, PyAny>> = out.extract()?;
            if items.len() != n {
                return Err(PyTypeError::new_err(format!(
                    "declared {n} results but returned {}",
                    items.len()
                )));
            }
            items
        }
    };
    items
        .iter()
        .zip(types)
        .map(|(v, t)| {
            Ok(match t {
                ValType::I32 => Val::I32(v.extract()?),
                ValType::I64 => Val::I64(v.extract()?),
                ValType::F32 => Val::F32(v.extract::<f64>()? as f32),
                ValType::F64 => Val::F64(v.extract()?),
            })
        })
        .collect()
}

/// The guest's memory, for a Python host function while it runs. Kept past the call (or used
/// from another thread after it), every method raises `RunError` (`invalid_argument`).
#[pyclass(name = "HostCall", module = "spell", frozen)]
pub(crate) struct PyHostCall {
    /// The id of the cast this call belongs to.
    #[pyo3(get)]
    cast_id: String,
    live: Mutex<Option<LiveCall>>,
}

#[pymethods]
impl PyHostCall {
    /// Copies `length` bytes of guest memory starting at `ptr`.
    fn read<'py>(&self, py: Python<'py>, ptr: u32, length: u32) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.with_live(py, |call| call.read(ptr, length))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Reads a UTF-8 string from guest memory (invalid UTF-8 is refused).
    fn read_str(&self, py: Python<'_>, ptr: u32, length: u32) -> PyResult<String> {
        self.with_live(py, |call| call.read_str(ptr, length))
    }

    /// Writes `data` into guest memory at `ptr`.
    fn write(&self, py: Python<'_>, ptr: u32, data: &[u8]) -> PyResult<()> {
        self.with_live(py, |call| call.write(ptr, data))
    }
}

// The binding's one piece of unsafe code.
//
// A Python host function receives a `HostCall` object, which Python code may keep or hand to
// another thread. The Rust `HostCall<'a>` borrows the guest's store for the call only, so the
// Python object holds a lifetime-erased pointer to it, under three rules:
// 1. `with_call` makes the pointer from the `&mut HostCall` it is given and does not touch that
//    borrow again: while the pointer is set, it is the only way to the `HostCall`.
// 2. A guard clears the pointer before `with_call` returns, also when unwinding, so the pointer
//    never outlives the borrow.
// 3. Every use of the pointer happens with the mutex held and ends before the mutex is released:
//    there is never more than one `&mut` at a time, whichever thread the Python code calls from.
struct LiveCall(NonNull<HostCall<'static>>);

// SAFETY: by rule 3 one thread at a time uses the pointer, under the mutex; the store it reaches
// is `Send` (the runtime casts on any thread), and the owning thread is blocked in the Python call.
#[expect(unsafe_code, reason = "see the rules above `LiveCall`")]
unsafe impl Send for LiveCall {}

impl PyHostCall {
    #[expect(unsafe_code, reason = "see the rules above `LiveCall`")]
    fn with_live<R>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&mut HostCall<'_>) -> Result<R, HostError>,
    ) -> PyResult<R> {
        let live = lock(&self.live);
        let Some(LiveCall(ptr)) = live.as_ref() else {
            return Err(invalid_argument(
                py,
                "this HostCall is used after its host function returned",
            ));
        };
        // SAFETY: rules 1 and 2: the pointer is set only while the borrow it came from is live and
        // unused; rule 3: the mutex is held until `op` returns, and `op` returns owned values.
        let call = unsafe { &mut *ptr.as_ptr() };
        op(call).map_err(|e| invalid_argument(py, e))
    }
}

/// Runs `f` with a `HostCall` object backed by `call` (rules 1 and 2 above).
fn with_call<'py, R>(
    py: Python<'py>,
    call: &mut HostCall<'_>,
    cast_id: String,
    f: impl FnOnce(Bound<'py, PyHostCall>) -> PyResult<R>,
) -> PyResult<R> {
    struct Expire<'a>(&'a PyHostCall);
    impl Drop for Expire<'_> {
        fn drop(&mut self) {
            *lock(&self.0.live) = None;
        }
    }
    let ptr = NonNull::from(call).cast::<HostCall<'static>>();
    let handle = Bound::new(
        py,
        PyHostCall {
            cast_id,
            live: Mutex::new(Some(LiveCall(ptr))),
        },
    )?;
    let _expire = Expire(handle.get());
    f(handle.clone())
}
