//! Reading CycloneDX JSON SBOMs.
//!
//! Spec versions 1.3, 1.4 and 1.5 are parsed and validated by `cyclonedx-bom` against the
//! document's own `specVersion`. 1.6 (which that crate does not support yet, but cdxgen, syft and
//! trivy emit) goes through a structural check of what Spell reads: component names, SHA-256
//! hashes and SPDX license ids and expressions. Either way, one JSON walk then reads the module hash
//! in `metadata.component` and every component (nested ones included): name, version, purl and
//! licenses.

use crate::error::SbomError;
use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::validation::{Validate, ValidationErrorsKind, ValidationResult};
use serde::Serialize;
use serde_json::Value;
use std::str::FromStr;

/// What Spell reads from an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sbom {
    /// The document's `specVersion`.
    pub spec_version: String,
    /// The SHA-256 in `metadata.component.hashes`, lowercase hex, if any.
    pub subject_sha256: Option<String>,
    /// Every component, nested ones included.
    pub components: Vec<Component>,
}

/// One SBOM component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Its name.
    pub name: String,
    /// Its version, if stated.
    pub version: Option<String>,
    /// Its package URL, if stated.
    pub purl: Option<String>,
    /// Its licenses: SPDX ids, expressions, or free-text names.
    pub licenses: Vec<String>,
}

impl Component {
    /// `purl`, else `name@version`: how findings name the component.
    pub fn label(&self) -> String {
        match (&self.purl, &self.version) {
            (Some(purl), _) => purl.clone(),
            (None, Some(v)) => format!("{}@{v}", self.name),
            (None, None) => self.name.clone(),
        }
    }
}

impl Sbom {
    /// Parses and validates a CycloneDX JSON document.
    pub fn parse(bytes: &[u8]) -> Result<Sbom, SbomError> {
        let parse = |reason: String| SbomError::Parse { reason };
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| parse(e.to_string()))?;
        if doc.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
            return Err(parse("bomFormat must be \"CycloneDX\"".into()));
        }
        let spec_version = doc
            .get("specVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut errors = Vec::new();
        match spec_version.as_str() {
            "1.3" | "1.4" | "1.5" => {
                let version =
                    SpecVersion::from_str(&spec_version).map_err(|e| parse(e.to_string()))?;
                let bom = Bom::parse_json_value(doc.clone()).map_err(|e| parse(e.to_string()))?;
                flatten("", bom.validate_version(version), &mut errors);
            }
            "1.6" => structural_check(&doc, &mut errors),
            other => {
                return Err(parse(format!(
                    "specVersion {other:?} is not supported (1.3 to 1.6)"
                )));
            }
        }
        // What binds the SBOM to the module, checked whatever the version: cyclonedx-bom's 1.3-1.5
        // validation lets a non-hex SHA-256 through (found by fuzz/sbom_parse).
        let subject_sha256 = doc.pointer("/metadata/component").and_then(sha256_of);
        if subject_sha256
            .as_ref()
            .is_some_and(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            errors.push("metadata.component.hashes: the SHA-256 is not 64 hex digits".into());
        }
        if !errors.is_empty() {
            return Err(SbomError::Invalid {
                spec_version,
                errors,
            });
        }
        let mut components = Vec::new();
        if let Some(list) = doc.get("components").and_then(Value::as_array) {
            collect(list, &mut components);
        }
        Ok(Sbom {
            spec_version,
            subject_sha256,
            components,
        })
    }
}

fn sha256_of(component: &Value) -> Option<String> {
    component
        .get("hashes")?
        .as_array()?
        .iter()
        .find(|h| h.get("alg").and_then(Value::as_str) == Some("SHA-256"))
        .and_then(|h| h.get("content")?.as_str())
        .map(str::to_ascii_lowercase)
}

fn collect(list: &[Value], out: &mut Vec<Component>) {
    for c in list {
        let text = |key: &str| c.get(key).and_then(Value::as_str).map(str::to_string);
        out.push(Component {
            name: text("name").unwrap_or_default(),
            version: text("version"),
            purl: text("purl"),
            licenses: c
                .get("licenses")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(license_of).collect())
                .unwrap_or_default(),
        });
        if let Some(nested) = c.get("components").and_then(Value::as_array) {
            collect(nested, out);
        }
    }
}

/// A `licenses[]` entry: `{"expression": ..}` or `{"license": {"id"|"name": ..}}`.
fn license_of(entry: &Value) -> Option<String> {
    let s = entry
        .get("expression")
        .or_else(|| entry.pointer("/license/id"))
        .or_else(|| entry.pointer("/license/name"))?;
    s.as_str().map(str::to_string)
}

/// Flattens cyclonedx-bom's nested validation result into `path: message` lines.
fn flatten(prefix: &str, result: ValidationResult, out: &mut Vec<String>) {
    for (field, kind) in result.errors() {
        let path = match (prefix.is_empty(), field.is_empty()) {
            (true, _) => field,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{field}"),
        };
        match kind {
            ValidationErrorsKind::Struct(r) => flatten(&path, r, out),
            ValidationErrorsKind::List(items) => {
                for (i, r) in items {
                    flatten(&format!("{path}[{i}]"), r, out);
                }
            }
            ValidationErrorsKind::Field(errs) | ValidationErrorsKind::Custom(errs) => {
                out.extend(errs.into_iter().map(|e| format!("{path}: {}", e.message)));
            }
            ValidationErrorsKind::Enum(e) => out.push(format!("{path}: {}", e.message)),
        }
    }
}

/// The 1.6 fallback: checks the fields Spell reads, recursively.
fn structural_check(doc: &Value, errors: &mut Vec<String>) {
    if let Some(c) = doc.pointer("/metadata/component") {
        check_component("metadata.component", c, errors);
    }
    match doc.get("components") {
        None => {}
        Some(Value::Array(list)) => check_components("components", list, errors),
        Some(_) => errors.push("components: must be an array".into()),
    }
}

fn check_components(path: &str, list: &[Value], errors: &mut Vec<String>) {
    for (i, c) in list.iter().enumerate() {
        let path = format!("{path}[{i}]");
        check_component(&path, c, errors);
        if let Some(nested) = c.get("components") {
            match nested.as_array() {
                Some(list) => check_components(&format!("{path}.components"), list, errors),
                None => errors.push(format!("{path}.components: must be an array")),
            }
        }
    }
}

fn check_component(path: &str, c: &Value, errors: &mut Vec<String>) {
    for key in ["type", "name"] {
        if !c.get(key).is_some_and(Value::is_string) {
            errors.push(format!("{path}.{key}: must be a string"));
        }
    }
    for (i, h) in c
        .get("hashes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let content = h.get("content").and_then(Value::as_str).unwrap_or_default();
        let hex_len = match h.get("alg").and_then(Value::as_str) {
            Some("SHA-256") => Some(64),
            Some("SHA-384") => Some(96),
            Some("SHA-512") => Some(128),
            _ => None,
        };
        if hex_len
            .is_some_and(|n| content.len() != n || !content.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            errors.push(format!(
                "{path}.hashes[{i}].content: not a valid hash for its alg"
            ));
        }
    }
    for (i, l) in c
        .get("licenses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(id) = l.pointer("/license/id").and_then(Value::as_str)
            && spdx::license_id(id).is_none()
        {
            errors.push(format!(
                "{path}.licenses[{i}].license.id: {id:?} is not an SPDX license id"
            ));
        }
        if let Some(expr) = l.get("expression").and_then(Value::as_str)
            && let Err(e) = spdx::Expression::parse(expr)
        {
            errors.push(format!(
                "{path}.licenses[{i}].expression: not an SPDX expression: {e}"
            ));
        }
    }
}
