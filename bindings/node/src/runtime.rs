//! `Runtime`: the engine, its caches, host functions and default meter; loads spells.

use crate::convert::{from_js, whole_opt};
use crate::errors::Failure;
use crate::host_function::HostFunctionSpec;
use crate::meter::JsMeter;
use crate::policy::Policy;
use crate::pool::{promise, rejected};
use crate::spell::Spell;
use napi::bindgen_prelude::{ClassInstance, Either, Object, PromiseRaw, Uint8Array, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use spell_core::ErrorCode;
use spell_runtime::UnverifiedModule;
use std::sync::Arc;
use std::time::Duration;

/// How CPU use is measured and capped.
#[napi(string_enum = "lowercase", js_name = "Metering")]
pub enum JsMetering {
    /// Deterministic fuel (the default): what billing wants.
    Fuel,
    /// Wall and CPU time only: cheaper on CPU-bound guests; `fuel` limits are not enforced.
    Time,
}

/// How to build a runtime. Every field is optional; the defaults are the Rust builder's:
/// 256 casts at once, 1 s queue timeout, 64 cached modules, no disk cache, 1 ms epoch tick,
/// fuel metering, the pooling allocator, no host functions, no meter.
#[napi(object, object_to_js = false)]
pub struct RuntimeOptions<'env> {
    /// At most this many casts run at once; further casts wait up to `queueTimeoutMs`, then
    /// fail with `busy` (`E-RUN-001`).
    pub max_concurrent_casts: Option<f64>,
    /// How long a cast waits for a free slot, milliseconds.
    pub queue_timeout_ms: Option<f64>,
    /// Compiled modules kept in memory.
    pub module_cache_capacity: Option<f64>,
    /// Keep authenticated AOT artifacts in this folder.
    pub cache_dir: Option<String>,
    /// The epoch tick in milliseconds (fractions allowed, at least 0.1): bounds how late a
    /// timeout or cancellation takes effect.
    pub epoch_tick_ms: Option<f64>,
    /// The largest linear memory any spell may have, bytes.
    pub max_memory_bytes: Option<f64>,
    /// How CPU is metered.
    pub metering: Option<JsMetering>,
    /// Use wasmtime's pooling allocator (faster warm casts, memory reserved up front).
    pub pooling: Option<bool>,
    /// Functions offered to spells whose policy grants them.
    pub host_functions: Option<Vec<HostFunctionSpec<'env>>>,
    /// The meter of casts that name none.
    #[napi(ts_type = "Meter")]
    pub meter: Option<Object<'env>>,
    /// CA certificates (DER) trusted for spells' HTTPS requests besides Mozilla's roots: a
    /// private deployment's internal CA. One rustls cannot use is `E-RUN-002`.
    pub tls_root_certificates: Option<Vec<Uint8Array>>,
    /// Cast WASI preview 3 components (`wasi:cli@0.3`, the async component model) with
    /// wasmtime's experimental support; off (the default), they are refused at load
    /// (`E-MOD-002`).
    pub wasi_p3: Option<bool>,
}

/// Counters of the module cache.
#[napi(object, object_from_js = false)]
pub struct CacheStats {
    /// Modules compiled from WebAssembly.
    pub compiled: f64,
    /// Loads served from memory.
    pub memory_hits: f64,
    /// Loads served from an on-disk artifact.
    pub disk_hits: f64,
    /// On-disk artifacts refused (bad MAC, corrupt, incompatible) and recompiled.
    pub disk_rejected: f64,
}

/// What `Runtime.rescan` found.
#[napi(object, object_from_js = false)]
pub struct RescanReport {
    /// How many loaded spells were checked.
    pub spells: f64,
    /// The spells whose verdict changed, in load order.
    pub changes: Vec<VerdictChange>,
}

/// A loaded spell whose verdict a rescan changed.
#[napi(object, object_from_js = false)]
pub struct VerdictChange {
    /// The spell's digest (hex).
    pub digest: String,
    /// The spell's name.
    pub name: String,
    /// The spell's version.
    pub version: String,
    /// Its verdict before the rescan.
    pub before: Verdict,
    /// Its verdict now (`refused` revoked it).
    pub after: Verdict,
}

/// A verification verdict.
#[napi(object, object_from_js = false)]
pub struct Verdict {
    /// `accepted` or `refused`.
    #[napi(ts_type = "'accepted' | 'refused'")]
    pub verdict: String,
    /// For `accepted`: findings that did not refuse the spell.
    pub warnings: Vec<String>,
    /// For `refused`: the refusal's code (`E-SBOM-005`, ...).
    pub code: Option<String>,
    /// For `refused`: the refusal with every finding.
    pub message: Option<String>,
}

impl From<spell_runtime::RescanReport> for RescanReport {
    fn from(r: spell_runtime::RescanReport) -> Self {
        RescanReport {
            spells: r.spells as f64,
            changes: r
                .changes
                .into_iter()
                .map(|c| VerdictChange {
                    digest: c.digest,
                    name: c.name,
                    version: c.version,
                    before: c.before.into(),
                    after: c.after.into(),
                })
                .collect(),
        }
    }
}

impl From<spell_runtime::Verdict> for Verdict {
    fn from(v: spell_runtime::Verdict) -> Self {
        match v {
            spell_runtime::Verdict::Accepted { warnings } => Verdict {
                verdict: "accepted".into(),
                warnings,
                code: None,
                message: None,
            },
            spell_runtime::Verdict::Refused { code, message } => Verdict {
                verdict: "refused".into(),
                warnings: Vec::new(),
                code: Some(code.code().into()),
                message: Some(message),
            },
        }
    }
}

/// A Spell runtime: create one per process and load spells with it.
#[napi]
pub struct Runtime {
    inner: spell_runtime::Runtime,
    /// Whether its meter is written in JS (then casts without their own leave the JS thread).
    js_meter: bool,
}

#[napi]
impl Runtime {
    /// Builds a runtime. Throws a `SpellError` for invalid options (`E-RUN-006`), host
    /// functions (`E-RUN-003`) or engine configuration (`E-RUN-002`).
    #[napi(constructor, ts_args_type = "options?: RuntimeOptions")]
    pub fn new(env: Env, options: Unknown) -> napi::Result<Runtime> {
        build(options).map_err(|f| f.throw(&env))
    }

    /// Loads a `.spell` package (a path, or its bytes) through the verified-loading pipeline:
    /// package rules, signature and SBOM, grant, compilation (off the event loop).
    ///
    /// Rejects with a `SpellError` whose `code` says which step refused it.
    #[napi(ts_args_type = "spell: string | Uint8Array, policy: Policy")]
    pub fn load<'env>(
        &self,
        env: &'env Env,
        spell: Unknown,
        policy: Unknown,
    ) -> napi::Result<PromiseRaw<'env, Spell>> {
        let (spell, policy) = match package_and_policy(spell, policy) {
            Ok(args) => args,
            Err(f) => return rejected(env, f),
        };
        self.loading(env, move |runtime| {
            runtime
                .load(&spell.read()?, &policy)
                .map_err(|e| Failure::of(&e))
        })
    }

    /// Loads a bare WebAssembly module (a path, or its bytes) without a package: no signature,
    /// SBOM or license check; the host vouches for it. `ask` is `{ name, entrypoint,
    /// capabilities, limits }` (each optional; the last two as in `spell.json`, snake_case): it
    /// gets what it asks for, bounded by `policy` when one is given. Compiles off the event loop;
    /// rejects as `load` does (`E-MAN-001` for an unknown field).
    #[napi(
        ts_args_type = "module: string | Uint8Array, ask?: ModuleAsk | null, policy?: Policy | null"
    )]
    pub fn load_unverified<'env>(
        &self,
        env: &'env Env,
        module: Unknown,
        ask: Unknown,
        policy: Unknown,
    ) -> napi::Result<PromiseRaw<'env, Spell>> {
        let args = from_js::<Either<String, Uint8Array>>(module, "module").and_then(|m| {
            let policy = from_js::<Option<ClassInstance<Policy>>>(policy, "policy")?;
            Ok((
                PackageSource::of(m),
                ask_json(env, ask)?,
                policy.map(|p| p.inner.clone()),
            ))
        });
        let (module, ask, policy) = match args {
            Ok(args) => args,
            Err(f) => return rejected(env, f),
        };
        self.loading(env, move |runtime| {
            let wasm = module.read()?;
            UnverifiedModule::from_json(&wasm, &ask, policy.as_deref())
                .and_then(|m| runtime.load_unverified(&wasm, m))
                .map_err(|e| Failure::of(&e))
        })
    }

    /// Checks a package exactly as `load` does (package rules, signature and signer rule, SBOM
    /// rules, grant) without compiling it, off the event loop. Resolves with `{ name, version,
    /// digest, verification: { signer, sbom, warnings }, grant }` (snake_case, the object `spell
    /// verify --json` prints); rejects with the `SpellError` `load` would.
    #[napi(
        ts_args_type = "spell: string | Uint8Array, policy: Policy",
        ts_return_type = "Promise<Record<string, any>>"
    )]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        spell: Unknown,
        policy: Unknown,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let (spell, policy) = match package_and_policy(spell, policy) {
            Ok(args) => args,
            Err(f) => return rejected(env, f),
        };
        let runtime = self.inner.clone();
        promise(
            env,
            move || {
                let verified = runtime.verify(&spell.read()?, &policy);
                verified.map_err(|e| Failure::of(&e))
            },
            |_, verified| {
                verified.and_then(|v| {
                    serde_json::to_value(v).map_err(|e| Failure::invalid(e.to_string()))
                })
            },
        )
    }

    /// Re-verifies every spell this runtime loaded against `policy` as it is now (its trusted
    /// roots, keys and OSV database read again if they changed) and revokes those it refuses:
    /// their next cast rejects with `E-SIG-008`; casts in flight finish. Resolves with the spells
    /// whose verdict changed (off the event loop).
    #[napi(ts_args_type = "policy: Policy")]
    pub fn rescan<'env>(
        &self,
        env: &'env Env,
        policy: Unknown,
    ) -> napi::Result<PromiseRaw<'env, RescanReport>> {
        let policy = match from_js::<ClassInstance<Policy>>(policy, "policy") {
            Ok(p) => p.inner.clone(),
            Err(f) => return rejected(env, f),
        };
        let runtime = self.inner.clone();
        promise(
            env,
            move || runtime.rescan(&policy).map_err(|e| Failure::of(&e)),
            |_, report| report.map(RescanReport::from),
        )
    }

    /// The runtime's metrics in the Prometheus text format (0.0.4), for the host's own
    /// `/metrics`: casts by spell and outcome, refusals by code, histograms of time, fuel,
    /// memory and network bytes, casts in flight, queue wait, cache hits and misses.
    #[napi]
    pub fn metrics(&self) -> String {
        self.inner.metrics()
    }

    /// Counters of the module cache.
    #[napi]
    pub fn stats(&self) -> CacheStats {
        let s = self.inner.stats();
        CacheStats {
            compiled: s.compiled as f64,
            memory_hits: s.memory_hits as f64,
            disk_hits: s.disk_hits as f64,
            disk_rejected: s.disk_rejected as f64,
        }
    }
}

impl Runtime {
    /// Runs `load` off the event loop and resolves with the spell it loads.
    fn loading<'env>(
        &self,
        env: &'env Env,
        load: impl FnOnce(&spell_runtime::Runtime) -> Result<spell_runtime::Spell, Failure>
        + Send
        + 'static,
    ) -> napi::Result<PromiseRaw<'env, Spell>> {
        let (runtime, js_meter) = (self.inner.clone(), self.js_meter);
        promise(
            env,
            move || load(&runtime),
            move |_, loaded| loaded.map(|spell| Spell::new(spell, js_meter)),
        )
    }
}

fn build(options: Unknown) -> Result<Runtime, Failure> {
    let mut builder = spell_runtime::Runtime::builder();
    let mut js_meter = false;
    if let Some(o) = from_js::<Option<RuntimeOptions>>(options, "runtime options")? {
        let count = |v: Option<f64>, what| {
            whole_opt(v, what).map(|n| n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        if let Some(n) = count(o.max_concurrent_casts, "maxConcurrentCasts")? {
            builder = builder.max_concurrent_casts(n);
        }
        if let Some(ms) = whole_opt(o.queue_timeout_ms, "queueTimeoutMs")? {
            builder = builder.queue_timeout(Duration::from_millis(ms));
        }
        if let Some(n) = count(o.module_cache_capacity, "moduleCacheCapacity")? {
            builder = builder.module_cache_capacity(n);
        }
        if let Some(dir) = o.cache_dir {
            builder = builder.cache_dir(dir);
        }
        if let Some(ms) = o.epoch_tick_ms {
            if !(ms.is_finite() && ms > 0.0) {
                return Err(Failure::invalid(format!(
                    "epochTickMs must be a positive number, got {ms}"
                )));
            }
            builder = builder.epoch_tick(Duration::from_secs_f64(ms / 1000.0));
        }
        if let Some(bytes) = whole_opt(o.max_memory_bytes, "maxMemoryBytes")? {
            builder = builder.max_memory_bytes(bytes);
        }
        if let Some(m) = o.metering {
            builder = builder.metering(match m {
                JsMetering::Fuel => spell_runtime::Metering::Fuel,
                JsMetering::Time => spell_runtime::Metering::Time,
            });
        }
        if let Some(on) = o.pooling {
            builder = builder.pooling(on);
        }
        if let Some(on) = o.wasi_p3 {
            builder = builder.wasi_p3(on);
        }
        for spec in o.host_functions.unwrap_or_default() {
            let name = format!("{}::{}", spec.module, spec.name);
            let f = spec
                .into_host_function()
                .map_err(|e| Failure::invalid(format!("host function {name}: {}", e.reason)))?;
            builder = builder.host_function(f);
        }
        for der in o.tls_root_certificates.unwrap_or_default() {
            builder = builder.tls_root_certificate(der.to_vec());
        }
        if let Some(m) = o.meter {
            builder = builder.meter(Arc::new(JsMeter::from_js(&m).map_err(Failure::invalid)?));
            js_meter = true;
        }
    }
    let inner = builder.build().map_err(|e| Failure::of(&e))?;
    Ok(Runtime { inner, js_meter })
}

/// A package named by a path (read off the event loop) or given as bytes.
pub(crate) enum PackageSource {
    Path(String),
    Bytes(Vec<u8>),
}

impl PackageSource {
    pub(crate) fn of(spell: Either<String, Uint8Array>) -> PackageSource {
        match spell {
            Either::A(path) => PackageSource::Path(path),
            // Copied now: the JS side may change the buffer while the work runs.
            Either::B(bytes) => PackageSource::Bytes(bytes.to_vec()),
        }
    }

    pub(crate) fn read(self) -> Result<Vec<u8>, Failure> {
        match self {
            PackageSource::Path(path) => std::fs::read(&path)
                .map_err(|e| Failure::new(ErrorCode::PackageIo, format!("{path}: {e}"))),
            PackageSource::Bytes(bytes) => Ok(bytes),
        }
    }
}

/// `ask` as the JSON `UnverifiedModule::from_json` reads (`{}` for nothing).
fn ask_json(env: &Env, ask: Unknown) -> Result<String, Failure> {
    let bad = |e: napi::Error| Failure::invalid(format!("ask: {}", e.reason));
    match ask.get_type().map_err(bad)? {
        ValueType::Undefined | ValueType::Null => Ok("{}".into()),
        ValueType::Object => env
            .from_js_value::<serde_json::Value, _>(ask)
            .map(|v| v.to_string())
            .map_err(bad),
        other => Err(Failure::invalid(format!(
            "ask must be an object, got {other:?}"
        ))),
    }
}

fn package_and_policy(
    spell: Unknown,
    policy: Unknown,
) -> Result<(PackageSource, Arc<spell_core::Policy>), Failure> {
    let spell = from_js::<Either<String, Uint8Array>>(spell, "spell")?;
    let policy = from_js::<ClassInstance<Policy>>(policy, "policy")?;
    Ok((PackageSource::of(spell), policy.inner.clone()))
}
