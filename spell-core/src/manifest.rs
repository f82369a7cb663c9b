//! The manifest, `spell.json`: what a spell is and what it asks for.
//!
//! ```
//! use spell_core::Manifest;
//! let json = r#"{
//!   "name": "hello", "version": "1.0.0", "license": "MIT",
//!   "module": {"path": "module.wasm", "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "size": 3},
//!   "capabilities": {"env": ["LANG"]},
//!   "limits": {"memory_bytes": 16777216}
//! }"#;
//! let m = Manifest::from_json(json.as_bytes()).unwrap();
//! assert_eq!(m.entrypoint, "_start");
//! assert_eq!(m.limits.memory_bytes, Some(16 << 20));
//! ```

use crate::capability::Capabilities;
use crate::digest::Sha256Digest;
use crate::error::{ErrorCode, HasCode};
use crate::tool::{ToolError, ToolSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The module member's fixed name inside a package.
pub const MODULE_PATH: &str = "module.wasm";
/// The SBOM member's fixed name inside a package.
pub const SBOM_PATH: &str = "sbom.cdx.json";

/// A spell manifest. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase name: letters, digits, `.`, `_`, `-`; at most 64 characters.
    pub name: String,
    /// Semantic version.
    pub version: semver::Version,
    /// One line on what the spell does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX license expression of the spell itself.
    pub license: String,
    /// The WebAssembly module, pinned by digest and size.
    pub module: ModuleRef,
    /// The CycloneDX SBOM, pinned by digest and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<FileRef>,
    /// The export to call: `_start` for WASI commands (the default; a component's
    /// `wasi:cli/run`), or a function without parameters (in a component: `name` at the top
    /// level, `interface#name` in an exported interface).
    #[serde(default = "default_entrypoint")]
    pub entrypoint: String,
    /// Capabilities the spell asks for. Nothing by default.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Limits the spell asks for. Absent values take the policy's defaults.
    #[serde(default)]
    pub limits: Limits,
    /// How the spell is offered as a Model Context Protocol tool (`spell mcp`); spells without
    /// it are not offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolSpec>,
}

fn default_entrypoint() -> String {
    "_start".into()
}

/// The module member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleRef {
    /// Always `module.wasm`.
    pub path: String,
    /// SHA-256 of the module bytes.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
    /// The module kind.
    #[serde(default)]
    pub kind: ModuleKind,
}

/// What kind of WebAssembly the module is. `spell pack` fills it in from the module's header;
/// loading refuses a package whose module is not of its stated kind (`E-PKG-013`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    /// A core module using WASI preview 1.
    #[default]
    Core,
    /// A component (the component model) using WASI preview 2 (or preview 3, on a runtime
    /// built for it): a `wasi:cli/command` whose `wasi:cli/run` is the entrypoint `_start`, or a
    /// component exporting functions without parameters.
    Component,
}

impl ModuleKind {
    /// The kind a WebAssembly binary's header declares, or `None` when `wasm` is no WebAssembly
    /// binary (the compiler then refuses it with its own words).
    ///
    /// The header is the magic `\0asm`, a 16-bit version and a 16-bit layer: layer 0 is a core
    /// module, layer 1 a component.
    ///
    /// ```
    /// use spell_core::ModuleKind;
    /// assert_eq!(ModuleKind::detect(b"\0asm\x01\0\0\0"), Some(ModuleKind::Core));
    /// assert_eq!(ModuleKind::detect(b"\0asm\x0d\0\x01\0"), Some(ModuleKind::Component));
    /// assert_eq!(ModuleKind::detect(b"(module)"), None);
    /// ```
    pub fn detect(wasm: &[u8]) -> Option<ModuleKind> {
        let header = wasm.get(..8)?;
        if &header[..4] != b"\0asm" {
            return None;
        }
        match u16::from_le_bytes([header[6], header[7]]) {
            0 => Some(ModuleKind::Core),
            1 => Some(ModuleKind::Component),
            _ => None,
        }
    }

    /// `core` or `component`, as in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Core => "core",
            ModuleKind::Component => "component",
        }
    }
}

impl std::fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pinned package member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// The member name.
    pub path: String,
    /// SHA-256 of the member bytes.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// Resource limits. In a manifest: what the spell asks for. In a policy: defaults and ceilings.
/// An absent value means "not stated here".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memories plus tables, in bytes, summed over the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Fuel: the deterministic CPU measure (about one unit per WebAssembly instruction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Wall-clock time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<u64>,
    /// Bytes written to stdout plus stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Outbound requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_requests: Option<u64>,
    /// Network bytes in plus out (headers and bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_bytes: Option<u64>,
    /// Descriptors the spell may hold open at once (files and folders it opened itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// Bytes written to files in read-write mounts, holes and files grown by truncation
    /// included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_write_bytes: Option<u64>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or a field is unknown or mistyped.
    #[error("spell.json: {0}")]
    Parse(#[from] serde_json::Error),
    /// A field has an invalid value.
    #[error("spell.json: invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The `tool` section is malformed.
    #[error(transparent)]
    Tool(#[from] ToolError),
}

impl HasCode for ManifestError {
    fn code(&self) -> ErrorCode {
        match self {
            ManifestError::Parse(_) => ErrorCode::ManifestParse,
            ManifestError::Invalid { .. } => ErrorCode::ManifestInvalid,
            ManifestError::Tool(e) => e.code(),
        }
    }
}

impl Manifest {
    /// Parses and validates a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes)?;
        m.validate()?;
        Ok(m)
    }

    /// The canonical bytes written into packages: pretty JSON and a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Checks every value serde cannot check by type.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |field, reason: &str| {
            Err(ManifestError::Invalid {
                field,
                reason: reason.into(),
            })
        };
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !name_ok {
            return invalid(
                "name",
                "1-64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit",
            );
        }
        if let Err(e) = spdx::Expression::parse(&self.license) {
            return invalid("license", &format!("not an SPDX expression: {e}"));
        }
        if self.module.path != MODULE_PATH {
            return invalid("module.path", "must be `module.wasm`");
        }
        if self.sbom.as_ref().is_some_and(|s| s.path != SBOM_PATH) {
            return invalid("sbom.path", "must be `sbom.cdx.json`");
        }
        if self.entrypoint.is_empty() || self.entrypoint.len() > 256 {
            return invalid("entrypoint", "must be 1-256 characters");
        }
        validate_capabilities(&self.capabilities, false)
            .map_err(|(field, reason)| ManifestError::Invalid { field, reason })?;
        match &self.tool {
            Some(tool) => Ok(tool.validate()?),
            None => Ok(()),
        }
    }

    /// The JSON Schema of the manifest, as kept in `schema/manifest.schema.json`.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Manifest);
        let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Checks capability values; `patterns` allows the trailing `*` a policy may use.
pub(crate) fn validate_capabilities(
    c: &Capabilities,
    patterns: bool,
) -> Result<(), (&'static str, String)> {
    for name in &c.env {
        let bare = if patterns {
            name.strip_suffix('*').unwrap_or(name)
        } else {
            name
        };
        if bare.is_empty() && !patterns || bare.contains(['=', '\0', '*']) {
            return Err((
                "capabilities.env",
                format!("`{name}` is not a valid variable name"),
            ));
        }
    }
    for m in &c.mounts {
        let ok = m.guest.starts_with('/')
            && !m.guest.contains('\0')
            && !m.guest.split('/').any(|s| s == ".." || s == ".");
        if !ok {
            return Err((
                "capabilities.mounts",
                format!("`{}` must be an absolute path without `.` or `..`", m.guest),
            ));
        }
    }
    for f in &c.host_functions {
        let ok = f.split_once("::").is_some_and(|(m, n)| {
            !m.is_empty() && !n.is_empty() && (patterns || !n.ends_with('*')) && !m.contains('*')
        });
        if !ok {
            return Err((
                "capabilities.host_functions",
                format!("`{f}` must be `module::name`"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn manifest(extra: &str) -> String {
        format!(
            r#"{{"name":"demo","version":"1.2.3","license":"MIT OR Apache-2.0",
               "module":{{"path":"module.wasm","sha256":"{DIGEST}","size":3}}{extra}}}"#
        )
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = Manifest::from_json(manifest("").as_bytes()).expect("valid");
        assert_eq!(m.entrypoint, "_start");
        assert_eq!(m.capabilities, Capabilities::default());
        assert_eq!(m.limits, Limits::default());
        assert_eq!(Manifest::from_json(&m.to_json()).expect("round trip"), m);
    }

    #[test]
    fn invalid_manifests_are_refused_with_their_code() {
        let cases = [
            (manifest(r#","extra":1"#), ErrorCode::ManifestParse),
            (
                manifest(r#","limits":{"memory":1}"#),
                ErrorCode::ManifestParse,
            ),
            (
                manifest("").replace("1.2.3", "1.2"),
                ErrorCode::ManifestParse,
            ),
            (
                manifest("").replace("demo", "Demo"),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest("").replace("MIT OR Apache-2.0", "MIT OR"),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest("").replace("module.wasm", "../x.wasm"),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest(r#","capabilities":{"env":["A=B"]}"#),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest(r#","capabilities":{"mounts":[{"guest":"/a/../b"}]}"#),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest(r#","capabilities":{"host_functions":["nomodule"]}"#),
                ErrorCode::ManifestInvalid,
            ),
            (
                manifest(r#","capabilities":{"network":["ftp://x"]}"#),
                ErrorCode::ManifestParse,
            ),
            ("[]".to_string(), ErrorCode::ManifestParse),
            (
                manifest(r#","tool":{"description":"x","input_schema":{"type":"array"}}"#),
                ErrorCode::ManifestToolInvalid,
            ),
            (
                manifest(r#","tool":{"input_schema":{"type":"object"}}"#),
                ErrorCode::ManifestParse,
            ),
        ];
        for (json, code) in cases {
            let err = Manifest::from_json(json.as_bytes()).expect_err(&json);
            assert_eq!(err.code(), code, "{json}: {err}");
        }
    }

    #[test]
    fn schema_file_is_current() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../schema/manifest.schema.json"
        );
        let expected = Manifest::json_schema();
        if std::env::var_os("SPELL_BLESS").is_some() {
            std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema"))
                .expect("mkdir");
            std::fs::write(path, &expected).expect("write schema");
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "schema/manifest.schema.json is stale: run with SPELL_BLESS=1"
        );
    }
}
