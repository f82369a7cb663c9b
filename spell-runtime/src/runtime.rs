//! The [`Runtime`]: one wasmtime engine, the WASI linker, caches, and the verified-loading
//! pipeline.
//!
//! Loading, in order: read the package (size caps, member rules, pins) → verify signature and
//! SBOM against the policy (verdicts cached by package, policy sections and the contents of the
//! files the verifier read; see [`crate::rescan`]) → intersect requested
//! capabilities with the policy → compile or fetch from cache → check every import is WASI or a
//! granted host function → check the entrypoint → pre-instantiate.

use crate::cache::{CacheStats, Compiled, ModuleCache};
use crate::cast::CastState;
use crate::config::{Metering, RuntimeBuilder};
use crate::error::Error;
use crate::fs_guard;
use crate::host::{HostFunction, RESERVED_MODULES};
use crate::metering::{MeteringHook, NoMetering};
use crate::metrics::Metrics;
use crate::net::{self, NetGrant};
use crate::random;
use crate::reaper::Reaper;
use crate::rescan::{Registry, SbomSlot, Standing, verdict_key};
use crate::spell::{Spell, SpellInner, SpellPre};
use crate::ticker::Ticker;
use lru::LruCache;
use spell_core::capability::name_matches;
use spell_core::{Grant, HasCode, ModuleKind, NetworkPolicy, Package, Policy, Sha256Digest};
use spell_verify::{PolicyVerifier, SignatureCheck, Verification};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio_rustls::TlsConnector;
use wasmtime::component::types::ComponentFunc;
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};

/// Bytes of each pooled memory and table slot reset in place (kept resident) when a cast ends:
/// the two pages a C program built with wasi-libc starts with (64 KiB left its second page to an
/// madvise and a TLB shootdown every cast).
const RESIDENT_RESET_BYTES: usize = 128 << 10;

/// Elements a table may have with the pooling allocator (its slots are sized for this many).
const POOL_TABLE_ELEMENTS: u64 = 20_000;

/// Pool slots a cast may use, per kind: a core module uses one instance, memory and table; a
/// component more (a command made with the preview-1 adapter: four core instances, one memory,
/// two tables; one made by `componentize-py`: fourteen core instances, one memory, two tables).
/// They are the pool's limits per component too, so a component that needs more is refused at
/// load and one cast never takes another's slots. The pool reserves address space, not memory,
/// for its slots.
const POOL_CORE_INSTANCES_PER_CAST: u32 = 32;
const POOL_MEMORIES_PER_CAST: u32 = 4;
const POOL_TABLES_PER_CAST: u32 = 8;

/// Verdicts and signature checks kept per runtime (each about 1 KB).
const VERDICT_CACHE_CAPACITY: usize = 4096;

/// Policy verifiers kept: each holds its parsed roots and its OSV index.
const VERIFIER_CACHE_CAPACITY: usize = 8;

/// A verdict holds for one manifest, one signature bundle, one
/// [`PolicyVerifier::trust_digest`] and one [`PolicyVerifier::contents_digest`].
pub(crate) type VerdictKey = (
    Sha256Digest,
    Option<Sha256Digest>,
    Sha256Digest,
    Sha256Digest,
);

/// A signature check holds for one manifest, one bundle and one trust digest.
type SignatureKey = (Sha256Digest, Option<Sha256Digest>, Sha256Digest);

/// A Spell runtime. Cheap to clone and share across threads; casts from many threads at once.
///
/// ```
/// use spell_runtime::{CastRequest, Runtime};
/// use spell_core::{Package, Policy};
/// let runtime = Runtime::new()?;
/// let manifest = br#"{"name":"answer","version":"1.0.0","license":"MIT","entrypoint":"run"}"#;
/// let wasm = wat::parse_str(r#"(module (func (export "run") (result i32) i32.const 42))"#)?;
/// let package = Package::pack(manifest, &wasm, None, None)?;
/// let policy = Policy::from_toml("allow_unsigned = true")?;
/// let spell = runtime.load(&package, &policy)?;
/// let outcome = spell.cast(CastRequest::new())?;
/// assert_eq!(outcome.returned, vec![spell_runtime::Val::I32(42)]);
/// assert!(outcome.usage.fuel.unwrap() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Runtime")
            .field("pooling", &c.pooling)
            .field("max_concurrent_casts", &c.max_concurrent_casts)
            .field("metering", &c.metering)
            .field("cache_dir", &c.cache_dir)
            .finish_non_exhaustive()
    }
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CastState>,
    /// Components' linker (WASI preview 2, `wasi:http`, the host functions), made on the first
    /// component load: defining it is about a tenth of a module-only `spell cast`.
    component_linker: OnceLock<Result<wasmtime::component::Linker<CastState>, Error>>,
    pub(crate) config: RuntimeBuilder,
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    pub(crate) default_meter: Arc<dyn MeteringHook>,
    /// The most bytes a memory, and elements a table, can reach in this engine.
    pub(crate) grow_bounds: (u64, u64),
    /// HTTPS for spells' requests: Mozilla's roots and the builder's.
    tls: TlsConnector,
    /// The resolver of spells' requests, shared by all casts.
    dns: Arc<net::Dns>,
    modules: ModuleCache,
    /// The registered host functions, by `module::name`.
    host_functions: HashMap<String, HostFunction>,
    /// By policy digest; replaced when the files one read change.
    verifiers: Mutex<LruCache<Sha256Digest, Arc<PolicyVerifier>>>,
    signatures: Mutex<LruCache<SignatureKey, SignatureCheck>>,
    verdicts: Mutex<LruCache<VerdictKey, Verification>>,
    /// Loads (and rescans) that found their verdict in `verdicts`, and that did not.
    verdict_hits: AtomicU64,
    verdict_misses: AtomicU64,
    /// `None` when the builder turned metrics off (or without the `metrics` feature).
    pub(crate) metrics: Option<Metrics>,
    /// Verified spells, for rescans.
    pub(crate) loaded: Mutex<Registry>,
    pub(crate) rescans: Mutex<()>,
    pub(crate) ticker: Ticker,
    pub(crate) reaper: Reaper,
}

/// What [`Runtime::verify`] established about a package. Serializes to the object `spell verify
/// --json` prints (and every binding's `verify` returns).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// The spell's name.
    pub name: String,
    /// The spell's version.
    pub version: String,
    /// sha256 of its `spell.json`: the spell's identity.
    pub digest: Sha256Digest,
    /// The signer (identity, issuer, the rule that matched), the SBOM's findings, warnings.
    pub verification: Verification,
    /// What the spell may use under the policy.
    pub grant: Grant,
}

/// A module loaded without a package: for hosts that vouch for it themselves.
#[derive(Debug, Clone)]
pub struct UnverifiedModule {
    /// A name for usage records and `argv[0]`.
    pub name: String,
    /// The export to call (`_start` for WASI commands).
    pub entrypoint: String,
    /// What the module may use.
    pub grant: Grant,
    /// The largest module to load (a package's default: [`spell_core::package::DEFAULT_MAX_MODULE_BYTES`]).
    pub max_module_bytes: u64,
}

impl UnverifiedModule {
    /// A bare module granted what a package's manifest asking for `capabilities` and `limits`
    /// would be granted by `policy`, or all it asks for without one (the caller vouches for the
    /// module; its policy still bounds what it gets). `spell cast --unverified` and the bindings'
    /// bare-module loads.
    ///
    /// ```
    /// use spell_core::{Capabilities, Limits};
    /// use spell_runtime::{CastRequest, Runtime, UnverifiedModule};
    /// let wasm = wat::parse_str(r#"(module (func (export "answer") (result i32) i32.const 42))"#)?;
    /// let limits = Limits { fuel: Some(1_000), ..Limits::default() };
    /// let module = UnverifiedModule::asking(&wasm, "answer", "answer", Capabilities::default(), limits, None)?;
    /// assert_eq!(module.grant.limits.fuel, 1_000);
    /// let spell = Runtime::new()?.load_unverified(&wasm, module)?;
    /// assert_eq!(spell.cast(CastRequest::new())?.returned, vec![spell_runtime::Val::I32(42)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn asking(
        wasm: &[u8],
        name: &str,
        entrypoint: &str,
        capabilities: spell_core::Capabilities,
        limits: spell_core::Limits,
        policy: Option<&Policy>,
    ) -> Result<UnverifiedModule, Error> {
        let manifest = spell_core::Manifest {
            name: name.into(),
            version: semver::Version::new(0, 0, 0),
            description: None,
            authors: Vec::new(),
            license: "NOASSERTION".into(),
            module: spell_core::ModuleRef {
                path: spell_core::MODULE_PATH.into(),
                // The grant never reads the pin, and `load_unverified` hashes the module itself:
                // hashing it here too cost a millisecond a MiB of every bare-module load.
                sha256: Sha256Digest([0; 32]),
                size: wasm.len() as u64,
                kind: ModuleKind::detect(wasm).unwrap_or_default(),
            },
            sbom: None,
            entrypoint: entrypoint.into(),
            capabilities,
            limits,
            tool: None,
        };
        let trusting;
        let policy = match policy {
            Some(p) => p,
            None => {
                trusting = Policy::trusting(&manifest);
                &trusting
            }
        };
        Ok(UnverifiedModule {
            grant: policy.grant(&manifest)?,
            name: manifest.name,
            entrypoint: manifest.entrypoint,
            max_module_bytes: policy.package.max_module_bytes,
        })
    }

    /// [`UnverifiedModule::asking`] for what `ask` (a [`ModuleAsk`] as JSON) asks: the one way
    /// every binding's `load_unverified` reads its options. Malformed JSON or an unknown field is
    /// `E-MAN-001`.
    ///
    /// ```
    /// use spell_runtime::UnverifiedModule;
    /// let wasm = wat::parse_str(r#"(module (func (export "run")))"#)?;
    /// let ask = r#"{"name": "tool", "entrypoint": "run", "limits": {"fuel": 5000}}"#;
    /// let module = UnverifiedModule::from_json(&wasm, ask, None)?;
    /// assert_eq!((module.name.as_str(), module.grant.limits.fuel), ("tool", 5000));
    /// assert!(UnverifiedModule::from_json(&wasm, r#"{"fuel": 1}"#, None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_json(
        wasm: &[u8],
        ask: &str,
        policy: Option<&Policy>,
    ) -> Result<UnverifiedModule, Error> {
        let ask: ModuleAsk = serde_json::from_str(ask).map_err(|e| {
            Error::Package(spell_core::PackageError::Manifest(
                spell_core::ManifestError::Parse(e),
            ))
        })?;
        UnverifiedModule::asking(
            wasm,
            ask.name.as_deref().unwrap_or("module"),
            ask.entrypoint.as_deref().unwrap_or("_start"),
            ask.capabilities,
            ask.limits,
            policy,
        )
    }
}

/// What a bare module asks for, as the bindings' `load_unverified` take it: every field
/// optional, `capabilities` and `limits` as in a manifest.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModuleAsk {
    /// A name for usage records and `argv[0]` (default `module`).
    pub name: Option<String>,
    /// The export to call (default `_start`).
    pub entrypoint: Option<String>,
    /// What it asks to use (nothing by default).
    pub capabilities: spell_core::Capabilities,
    /// The limits it asks for (the policy's defaults by default).
    pub limits: spell_core::Limits,
}

impl Runtime {
    /// A runtime with the default configuration.
    pub fn new() -> Result<Runtime, Error> {
        RuntimeBuilder::new().build()
    }

    /// A builder for a configured runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    pub(crate) fn from_builder(config: RuntimeBuilder) -> Result<Runtime, Error> {
        let engine =
            Engine::new(&engine_config(&config)).map_err(|e| Error::Config(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, CastState::wasi)
            .map_err(|e| Error::Config(format!("{e:#}")))?;
        fs_guard::add_to_linker(&mut linker).map_err(|e| Error::Config(format!("{e:#}")))?;
        net::add_to_linker(&mut linker).map_err(|e| Error::Config(format!("{e:#}")))?;
        random::add_to_linker(&mut linker).map_err(|e| Error::Config(format!("{e:#}")))?;
        let mut host_functions = HashMap::new();
        for f in &config.host_functions {
            let name = f.qualified_name();
            let reason = if RESERVED_MODULES.contains(&f.module.as_str()) {
                Some(format!("module `{}` is reserved", f.module))
            } else if host_functions.insert(name.clone(), f.clone()).is_some() {
                Some("registered twice".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::HostFunction { name, reason });
            }
            f.define(&mut linker, &engine)
                .map_err(|e| Error::HostFunction {
                    name,
                    reason: format!("{e:#}"),
                })?;
        }
        let tls = net::tls_connector(&config.tls_roots)?;
        let dns = Arc::new(net::Dns::new(&config.dns_servers));
        let modules = ModuleCache::new(
            &engine,
            config.module_cache_capacity,
            config.cache_dir.as_deref(),
            config.cache_max_bytes,
        )
        .map_err(|e| Error::Config(format!("cache folder: {e}")))?;
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| Error::Config(format!("could not start the epoch ticker: {e}")))?;
        let inner = RuntimeInner {
            slots: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_casts)),
            default_meter: config.meter.clone().unwrap_or_else(|| Arc::new(NoMetering)),
            metrics: new_metrics(&config),
            grow_bounds: (
                config.max_memory_bytes,
                if config.pooling {
                    POOL_TABLE_ELEMENTS
                } else {
                    u64::from(u32::MAX)
                },
            ),
            engine,
            linker,
            component_linker: OnceLock::new(),
            tls,
            dns,
            config,
            modules,
            host_functions,
            verifiers: Mutex::new(lru(VERIFIER_CACHE_CAPACITY)),
            signatures: Mutex::new(lru(VERDICT_CACHE_CAPACITY)),
            verdicts: Mutex::new(lru(VERDICT_CACHE_CAPACITY)),
            verdict_hits: AtomicU64::new(0),
            verdict_misses: AtomicU64::new(0),
            loaded: Mutex::default(),
            rescans: Mutex::default(),
            ticker,
            reaper: Reaper::default(),
        };
        Ok(Runtime {
            inner: Arc::new(inner),
        })
    }

    /// Counters of the module cache.
    pub fn stats(&self) -> CacheStats {
        self.inner.modules.stats()
    }

    /// Whether the AOT cache folder ([`RuntimeBuilder::cache_dir`]) can still take compiled
    /// modules, for a host's readiness check: a folder removed behind the runtime's back is made
    /// again (with its key), then a probe file is written and removed there. `Ok` without a
    /// folder. The runtime keeps working when this fails (artifacts are not written, so a
    /// restarted process compiles again), hence a check rather than an error on load.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let runtime = spell_runtime::Runtime::builder().cache_dir(dir.path()).build()?;
    /// runtime.check_cache()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_cache(&self) -> std::io::Result<()> {
        self.inner.modules.check()
    }

    /// The runtime's metrics in the Prometheus text format (version 0.0.4), for a host to serve
    /// on its `/metrics`: casts by spell and outcome, refusals by code, histograms of wall and
    /// CPU time, fuel, memory peak and network bytes, casts in flight, queue wait, and the module
    /// and verdict caches (listed in the repository README's Observability section). Only the
    /// cache counters when the builder turned metrics off.
    ///
    /// ```
    /// let runtime = spell_runtime::Runtime::new()?;
    /// assert!(runtime.metrics().contains("# TYPE spell_casts_in_flight gauge"));
    /// # Ok::<(), spell_runtime::Error>(())
    /// ```
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> String {
        let caches = crate::metrics::CacheCounts {
            modules: self.stats(),
            verdict_hits: self.inner.verdict_hits.load(Ordering::Relaxed),
            verdict_misses: self.inner.verdict_misses.load(Ordering::Relaxed),
        };
        match &self.inner.metrics {
            Some(m) => m.encode(caches),
            None => Metrics::new().encode(caches),
        }
    }

    /// Counts a refusal of `stage` (`load`, `cast`) in the metrics.
    pub(crate) fn counted<T>(&self, stage: &'static str, r: Result<T, Error>) -> Result<T, Error> {
        if let (Err(e), Some(m)) = (&r, &self.inner.metrics) {
            m.refused(stage, e.code());
        }
        r
    }

    /// Loads a `.spell` package through the whole verified-loading pipeline.
    pub fn load(&self, package: &[u8], policy: &Policy) -> Result<Spell, Error> {
        let span = tracing::info_span!(
            "load",
            spell = tracing::field::Empty,
            version = tracing::field::Empty
        );
        let _entered = span.enter();
        let loaded = self.load_package(package, policy, &span);
        if let Err(e) = &loaded {
            tracing::info!(code = e.code().code(), "load refused: {e}");
        }
        self.counted("load", loaded)
    }

    fn load_package(
        &self,
        package: &[u8],
        policy: &Policy,
        span: &tracing::Span,
    ) -> Result<Spell, Error> {
        let mut package =
            tracing::info_span!("read").in_scope(|| Package::read(package, &policy.package))?;
        span.record("spell", package.manifest.name.as_str());
        span.record(
            "version",
            tracing::field::display(&package.manifest.version),
        );
        let (verification, grant, key, sbom) = self.check(&package, policy)?;
        // The module goes to the compiler, the rest of the package to rescans.
        let wasm = std::mem::take(&mut package.module);
        let m = &package.manifest;
        let entrypoint = m.entrypoint.clone();
        let source = ModuleSource {
            digest: key.0,
            name: m.name.clone(),
            version: m.version.to_string(),
            wasm: &wasm,
            module_digest: m.module.sha256,
            kind: m.module.kind,
            entrypoint: &entrypoint,
        };
        let standing = Standing::new(package, sbom, key, verification.warnings.clone());
        let spell = self.prepare(
            source,
            grant,
            policy.network.clone(),
            Some((verification, standing)),
        )?;
        lock(&self.inner.loaded).add(&spell.inner);
        Ok(spell)
    }

    /// Checks a `.spell` package exactly as [`Runtime::load`] does (archive, manifest, digests,
    /// signature and signer rule, SBOM rules, grant), with the same verdict cache, but does not
    /// compile it: what a host shows before it decides to install a spell.
    ///
    /// ```
    /// # let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    /// let package = std::fs::read(format!("{examples}/hello/hello.spell"))?;
    /// let policy = spell_core::Policy::from_file(format!("{examples}/policy.toml").as_ref())?;
    /// let runtime = spell_runtime::Runtime::new()?;
    /// let verified = runtime.verify(&package, &policy)?;
    /// assert_eq!(verified.name, "hello");
    /// assert_eq!(verified.verification.signer.expect("signed").rule, "spell-examples");
    /// assert_eq!(verified.grant.env, ["HELLO_NAME"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, package: &[u8], policy: &Policy) -> Result<Verified, Error> {
        let _span = tracing::info_span!("verify_package").entered();
        let checked = Package::read(package, &policy.package)
            .map_err(Error::from)
            .and_then(|package| {
                let (verification, grant, _, _) = self.check(&package, policy)?;
                Ok(Verified {
                    name: package.manifest.name.clone(),
                    version: package.manifest.version.to_string(),
                    digest: package.digest(),
                    verification,
                    grant,
                })
            });
        self.counted("verify", checked)
    }

    /// The signature, SBOM and grant checks of a read package.
    fn check(
        &self,
        package: &Package,
        policy: &Policy,
    ) -> Result<(Verification, Grant, VerdictKey, SbomSlot), Error> {
        let verifier = self.verifier(policy)?;
        let key = verdict_key(package, &verifier);
        let sbom = SbomSlot::default();
        let verification = self.verify_with(package, &sbom, &verifier, key)?;
        let grant = tracing::info_span!("grant").in_scope(|| policy.grant(&package.manifest))?;
        Ok((verification, grant, key, sbom))
    }

    /// Loads a bare module without package, signature or SBOM checks. The caller vouches for
    /// it and states its grant and module size cap explicitly.
    pub fn load_unverified(&self, wasm: &[u8], module: UnverifiedModule) -> Result<Spell, Error> {
        let _span = tracing::info_span!("load", spell = %module.name, verified = false).entered();
        let loaded = self.load_module(wasm, module);
        self.counted("load", loaded)
    }

    fn load_module(&self, wasm: &[u8], module: UnverifiedModule) -> Result<Spell, Error> {
        let max = module.max_module_bytes;
        if wasm.len() as u64 > max {
            return Err(Error::ModuleTooLarge {
                size: wasm.len() as u64,
                max,
            });
        }
        let digest = Sha256Digest::of(wasm);
        let source = ModuleSource {
            digest,
            name: module.name,
            version: "0.0.0".into(),
            wasm,
            module_digest: digest,
            // No manifest states it: the header decides (bytes that are no WebAssembly fail
            // to compile either way).
            kind: ModuleKind::detect(wasm).unwrap_or_default(),
            entrypoint: &module.entrypoint,
        };
        self.prepare(source, module.grant, NetworkPolicy::default(), None)
    }

    /// The verifier of `policy`, built again when the files it read changed on disk.
    pub(crate) fn verifier(&self, policy: &Policy) -> Result<Arc<PolicyVerifier>, Error> {
        let digest = policy.digest();
        let cached = lock(&self.inner.verifiers).get(&digest).cloned();
        if let Some(v) = cached.filter(|v| !v.inputs_changed()) {
            return Ok(v);
        }
        let v = Arc::new(PolicyVerifier::new(policy)?);
        lock(&self.inner.verifiers).put(digest, v.clone());
        Ok(v)
    }

    /// The verdict for `key` (from [`verdict_key`]): cached, or the signature check (cached by
    /// the trust digest) completed by the SBOM stages (on the SBOM `sbom` holds or reads).
    pub(crate) fn verify_with(
        &self,
        package: &Package,
        sbom: &SbomSlot,
        verifier: &PolicyVerifier,
        key: VerdictKey,
    ) -> Result<Verification, Error> {
        let span = tracing::info_span!("verify", cached = tracing::field::Empty);
        let _entered = span.enter();
        if let Some(v) = lock(&self.inner.verdicts).get(&key) {
            self.inner.verdict_hits.fetch_add(1, Ordering::Relaxed);
            span.record("cached", true);
            return Ok(v.clone());
        }
        self.inner.verdict_misses.fetch_add(1, Ordering::Relaxed);
        span.record("cached", false);
        let signature_key = (key.0, key.1, key.2);
        let cached = lock(&self.inner.signatures).get(&signature_key).cloned();
        let signature = match cached {
            Some(s) => s,
            None => {
                let s = tracing::info_span!("signature")
                    .in_scope(|| verifier.verify_signature(package))?;
                lock(&self.inner.signatures).put(signature_key, s.clone());
                s
            }
        };
        let verification = tracing::info_span!("sbom").in_scope(|| {
            Ok::<_, Error>(verifier.verify_contents(package, signature, sbom.get(package)?)?)
        })?;
        lock(&self.inner.verdicts).put(key, verification.clone());
        Ok(verification)
    }

    fn prepare(
        &self,
        source: ModuleSource<'_>,
        grant: Grant,
        network: NetworkPolicy,
        verified: Option<(Verification, Standing)>,
    ) -> Result<Spell, Error> {
        let inner = &self.inner;
        let (verification, standing) = verified.map_or((None, None), |(v, s)| (Some(v), Some(s)));
        let compiled_before = inner.modules.stats().compiled;
        let compile = tracing::info_span!("compile", cache_hit = tracing::field::Empty);
        let compiled = compile.in_scope(|| {
            inner.modules.get(
                &inner.engine,
                source.module_digest,
                source.wasm,
                source.kind,
                &inner.config.compile_budget,
            )
        })?;
        // Approximate under concurrent loads, exact for one: a span field, not a metric.
        compile.record(
            "cache_hit",
            inner.modules.stats().compiled == compiled_before,
        );
        let (pre, imports_wasi) = tracing::info_span!("link").in_scope(|| match &compiled {
            Compiled::Module(module) => {
                self.check_imports(module, &grant)?;
                check_entrypoint(module, source.entrypoint)?;
                let pre = inner
                    .linker
                    .instantiate_pre(module)
                    .map_err(|e| Error::ImportNotGranted(vec![format!("{e:#}")]))?;
                let imports_wasi = module
                    .imports()
                    .any(|i| i.module() == "wasi_snapshot_preview1");
                Ok::<_, Error>((SpellPre::Module(pre), imports_wasi))
            }
            Compiled::Component(component) => {
                // A host function import: granted, and of the registered signature.
                let host = |name: &str, ty: &ComponentFunc| {
                    self.granted_host_function(&grant, name)
                        .is_some_and(|f| f.fits(ty))
                };
                let pre = crate::component::prepare(
                    self.component_linker()?,
                    component,
                    source.entrypoint,
                    !grant.network.is_empty(),
                    inner.config.wasi_p3,
                    &host,
                )?;
                Ok((SpellPre::Component(Box::new(pre)), true))
            }
        })?;
        let metrics = inner
            .metrics
            .as_ref()
            .map(|m| m.spell(&source.name, &source.version));
        Ok(Spell {
            inner: Arc::new(SpellInner {
                runtime: self.clone(),
                digest: source.digest,
                digest_hex: source.digest.to_hex(),
                name: source.name,
                version: source.version,
                entrypoint: source.entrypoint.to_string(),
                imports_wasi,
                net: Arc::new(NetGrant {
                    patterns: grant.network.clone(),
                    allow_addresses: network.allow_addresses,
                    tls: inner.tls.clone(),
                    dns: inner.dns.clone(),
                    propagate_trace: network.propagate_trace_context,
                }),
                metrics,
                grant,
                verification,
                standing,
                pre,
            }),
        })
    }

    fn component_linker(&self) -> Result<&wasmtime::component::Linker<CastState>, Error> {
        let inner = &self.inner;
        let made = inner.component_linker.get_or_init(|| {
            let mut linker = crate::component::linker(&inner.engine, inner.config.wasi_p3)
                .map_err(|e| Error::Config(format!("{e:#}")))?;
            for f in inner.host_functions.values() {
                f.define_component(&mut linker)
                    .map_err(|e| Error::HostFunction {
                        name: f.qualified_name(),
                        reason: format!("{e:#}"),
                    })?;
            }
            Ok(linker)
        });
        // The error is kept for every later load; each gets its own copy.
        made.as_ref()
            .map_err(|e| Error::Config(format!("the component linker: {e}")))
    }

    /// The registered host function `module::name`, if `grant` allows it.
    fn granted_host_function(&self, grant: &Grant, name: &str) -> Option<&HostFunction> {
        let granted = grant.host_functions.iter().any(|p| name_matches(p, name));
        granted
            .then(|| self.inner.host_functions.get(name))
            .flatten()
    }

    /// Every import must be WASI (checked by the linker) or a registered, granted host function.
    fn check_imports(&self, module: &Module, grant: &Grant) -> Result<(), Error> {
        let mut refused = Vec::new();
        for import in module.imports() {
            let name = format!("{}::{}", import.module(), import.name());
            let ok = match import.ty() {
                ExternType::Func(_) if import.module() == "wasi_snapshot_preview1" => true,
                ExternType::Func(_) if import.module() == net::MODULE => {
                    !grant.network.is_empty() && net::IMPORTS.contains(&import.name())
                }
                ExternType::Func(_) => self.granted_host_function(grant, &name).is_some(),
                _ => false,
            };
            if !ok {
                refused.push(name);
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Error::ImportNotGranted(refused))
        }
    }
}

/// What a spell is made from: its identity and its module.
struct ModuleSource<'a> {
    digest: Sha256Digest,
    name: String,
    version: String,
    wasm: &'a [u8],
    module_digest: Sha256Digest,
    kind: ModuleKind,
    entrypoint: &'a str,
}

fn check_entrypoint(module: &Module, name: &str) -> Result<(), Error> {
    let err = |reason| {
        Err(Error::Entrypoint {
            name: name.to_string(),
            reason,
        })
    };
    match module.get_export(name) {
        Some(ExternType::Func(f)) if f.params().len() == 0 => Ok(()),
        Some(ExternType::Func(_)) => err("takes parameters"),
        Some(_) => err("is not a function"),
        None => err("is not exported"),
    }
}

#[cfg(feature = "metrics")]
fn new_metrics(config: &RuntimeBuilder) -> Option<Metrics> {
    config.metrics.then(Metrics::new)
}

#[cfg(not(feature = "metrics"))]
fn new_metrics(_: &RuntimeBuilder) -> Option<Metrics> {
    None
}

fn engine_config(b: &RuntimeBuilder) -> Config {
    let mut c = Config::new();
    c.consume_fuel(b.metering == Metering::Fuel);
    c.epoch_interruption(true);
    // The async ABI and the store's concurrent state only for a runtime that casts WASI
    // preview 3: wasmtime would otherwise turn them on for every store.
    c.concurrency_support(b.wasi_p3);
    if b.pooling {
        let n = u32::try_from(b.max_concurrent_casts).unwrap_or(u32::MAX);
        // A cast runs on one fiber, except a preview 3 one (`component_instances`).
        let stacks = match b.wasi_p3 {
            true => crate::component_instances::STACKS_PER_CAST,
            false => 1,
        };
        let mut p = PoolingAllocationConfig::default();
        p.total_core_instances(n.saturating_mul(POOL_CORE_INSTANCES_PER_CAST))
            .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_CAST)
            .total_component_instances(n)
            .total_memories(n.saturating_mul(POOL_MEMORIES_PER_CAST))
            .max_memories_per_component(POOL_MEMORIES_PER_CAST)
            .total_tables(n.saturating_mul(POOL_TABLES_PER_CAST))
            .max_tables_per_component(POOL_TABLES_PER_CAST)
            .total_stacks(n.saturating_mul(stacks))
            .max_memory_size(usize::try_from(b.max_memory_bytes).unwrap_or(usize::MAX))
            .table_elements(POOL_TABLE_ELEMENTS as usize)
            // Reset the first pages of a freed slot's memory and table with memset instead of
            // madvise: the system call per cast serialized threads on the process's memory map
            // (WASI hello: 2.3x the casts per second on one thread, and two threads now scale).
            .linear_memory_keep_resident(RESIDENT_RESET_BYTES)
            .table_keep_resident(RESIDENT_RESET_BYTES);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

fn lru<K: std::hash::Hash + Eq, V>(capacity: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
