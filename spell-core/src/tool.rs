//! The manifest's optional `tool` section: how a spell presents itself to AI agents as a Model
//! Context Protocol tool (`spell mcp`). Spells without it are not offered as tools.
//!
//! The convention a tool spell follows: the call's arguments arrive as one JSON object on stdin;
//! what the spell writes to stdout is the result (JSON matching `output_schema` when one is
//! declared, text otherwise); a non-zero exit is a failed call.
//!
//! ```
//! use spell_core::ToolSpec;
//! let tool: ToolSpec = serde_json::from_str(r#"{
//!   "description": "Counts the words of a text",
//!   "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
//!   "annotations": {"read_only": true, "open_world": false}
//! }"#)?;
//! tool.validate()?;
//! let input = tool.input_validator()?;
//! assert!(input.is_valid(&serde_json::json!({"text": "a b"})));
//! assert!(!input.is_valid(&serde_json::json!({"txt": 1})));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{ErrorCode, HasCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The largest schema accepted, serialized: 64 KiB. Schemas are shown to every agent on every
/// `tools/list` and compiled by every server; a spell has no use for a bigger one.
pub const MAX_SCHEMA_BYTES: usize = 64 << 10;
/// The longest description accepted, in bytes: 4 KiB.
pub const MAX_DESCRIPTION_BYTES: usize = 4 << 10;

/// A JSON object (a JSON Schema, here).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// How a spell is offered as an MCP tool. The tool's name is the spell's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// What the tool does, for the agent choosing a tool (1 to 4096 bytes).
    pub description: String,
    /// A human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The JSON Schema (draft 2020-12 unless `$schema` says otherwise) of the arguments: an
    /// object schema (`"type": "object"`). The arguments reach the spell as JSON on stdin.
    pub input_schema: JsonObject,
    /// The JSON Schema of the result, an object schema. When present, the spell's stdout must be
    /// JSON matching it; it becomes the result's `structuredContent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<JsonObject>,
    /// Hints about the tool's behaviour (what it touches is in the grant, not here).
    #[serde(default)]
    pub annotations: ToolAnnotations,
}

/// Behaviour hints shown to agents. They are the maker's claims: the grant, not these, bounds
/// what a cast can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolAnnotations {
    /// The tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The tool may destroy or overwrite data (meaningful when not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    /// Calling it again with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// The tool reaches an open world of external entities (the network, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

/// Why a tool section was refused (`E-MAN-003`).
#[derive(Debug, thiserror::Error)]
#[error("spell.json: invalid `tool.{field}`: {reason}")]
pub struct ToolError {
    /// The field under `tool`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl HasCode for ToolError {
    fn code(&self) -> ErrorCode {
        ErrorCode::ManifestToolInvalid
    }
}

impl ToolSpec {
    /// Checks the section: a description, object schemas of bounded size that are valid JSON
    /// Schemas and compile without reaching anything outside themselves.
    pub fn validate(&self) -> Result<(), ToolError> {
        let err = |field, reason: String| Err(ToolError { field, reason });
        if self.description.trim().is_empty() || self.description.len() > MAX_DESCRIPTION_BYTES {
            return err(
                "description",
                format!("must be 1 to {MAX_DESCRIPTION_BYTES} bytes"),
            );
        }
        if self
            .title
            .as_ref()
            .is_some_and(|t| t.trim().is_empty() || t.len() > 256)
        {
            return err("title", "must be 1 to 256 bytes".into());
        }
        check_schema("input_schema", &self.input_schema)?;
        if let Some(output) = &self.output_schema {
            check_schema("output_schema", output)?;
        }
        Ok(())
    }

    /// The compiled validator of the arguments.
    pub fn input_validator(&self) -> Result<SchemaValidator, ToolError> {
        compile("input_schema", &self.input_schema)
    }

    /// The compiled validator of the result, when an output schema is declared.
    pub fn output_validator(&self) -> Result<Option<SchemaValidator>, ToolError> {
        self.output_schema
            .as_ref()
            .map(|s| compile("output_schema", s))
            .transpose()
    }
}

/// A compiled JSON Schema. Cheap to share; validating does no I/O.
#[derive(Debug)]
pub struct SchemaValidator(jsonschema::Validator);

impl SchemaValidator {
    /// Whether `value` matches the schema.
    pub fn is_valid(&self, value: &serde_json::Value) -> bool {
        self.0.is_valid(value)
    }

    /// Why `value` does not match: up to `max` messages, each naming the instance location.
    pub fn errors(&self, value: &serde_json::Value, max: usize) -> Vec<String> {
        self.0
            .iter_errors(value)
            .take(max)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".into() } else { at };
                format!("{at}: {e}")
            })
            .collect()
    }
}

/// MCP requires object schemas (arguments and structured results are JSON objects).
fn check_schema(field: &'static str, schema: &JsonObject) -> Result<(), ToolError> {
    let size = serde_json::to_vec(schema).map_or(usize::MAX, |v| v.len());
    if size > MAX_SCHEMA_BYTES {
        return Err(ToolError {
            field,
            reason: format!("{size} bytes; at most {MAX_SCHEMA_BYTES}"),
        });
    }
    if schema.get("type") != Some(&serde_json::Value::String("object".into())) {
        return Err(ToolError {
            field,
            reason: "must be an object schema (`\"type\": \"object\"`)".into(),
        });
    }
    compile(field, schema).map(|_| ())
}

/// Validates `schema` against its meta-schema and compiles it. Built without jsonschema's
/// `resolve-http`/`resolve-file` features, so a `$ref` outside the schema fails here instead of
/// being fetched.
fn compile(field: &'static str, schema: &JsonObject) -> Result<SchemaValidator, ToolError> {
    let value = serde_json::Value::Object(schema.clone());
    jsonschema::meta::validate(&value).map_err(|e| ToolError {
        field,
        reason: format!("not a valid JSON Schema: {e}"),
    })?;
    jsonschema::validator_for(&value)
        .map(SchemaValidator)
        .map_err(|e| ToolError {
            field,
            reason: format!("does not compile: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Result<ToolSpec, String> {
        let t: ToolSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        t.validate().map_err(|e| e.to_string())?;
        Ok(t)
    }

    #[test]
    fn a_good_section_compiles_both_schemas() {
        let t = spec(json!({
            "description": "adds",
            "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
            "output_schema": {"type": "object", "required": ["sum"]},
        }))
        .expect("valid");
        assert!(t.input_validator().expect("in").is_valid(&json!({"a": 1})));
        assert!(
            !t.input_validator()
                .expect("in")
                .is_valid(&json!({"a": "x"}))
        );
        let out = t.output_validator().expect("out").expect("declared");
        assert!(!out.is_valid(&json!({})));
    }

    #[test]
    fn malformed_sections_are_refused_naming_the_field() {
        let cases = [
            (
                json!({"description": "", "input_schema": {"type": "object"}}),
                "description",
            ),
            (
                json!({"description": "x", "input_schema": {"type": "string"}}),
                "input_schema",
            ),
            (
                json!({"description": "x", "input_schema": {}}),
                "input_schema",
            ),
            (
                json!({"description": "x", "input_schema": {"type": "object", "minProperties": "two"}}),
                "input_schema",
            ),
            (
                json!({"description": "x", "input_schema": {"type": "object", "$ref": "https://127.0.0.1/s.json"}}),
                "input_schema",
            ),
            (
                json!({"description": "x", "input_schema": {"type": "object"}, "output_schema": {"type": "array"}}),
                "output_schema",
            ),
            (
                json!({"description": "x", "input_schema": {"type": "object", "pattern": "("}}),
                "input_schema",
            ),
        ];
        for (v, field) in cases {
            let err = spec(v.clone()).expect_err(&v.to_string());
            assert!(err.contains(&format!("tool.{field}")), "{v}: {err}");
        }
        let huge = json!({"description": "x", "input_schema": {"type": "object", "description": "y".repeat(MAX_SCHEMA_BYTES)}});
        assert!(spec(huge).expect_err("huge").contains("bytes"));
        let unknown = json!({"description": "x", "input_schema": {"type": "object"}, "annotations": {"readonly": true}});
        assert!(spec(unknown).is_err());
    }
}
