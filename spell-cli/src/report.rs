//! How errors reach the terminal: `error[E-PKG-010]: message`, then the causes.

use spell_core::ErrorCode;

/// An error that carries a catalog code, for `anyhow` chains.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// The code.
    pub code: ErrorCode,
    /// The full message.
    pub message: String,
}

impl Coded {
    /// Wraps any coded library error.
    pub fn from<E: spell_core::HasCode + std::fmt::Display>(e: E) -> Coded {
        Coded {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// The code in an error chain, if any.
pub fn code_of(err: &anyhow::Error) -> Option<ErrorCode> {
    err.chain()
        .find_map(|e| e.downcast_ref::<Coded>())
        .map(|c| c.code)
}

/// The exit code of an error: 1 when Spell refused (it has a catalog code), 2 otherwise.
fn exit_code(code: Option<ErrorCode>) -> i32 {
    if code.is_some() { 1 } else { 2 }
}

/// The error as the `--json` outputs carry it: `{"code", "name", "message"}` (code and name are
/// null for errors outside the catalog), and the exit code it gets (1 refused, 2 other).
pub fn error_json(err: &anyhow::Error) -> (serde_json::Value, i32) {
    let code = code_of(err);
    let json = serde_json::json!({
        "code": code.map(|c| c.code()),
        "name": code.map(|c| c.name()),
        "message": format!("{err:#}"),
    });
    (json, exit_code(code))
}

/// Prints the error with its code and returns the exit code (1 refused, 2 other).
pub fn print_error(err: &anyhow::Error) -> i32 {
    let code = code_of(err);
    match code {
        Some(code) => {
            eprintln!("error[{}]: {err:#}", code.code());
            eprintln!("  = help: {}", code.message());
        }
        None => eprintln!("error: {err:#}"),
    }
    exit_code(code)
}
