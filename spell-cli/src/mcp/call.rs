//! One `tools/call`: arguments checked against the input schema, the spell cast with them as JSON
//! on stdin, and the outcome turned into a tool result.
//!
//! What the agent gets back:
//! - `ok`: stdout as text; with an output schema, stdout must be JSON matching it and becomes
//!   `structuredContent` too (else the call fails with `E-MCP-003`: a tool that declares a schema
//!   promises structured results, and MCP clients check them).
//! - a non-zero exit, trap, limit, cancellation or denial: an error result (`isError`) naming the
//!   outcome and its detail, with stdout and stderr; never a protocol error, so the agent can
//!   read it and the server carries on.
//! - arguments that do not match: an error result with `E-MCP-001` and what is wrong; nothing is
//!   cast.
//!
//! Every result that followed a cast carries `_meta.spell.usage`: the cast's usage record, the
//! one the meter (and ledger) got.

use super::catalog::Entry;
use rmcp::model::{CallToolResult, ContentBlock, MetaObject};
use serde_json::{Value, json};
use spell_core::ErrorCode;
use spell_runtime::{CastOutcome, Outcome};

/// At most this many schema violations are reported for one call.
const MAX_REPORTED_VIOLATIONS: usize = 8;

/// The arguments as stdin, or the error result explaining why they are refused.
pub fn stdin_for(entry: &Entry, arguments: Value) -> Result<Vec<u8>, CallToolResult> {
    let violations = entry.input.errors(&arguments, MAX_REPORTED_VIOLATIONS);
    if violations.is_empty() {
        // Serializing a JSON value cannot fail.
        return Ok(serde_json::to_vec(&arguments).unwrap_or_default());
    }
    let message = format!(
        "arguments do not match the input schema of `{}`: {}",
        entry.spell.name(),
        violations.join("; ")
    );
    Err(refused(ErrorCode::ToolArgumentsInvalid, &message))
}

/// The error result of a call refused before its cast ran (bad arguments, `busy`): nothing was
/// metered.
pub fn refused(code: ErrorCode, message: &str) -> CallToolResult {
    let mut result = error_result(code, message);
    result.meta = Some(spell_meta(json!({"error": error_json(code, message)})));
    result
}

/// The tool result of a finished cast.
pub fn result(entry: &Entry, o: &CastOutcome) -> CallToolResult {
    let mut meta = json!({
        "outcome": o.outcome,
        "exit_code": o.exit_code,
        "detail": o.detail,
        "usage": o.usage,
    });
    if let Some(e) = &o.hook_error {
        meta["hook_error"] = json!(e.to_string());
    }
    let mut result = match o.outcome {
        Outcome::Ok => match structured(entry, &o.stdout) {
            Ok(result) => result,
            Err(message) => {
                meta["error"] = error_json(ErrorCode::ToolOutputInvalid, &message);
                error_result(ErrorCode::ToolOutputInvalid, &message)
            }
        },
        outcome => {
            let detail = o.detail.as_deref().unwrap_or("non-zero exit");
            let exit = o
                .exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            let text = format!("the cast ended: {outcome}{exit}: {detail}");
            match o.denial_code {
                Some(code) => {
                    meta["error"] = error_json(code, detail);
                    error_result(code, &text)
                }
                None => CallToolResult::error(vec![ContentBlock::text(text)]),
            }
        }
    };
    if result.is_error == Some(true) {
        for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
            if !bytes.is_empty() {
                let text = format!("{name}:\n{}", String::from_utf8_lossy(bytes));
                result.content.push(ContentBlock::text(text));
            }
        }
    }
    result.meta = Some(spell_meta(meta));
    result
}

/// The result of an `ok` cast: stdout as text, and as structured content when an output schema
/// is declared; `Err` says why stdout does not match that schema.
fn structured(entry: &Entry, stdout: &[u8]) -> Result<CallToolResult, String> {
    let text = String::from_utf8_lossy(stdout);
    let Some(schema) = &entry.output else {
        return Ok(CallToolResult::success(vec![ContentBlock::text(text)]));
    };
    let value: Value =
        serde_json::from_slice(stdout).map_err(|e| format!("stdout is not JSON: {e}"))?;
    let violations = schema.errors(&value, MAX_REPORTED_VIOLATIONS);
    if !violations.is_empty() {
        return Err(format!(
            "the output of `{}` does not match its output schema: {}",
            entry.spell.name(),
            violations.join("; ")
        ));
    }
    let mut result = CallToolResult::structured(value);
    // The text content is what the spell wrote, not a re-serialization of it.
    result.content = vec![ContentBlock::text(text)];
    Ok(result)
}

/// An error result whose text starts with the code.
fn error_result(code: ErrorCode, message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "error[{}]: {message}",
        code.code()
    ))])
}

/// The error as results' `_meta.spell.error` carries it, the shape `spell cast --json` uses.
fn error_json(code: ErrorCode, message: &str) -> Value {
    json!({"code": code.code(), "name": code.name(), "message": message})
}

/// `{"spell": value}`: Spell's part of a result's `_meta`.
fn spell_meta(value: Value) -> MetaObject {
    MetaObject(serde_json::Map::from_iter([("spell".to_string(), value)]))
}
