//! `SpellError`: how refusals reach JS.
//!
//! Every refusal becomes an instance of the `SpellError` class that `index.js` defines and
//! registers at load time, with the catalog's stable `code` (`E-PKG-002`) and `codeName`
//! (`package_malformed`); hook failures also name the `hook`. The binding maps the Rust errors'
//! codes and never invents one. `name` stays `'SpellError'`, as JS tooling expects of `Error.name`.

use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, JsObjectValue, Object, Unknown};
use napi::{Env, JsError, JsValue};
use napi_derive::napi;
use spell_core::{ErrorCode, HasCode};
use spell_runtime::HookError;
use std::cell::RefCell;
use std::fmt::Display;

type Constructor = FunctionRef<FnArgs<(String, &'static str, &'static str)>, Unknown<'static>>;

thread_local! {
    /// The `SpellError` class of the JS environment on this thread (each Node worker has its own).
    static SPELL_ERROR: RefCell<Option<Constructor>> = const { RefCell::new(None) };
}

/// Registers the `SpellError` class; `index.js` calls it once when it loads the addon.
#[cfg_attr(
    test,
    allow(
        dead_code,
        reason = "napi-derive registers exports only outside cfg(test)"
    )
)]
#[napi(skip_typescript)]
pub fn register_spell_error(
    class: Function<FnArgs<(String, &'static str, &'static str)>, Unknown<'static>>,
) -> napi::Result<()> {
    let class = class.create_ref()?;
    SPELL_ERROR.with(|slot| *slot.borrow_mut() = Some(class));
    Ok(())
}

/// A refusal on its way to JS: a catalog code, a message and, for hook failures, the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) hook: Option<String>,
}

impl Failure {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            hook: None,
        }
    }

    /// The error of a Rust API call, with its code.
    pub(crate) fn of(e: &(impl HasCode + Display)) -> Failure {
        Failure::new(e.code(), e.to_string())
    }

    /// A bad argument from JS.
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::InvalidArgument, message)
    }

    /// A hook (or a host function) that threw, rejected or answered nonsense.
    pub(crate) fn hook(e: &HookError) -> Failure {
        Failure {
            code: ErrorCode::HookFailed,
            message: e.to_string(),
            hook: Some(e.hook.clone()),
        }
    }

    /// The `SpellError` object as an error that converts back to exactly that object: to throw
    /// from a `#[napi]` function or to reject a promise with. Call on the JS thread.
    pub(crate) fn throw(self, env: &Env) -> napi::Error {
        match self.instantiate(env) {
            Ok(object) => napi::Error::from(object.to_unknown()),
            // Only when the addon was loaded without `index.js`: a plain Error still carries the code.
            Err(_) => napi::Error::new(
                napi::Status::GenericFailure,
                format!("[{}] {}", self.code.code(), self.message),
            ),
        }
    }

    /// The `SpellError` object as a value, e.g. for `CastResult.hookError`.
    pub(crate) fn into_js(self, env: &Env) -> JsError {
        JsError::from(self.throw(env))
    }

    fn instantiate<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let mut object = SPELL_ERROR.with(|slot| -> napi::Result<Object<'env>> {
            let slot = slot.borrow();
            let class = slot
                .as_ref()
                .ok_or_else(|| napi::Error::from_reason("SpellError is not registered"))?;
            let instance = class.borrow_back(env)?.new_instance(FnArgs::from((
                self.message.clone(),
                self.code.code(),
                self.code.name(),
            )))?;
            Ok(Object::from_raw(env.raw(), instance.raw()))
        })?;
        if let Some(hook) = &self.hook {
            object.set_named_property("hook", hook.as_str())?;
        }
        Ok(object)
    }
}
