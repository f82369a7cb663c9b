//! `Policy`: what the host trusts and grants, parsed once and passed to `Runtime.load`.

use crate::errors::Failure;
use napi::Env;
use napi_derive::napi;
use std::path::Path;
use std::sync::Arc;

/// A host policy (TOML; see `examples/policy.toml`). An empty policy is deny-all: unsigned
/// spells refused, no capabilities, built-in limits.
#[napi]
pub struct Policy {
    pub(crate) inner: Arc<spell_core::Policy>,
}

#[napi]
impl Policy {
    /// Parses a policy. Relative paths in it resolve from the current directory.
    ///
    /// Throws a `SpellError` (`E-POL-001` policy_parse, `E-POL-002` policy_invalid).
    #[napi(factory)]
    pub fn from_toml(env: Env, text: String) -> napi::Result<Policy> {
        let policy =
            spell_core::Policy::from_toml(&text).map_err(|e| Failure::of(&e).throw(&env))?;
        Ok(Policy {
            inner: Arc::new(policy),
        })
    }

    /// Reads a policy file. Relative paths in it resolve from the file's folder.
    #[napi(factory)]
    pub fn from_file(env: Env, path: String) -> napi::Result<Policy> {
        let policy = spell_core::Policy::from_file(Path::new(&path))
            .map_err(|e| Failure::of(&e).throw(&env))?;
        Ok(Policy {
            inner: Arc::new(policy),
        })
    }
}
