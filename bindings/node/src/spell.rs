//! `Spell`: a loaded spell, cast any number of times, concurrently.

use crate::cast::{Prepared, finish, prepare};
use crate::convert::from_js;
use crate::errors::Failure;
use crate::meter::JsMeter;
use crate::outcome::CastResult;
use crate::pool::{promise, rejected};
use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi_derive::napi;
use std::sync::Arc;

/// A verified, compiled spell, ready to cast.
#[napi]
pub struct Spell {
    inner: spell_runtime::Spell,
    /// The runtime's meter, for casts that name none.
    meter: Option<Arc<JsMeter>>,
}

impl Spell {
    pub(crate) fn new(inner: spell_runtime::Spell, meter: Option<Arc<JsMeter>>) -> Spell {
        Spell { inner, meter }
    }
}

#[napi]
impl Spell {
    /// sha256 of the spell's `spell.json`, hex.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        self.inner.digest().to_hex()
    }

    /// The spell's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// The spell's version.
    #[napi(getter)]
    pub fn version(&self) -> String {
        self.inner.version().to_string()
    }

    /// The export a cast calls unless it names another.
    #[napi(getter)]
    pub fn entrypoint(&self) -> String {
        self.inner.entrypoint().to_string()
    }

    /// Casts the spell on a thread of its own; the event loop stays free.
    ///
    /// Resolves with the outcome whenever the cast started, however it ended (limits, traps,
    /// cancellation, denial). Rejects with a `SpellError` only when it could not start: invalid
    /// options (`E-RUN-006`), a request beyond the grant (`E-POL-004`), `busy` (`E-RUN-001`),
    /// setup (`E-RUN-005`).
    #[napi(ts_args_type = "options?: CastOptions")]
    pub fn cast<'env>(
        &self,
        env: &'env Env,
        options: Unknown,
    ) -> napi::Result<PromiseRaw<'env, CastResult>> {
        let Prepared {
            request,
            meter,
            abort,
        } = match from_js(options, "cast options").and_then(|o| prepare(env, o, self.meter.clone()))
        {
            Ok(prepared) => prepared,
            Err(f) => return rejected(env, f),
        };
        let spell = self.inner.clone();
        promise(
            env,
            move || spell.cast(request).map_err(|e| Failure::of(&e)),
            move |env, outcome| finish(env, outcome, meter, abort),
        )
    }
}
