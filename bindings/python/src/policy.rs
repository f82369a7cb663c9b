//! [`PyPolicy`]: the host's rules for which spells load and what they may use.

use crate::errors::OrRaise;
use crate::package::package_bytes;
use pyo3::prelude::*;
use spell_core::{Package, Policy};
use std::path::PathBuf;

/// A host policy (TOML; see `examples/policy.toml`). `Policy()` is deny-all: unsigned spells
/// refused, no env, files, network or host functions, built-in limits.
#[pyclass(name = "Policy", module = "spell", frozen)]
pub(crate) struct PyPolicy {
    pub(crate) inner: Policy,
}

#[pymethods]
impl PyPolicy {
    #[new]
    fn new() -> PyPolicy {
        PyPolicy {
            inner: Policy::default(),
        }
    }

    /// Parses and validates a policy; relative paths in it resolve from the current directory.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<PyPolicy> {
        Ok(PyPolicy {
            inner: Policy::from_toml(text).or_raise(py)?,
        })
    }

    /// Reads a policy file; relative paths in it resolve from the file's folder.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<PyPolicy> {
        Ok(PyPolicy {
            inner: Policy::from_file(&path).or_raise(py)?,
        })
    }

    /// A policy that trusts one package wholesale (unsigned allowed, exactly the capabilities
    /// and limits its manifest asks for), as `spell cast` without `--policy` does. For a
    /// developer's own spells, never for strangers'.
    #[staticmethod]
    fn trusting(py: Python<'_>, package: &Bound<'_, PyAny>) -> PyResult<PyPolicy> {
        let bytes = package_bytes(package)?;
        let package = Package::read(&bytes, &Policy::default().package).or_raise(py)?;
        Ok(PyPolicy {
            inner: Policy::trusting(&package.manifest),
        })
    }

    /// Whether unsigned spells may load.
    #[getter]
    fn allow_unsigned(&self) -> bool {
        self.inner.allow_unsigned
    }

    /// sha256 of the policy's content, hex: verification verdicts are cached under it.
    #[getter]
    fn digest(&self) -> String {
        self.inner.digest().to_hex()
    }

    fn __repr__(&self) -> String {
        format!("Policy(digest={:?})", self.digest())
    }
}
