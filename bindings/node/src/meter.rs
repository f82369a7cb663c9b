//! Metering hooks written in JS, and the records and events they see.
//!
//! A `Meter` is any object with optional `authorize`, `record` and `observe` methods, called
//! with the object as `this`; each may return a promise. Failures are never lost and never crash:
//! - `authorize` throwing (or answering nonsense) denies the cast (fail closed),
//! - `record` throwing keeps the outcome,
//! - `observe` throwing is remembered,
//!
//! and the runtime keeps the cast's first failure (a `record` failure before any other), which
//! comes back as the cast's `hookError`, a `SpellError` with code `hook_failed`. `record` is
//! called exactly once per started cast either way.

use crate::convert::whole_opt;
use crate::js_call::{JsFunction, call_and_wait, threadsafe};
use crate::outcome::{Outcome, Usage};
use napi::bindgen_prelude::{Function, JsObjectValue, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use spell_runtime::{
    Allowance, CastContext, Denied, Event, EventKind, HookError, MeteringHook, UsageRecord,
};
use std::sync::Arc;

/// What `authorize` sees: the cast about to start.
#[napi(object, object_from_js = false, js_name = "CastContext")]
pub struct JsCastContext {
    /// Unique id of this cast (32 hex digits).
    pub cast_id: String,
    /// sha256 of the spell's `spell.json`.
    pub spell_digest: String,
    /// The spell's name.
    pub spell_name: String,
    /// The spell's version.
    pub spell_version: String,
    /// The limits this cast will run under, before any allowance.
    pub limits: EffectiveLimits,
}

/// Concrete limits of one cast.
#[napi(object, object_from_js = false)]
pub struct EffectiveLimits {
    /// Linear memories plus tables, bytes.
    pub memory_bytes: f64,
    /// Fuel units.
    pub fuel: f64,
    /// Wall-clock milliseconds.
    pub wall_time_ms: f64,
    /// stdout plus stderr bytes.
    pub output_bytes: f64,
    /// Outbound requests.
    pub net_requests: f64,
    /// Network bytes, in plus out.
    pub net_bytes: f64,
    /// Descriptors open at once.
    pub open_files: f64,
    /// Bytes written to files (holes and growth by truncation included).
    pub disk_write_bytes: f64,
}

/// What `authorize` may answer (answering nothing allows the cast as it is).
#[napi(object, object_to_js = false, js_name = "Allowance")]
pub struct JsAllowance {
    /// At most this much fuel for this cast (e.g. the caller's remaining budget).
    pub max_fuel: Option<f64>,
    /// Refuse the cast with this reason: it ends `denied` and nothing runs.
    pub deny: Option<String>,
}

/// Something that happened during a cast (a limit ended it, or the guest tried something its
/// grant does not allow), or to a loaded spell (a rescan revoked it: seen by the runtime's meter,
/// `castId` empty).
#[napi(object, object_from_js = false, js_name = "SpellEvent")]
pub struct JsEvent {
    /// The cast it happened in (empty outside a cast).
    pub cast_id: String,
    /// What happened.
    #[napi(
        js_name = "type",
        ts_type = "'limit_hit' | 'policy_violation' | 'spell_revoked'"
    )]
    pub kind: String,
    /// For `limit_hit`: the outcome the limit caused.
    pub outcome: Option<Outcome>,
    /// For `policy_violation`: the capability involved (`network`, ...).
    pub capability: Option<String>,
    /// For `spell_revoked`: the spell's digest (hex).
    pub spell_digest: Option<String>,
    /// For `spell_revoked`: the spell's name.
    pub spell_name: Option<String>,
    /// For `spell_revoked`: the refusal's code (`E-SBOM-005`, ...).
    pub code: Option<String>,
    /// Which limit and its value, what was attempted and why it was refused, or the refusal.
    pub detail: String,
}

impl From<&CastContext<'_>> for JsCastContext {
    fn from(c: &CastContext<'_>) -> Self {
        let l = &c.limits;
        JsCastContext {
            cast_id: c.cast_id.to_owned(),
            spell_digest: c.spell_digest.to_owned(),
            spell_name: c.spell_name.to_owned(),
            spell_version: c.spell_version.to_owned(),
            limits: EffectiveLimits {
                memory_bytes: l.memory_bytes as f64,
                fuel: l.fuel as f64,
                wall_time_ms: l.wall_time_ms as f64,
                output_bytes: l.output_bytes as f64,
                net_requests: l.net_requests as f64,
                net_bytes: l.net_bytes as f64,
                open_files: l.open_files as f64,
                disk_write_bytes: l.disk_write_bytes as f64,
            },
        }
    }
}

impl From<&Event> for JsEvent {
    fn from(e: &Event) -> Self {
        let cast_id = e.cast_id.clone();
        match &e.kind {
            EventKind::LimitHit { outcome, detail } => JsEvent {
                cast_id,
                kind: "limit_hit".into(),
                outcome: Some((*outcome).into()),
                capability: None,
                spell_digest: None,
                spell_name: None,
                code: None,
                detail: detail.clone(),
            },
            EventKind::PolicyViolation { capability, detail } => JsEvent {
                cast_id,
                kind: "policy_violation".into(),
                outcome: None,
                capability: Some(capability.clone()),
                spell_digest: None,
                spell_name: None,
                code: None,
                detail: detail.clone(),
            },
            EventKind::SpellRevoked {
                spell_digest,
                spell_name,
                code,
                detail,
            } => JsEvent {
                cast_id,
                kind: "spell_revoked".into(),
                outcome: None,
                capability: None,
                spell_digest: Some(spell_digest.clone()),
                spell_name: Some(spell_name.clone()),
                code: Some(code.clone()),
                detail: detail.clone(),
            },
        }
    }
}

/// A meter object's hooks, callable from cast threads.
pub(crate) struct JsMeter {
    authorize: Option<JsFunction<JsCastContext>>,
    record: Option<JsFunction<Usage>>,
    observe: Option<JsFunction<JsEvent>>,
}

impl JsMeter {
    /// Reads the hooks of a meter object (on the JS thread), bound to it.
    pub(crate) fn from_js(meter: &Object<'_>) -> Result<JsMeter, String> {
        Ok(JsMeter {
            authorize: method(meter, "authorize")?,
            record: method(meter, "record")?,
            observe: method(meter, "observe")?,
        })
    }
}

/// `meter[name].bind(meter)` as a threadsafe function, if the method is there.
fn method<A: napi::bindgen_prelude::ToNapiValue + 'static>(
    meter: &Object<'_>,
    name: &str,
) -> Result<Option<JsFunction<A>>, String> {
    let bad = |e: napi::Error| format!("meter.{name}: {}", e.reason);
    let value: Unknown<'_> = meter.get_named_property(name).map_err(bad)?;
    match value.get_type().map_err(bad)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Function => {
            let f: Function<'_, A, Unknown<'static>> =
                meter.get_named_property(name).map_err(bad)?;
            let bound = f.bind(meter).map_err(bad)?;
            threadsafe(&bound).map(Some).map_err(bad)
        }
        other => Err(format!("meter.{name} must be a function, got {other:?}")),
    }
}

impl MeteringHook for JsMeter {
    fn authorize(&self, ctx: &CastContext<'_>) -> Result<Allowance, Denied> {
        let Some(f) = &self.authorize else {
            return Ok(Allowance::default());
        };
        let answer = call_and_wait(f, JsCastContext::from(ctx), read_allowance).and_then(|a| {
            let max_fuel = whole_opt(a.max_fuel, "allowance maxFuel").map_err(|e| e.message)?;
            Ok((
                a.deny,
                Allowance {
                    max_fuel,
                    ..Allowance::default()
                },
            ))
        });
        match answer {
            Ok((Some(reason), _)) => Err(Denied::new(reason)),
            Ok((None, allowance)) => Ok(allowance),
            Err(message) => Err(Denied::failed(HookError::new("authorize", message))),
        }
    }

    fn record(&self, usage: &UsageRecord) -> Result<(), HookError> {
        let Some(f) = &self.record else {
            return Ok(());
        };
        call_and_wait(f, Usage::from(usage), |_, _| Ok(()))
            .map_err(|message| HookError::new("record", message))
    }

    fn observe(&self, event: &Event) -> Result<(), HookError> {
        let Some(f) = &self.observe else {
            return Ok(());
        };
        call_and_wait(f, JsEvent::from(event), |_, _| Ok(()))
            .map_err(|message| HookError::new("observe", message))
    }
}

/// `undefined` allows; otherwise an `Allowance` object.
fn read_allowance(_: &Env, value: Unknown<'static>) -> napi::Result<JsAllowance> {
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(JsAllowance {
            max_fuel: None,
            deny: None,
        }),
        _ => crate::convert::from_js(value, "authorize's answer")
            .map_err(|f| napi::Error::from_reason(f.message)),
    }
}

/// The ready-made meter, as in Rust and Python: keeps every usage record and event in memory,
/// optionally with a fuel budget shared by its casts. It runs in Rust: no JS hook is called.
#[napi]
pub struct UsageLog {
    pub(crate) inner: Arc<spell_runtime::UsageLog>,
}

/// Options of a `UsageLog`.
#[napi(object, object_to_js = false)]
pub struct UsageLogOptions {
    /// At most this much fuel over all its casts: each is allowed what remains, and casts are
    /// denied once it is spent.
    pub fuel_budget: Option<f64>,
}

#[napi]
impl UsageLog {
    /// A log, with a fuel budget if given.
    #[napi(constructor)]
    pub fn new(options: Option<UsageLogOptions>) -> napi::Result<UsageLog> {
        let budget = options.and_then(|o| o.fuel_budget);
        let inner = match budget {
            None => spell_runtime::UsageLog::new(),
            Some(f) if f >= 0.0 && f.fract() == 0.0 => {
                spell_runtime::UsageLog::with_fuel_budget(f as u64)
            }
            Some(f) => {
                return Err(napi::Error::from_reason(format!(
                    "fuelBudget must be a whole number >= 0, not {f}"
                )));
            }
        };
        Ok(UsageLog {
            inner: Arc::new(inner),
        })
    }

    /// The usage records so far, in order.
    #[napi]
    pub fn records(&self) -> Vec<Usage> {
        self.inner.records().iter().map(Usage::from).collect()
    }

    /// The events so far, in order.
    #[napi]
    pub fn events(&self) -> Vec<JsEvent> {
        self.inner.events().iter().map(JsEvent::from).collect()
    }
}
