//! Packages from Python: `spell.pack`, and reading a package given as bytes or a path.

use crate::errors::{OrRaise, spell_error};
use crate::request::{bytes_like, text_or_bytes};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use spell_core::{ErrorCode, Package, PackageError};
use std::path::PathBuf;

/// Packs a `.spell` package (deterministic, unsigned unless `bundle` is given). `manifest` is
/// the `spell.json` as a dict, str or bytes; its `module` and `sbom` pins are filled in.
/// `module` is a binary WebAssembly module or WAT text.
#[pyfunction]
#[pyo3(signature = (manifest, module, *, sbom=None, bundle=None))]
pub(crate) fn pack<'py>(
    py: Python<'py>,
    manifest: &Bound<'py, PyAny>,
    module: &Bound<'py, PyAny>,
    sbom: Option<&Bound<'py, PyAny>>,
    bundle: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let manifest = if manifest.is_instance_of::<PyDict>() {
        py.import("json")?
            .call_method1("dumps", (manifest,))?
            .extract::<String>()?
            .into_bytes()
    } else {
        text_or_bytes(manifest, "manifest must be a dict, str or bytes")?
    };
    let module = text_or_bytes(module, "module must be bytes or WAT text")?;
    let wasm =
        wat::parse_bytes(&module).map_err(|e| spell_error(py, ErrorCode::ModuleInvalid, e))?;
    let sbom = sbom
        .map(|s| text_or_bytes(s, "sbom must be str or bytes"))
        .transpose()?;
    let bundle = bundle
        .map(|b| text_or_bytes(b, "bundle must be str or bytes"))
        .transpose()?;
    let packed =
        Package::pack(&manifest, &wasm, sbom.as_deref(), bundle.as_deref()).or_raise(py)?;
    Ok(PyBytes::new(py, &packed))
}

/// What a package (bytes or a path) says about itself, checked for form and pins only:
/// `{"digest", "manifest", "signed", "has_sbom", "imports", "exports"}`, as `spell inspect --json` prints it.
#[pyfunction]
pub(crate) fn inspect<'py>(
    py: Python<'py>,
    package: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let bytes = package_bytes(package)?;
    let package = Package::read(&bytes, &Default::default()).or_raise(py)?;
    crate::outcome::to_python(py, &package.info())
}

/// A package given as `bytes`/`bytearray`, or as a path (`str` or `os.PathLike`) to read.
pub(crate) fn package_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        let read = std::fs::read(&path).map_err(|source| PackageError::Io {
            path: path.display().to_string(),
            source,
        });
        return read.or_raise(obj.py());
    }
    bytes_like(obj, "package must be bytes or a path")
}
