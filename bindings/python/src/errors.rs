//! The exception hierarchy: [`SpellError`] carries the catalog's `code` (`E-PKG-002`) and `name`
//! (`package_malformed`); one subclass per code family says where it came from. Every refusal of
//! the Rust API becomes one of these through [`OrRaise`]; the binding never invents a code.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use spell_core::{ErrorCode, HasCode};
use std::fmt::Display;

create_exception!(
    spell,
    SpellError,
    PyException,
    "Base of every Spell error: `code` is the stable public code (`E-PKG-002`), `name` its \
     snake_case twin (`package_malformed`)."
);
create_exception!(
    spell,
    PackageError,
    SpellError,
    "The package was refused while reading (`E-PKG-*`)."
);
create_exception!(
    spell,
    ManifestError,
    SpellError,
    "`spell.json` was refused (`E-MAN-*`)."
);
create_exception!(
    spell,
    PolicyError,
    SpellError,
    "The policy is invalid, or it (or the spell's grant) denies what was asked (`E-POL-*`)."
);
create_exception!(
    spell,
    SignatureError,
    SpellError,
    "Signature verification refused the package (`E-SIG-*`)."
);
create_exception!(
    spell,
    SbomError,
    SpellError,
    "SBOM, license or vulnerability rules refused the package (`E-SBOM-*`)."
);
create_exception!(
    spell,
    ModuleError,
    SpellError,
    "The WebAssembly module was refused (`E-MOD-*`)."
);
create_exception!(
    spell,
    RunError,
    SpellError,
    "The runtime refused: busy, configuration, host functions, cast setup, a bad argument (`E-RUN-*`)."
);
create_exception!(
    spell,
    HookError,
    RunError,
    "A Python hook or host function raised (`E-RUN-004`); `hook` names it and `__cause__` is what it raised."
);
create_exception!(
    spell,
    NetworkError,
    SpellError,
    "A network refusal (`E-NET-*`)."
);
create_exception!(
    spell,
    Denied,
    PyException,
    "Raise from an `authorize` hook to refuse a cast: it ends `denied` with this reason, and \
     `record` still sees its (empty) usage."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SpellError", py.get_type::<SpellError>())?;
    m.add("PackageError", py.get_type::<PackageError>())?;
    m.add("ManifestError", py.get_type::<ManifestError>())?;
    m.add("PolicyError", py.get_type::<PolicyError>())?;
    m.add("SignatureError", py.get_type::<SignatureError>())?;
    m.add("SbomError", py.get_type::<SbomError>())?;
    m.add("ModuleError", py.get_type::<ModuleError>())?;
    m.add("RunError", py.get_type::<RunError>())?;
    m.add("HookError", py.get_type::<HookError>())?;
    m.add("NetworkError", py.get_type::<NetworkError>())?;
    m.add("Denied", py.get_type::<Denied>())?;
    Ok(())
}

/// The exception for a catalog code: `str(err)` is `[E-PKG-002] <message>`.
pub(crate) fn spell_error(py: Python<'_>, code: ErrorCode, message: impl Display) -> PyErr {
    let text = format!("[{}] {message}", code.code());
    let err = match (code, code.code().split('-').nth(1)) {
        (ErrorCode::HookFailed, _) => HookError::new_err(text),
        (_, Some("PKG")) => PackageError::new_err(text),
        (_, Some("MAN")) => ManifestError::new_err(text),
        (_, Some("POL")) => PolicyError::new_err(text),
        (_, Some("SIG")) => SignatureError::new_err(text),
        (_, Some("SBOM")) => SbomError::new_err(text),
        (_, Some("MOD")) => ModuleError::new_err(text),
        (_, Some("RUN")) => RunError::new_err(text),
        (_, Some("NET")) => NetworkError::new_err(text),
        _ => SpellError::new_err(text),
    };
    set_attr(py, &err, "code", code.code());
    set_attr(py, &err, "name", code.name());
    err
}

/// An `invalid_argument` error (`E-RUN-006`).
pub(crate) fn invalid_argument(py: Python<'_>, message: impl Display) -> PyErr {
    spell_error(py, ErrorCode::InvalidArgument, message)
}

/// A `hook_failed` error (`E-RUN-004`) naming the hook, with what it raised as `__cause__`.
pub(crate) fn hook_error(
    py: Python<'_>,
    hook: &str,
    message: impl Display,
    cause: Option<PyErr>,
) -> PyErr {
    let err = spell_error(py, ErrorCode::HookFailed, message);
    set_attr(py, &err, "hook", hook);
    err.set_cause(py, cause);
    err
}

/// `ValueError: boom`, for messages about a Python exception.
pub(crate) fn describe(py: Python<'_>, err: &PyErr) -> String {
    let kind = err
        .get_type(py)
        .name()
        .map_or_else(|_| "exception".to_string(), |n| n.to_string());
    let message = err
        .value(py)
        .str()
        .map_or_else(|_| String::new(), |s| s.to_string());
    if message.is_empty() {
        kind
    } else {
        format!("{kind}: {message}")
    }
}

fn set_attr(py: Python<'_>, err: &PyErr, attr: &str, value: &str) {
    // Setting an attribute on a fresh exception instance of our own classes cannot fail.
    let _ = err.value(py).setattr(attr, value);
}

/// Turns a Rust API error into its Python exception.
pub(crate) trait OrRaise<T> {
    /// `Ok` as is; `Err` as the exception for its code.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: HasCode + Display> OrRaise<T> for Result<T, E> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| spell_error(py, e.code(), e))
    }
}
