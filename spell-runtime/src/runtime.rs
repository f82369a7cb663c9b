//! The [`Runtime`]: one wasmtime engine, the WASI linker, caches, and the verified-loading
//! pipeline.
//!
//! Loading, in order: read the package (size caps, member rules, pins) → verify signature and
//! SBOM against the policy (verdicts cached by package, policy sections and the contents of the
//! files the verifier read; see [`crate::rescan`]) → intersect requested
//! capabilities with the policy → compile or fetch from cache → check every import is WASI or a
//! granted host function → check the entrypoint → pre-instantiate.

use crate::cache::{CacheStats, ModuleCache};
use crate::cast::CastState;
use crate::config::{Metering, RuntimeBuilder};
use crate::error::Error;
use crate::fs_guard;
use crate::host::RESERVED_MODULES;
use crate::metering::{MeteringHook, NoMetering};
use crate::net::{self, NetGrant};
use crate::random;
use crate::rescan::{Registry, SbomSlot, Standing, verdict_key};
use crate::spell::{Spell, SpellInner};
use crate::ticker::Ticker;
use lru::LruCache;
use spell_core::capability::name_matches;
use spell_core::{AddressRange, Grant, Package, Policy, Sha256Digest};
use spell_verify::{PolicyVerifier, SignatureCheck, Verification};
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tokio_rustls::TlsConnector;
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};

/// Bytes of each pooled memory and table slot reset in place (kept resident) when a cast ends.
const RESIDENT_RESET_BYTES: usize = 64 << 10;

/// Elements a table may have with the pooling allocator (its slots are sized for this many).
const POOL_TABLE_ELEMENTS: u64 = 20_000;

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
    host_names: HashSet<String>,
    /// By policy digest; replaced when the files one read change.
    verifiers: Mutex<LruCache<Sha256Digest, Arc<PolicyVerifier>>>,
    signatures: Mutex<LruCache<SignatureKey, SignatureCheck>>,
    verdicts: Mutex<LruCache<VerdictKey, Verification>>,
    /// Verified spells, for rescans.
    pub(crate) loaded: Mutex<Registry>,
    pub(crate) rescans: Mutex<()>,
    pub(crate) ticker: Ticker,
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
    /// The largest module to load (a package's default: [`spell_core::DEFAULT_MAX_MODULE_BYTES`]).
    pub max_module_bytes: u64,
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
        let mut host_names = HashSet::new();
        for f in &config.host_functions {
            let name = f.qualified_name();
            let reason = if RESERVED_MODULES.contains(&f.module.as_str()) {
                Some(format!("module `{}` is reserved", f.module))
            } else if !host_names.insert(name.clone()) {
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
        let dns = net::Dns::new(&config.dns_servers)
            .map(Arc::new)
            .map_err(|e| Error::Config(format!("could not start the DNS resolver: {e}")))?;
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
            tls,
            dns,
            config,
            modules,
            host_names,
            verifiers: Mutex::new(lru(VERIFIER_CACHE_CAPACITY)),
            signatures: Mutex::new(lru(VERDICT_CACHE_CAPACITY)),
            verdicts: Mutex::new(lru(VERDICT_CACHE_CAPACITY)),
            loaded: Mutex::default(),
            rescans: Mutex::default(),
            ticker,
        };
        Ok(Runtime {
            inner: Arc::new(inner),
        })
    }

    /// Counters of the module cache.
    pub fn stats(&self) -> CacheStats {
        self.inner.modules.stats()
    }

    /// Loads a `.spell` package through the whole verified-loading pipeline.
    pub fn load(&self, package: &[u8], policy: &Policy) -> Result<Spell, Error> {
        let mut package = Package::read(package, &policy.package)?;
        let verifier = self.verifier(policy)?;
        let key = verdict_key(&package, &verifier);
        let sbom = SbomSlot::default();
        let verification = self.verify_with(&package, &sbom, &verifier, key)?;
        let grant = policy.grant(&package.manifest)?;
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
            entrypoint: &entrypoint,
        };
        let standing = Standing::new(package, sbom, key, verification.warnings.clone());
        let spell = self.prepare(
            source,
            grant,
            policy.network.allow_addresses.clone(),
            Some((verification, standing)),
        )?;
        lock(&self.inner.loaded).add(&spell.inner);
        Ok(spell)
    }

    /// Loads a bare module without package, signature or SBOM checks. The caller vouches for
    /// it and states its grant and module size cap explicitly.
    pub fn load_unverified(&self, wasm: &[u8], module: UnverifiedModule) -> Result<Spell, Error> {
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
            entrypoint: &module.entrypoint,
        };
        self.prepare(source, module.grant, Vec::new(), None)
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
        if let Some(v) = lock(&self.inner.verdicts).get(&key) {
            return Ok(v.clone());
        }
        let signature_key = (key.0, key.1, key.2);
        let cached = lock(&self.inner.signatures).get(&signature_key).cloned();
        let signature = match cached {
            Some(s) => s,
            None => {
                let s = verifier.verify_signature(package)?;
                lock(&self.inner.signatures).put(signature_key, s.clone());
                s
            }
        };
        let verification = verifier.verify_contents(package, signature, sbom.get(package)?)?;
        lock(&self.inner.verdicts).put(key, verification.clone());
        Ok(verification)
    }

    fn prepare(
        &self,
        source: ModuleSource<'_>,
        grant: Grant,
        allow_addresses: Vec<AddressRange>,
        verified: Option<(Verification, Standing)>,
    ) -> Result<Spell, Error> {
        let inner = &self.inner;
        let (verification, standing) = verified.map_or((None, None), |(v, s)| (Some(v), Some(s)));
        let module = inner.modules.get(
            &inner.engine,
            source.module_digest,
            source.wasm,
            &inner.config.compile_budget,
        )?;
        self.check_imports(&module, &grant)?;
        check_entrypoint(&module, source.entrypoint)?;
        let pre = inner
            .linker
            .instantiate_pre(&module)
            .map_err(|e| Error::ImportNotGranted(vec![format!("{e:#}")]))?;
        Ok(Spell {
            inner: Arc::new(SpellInner {
                runtime: self.clone(),
                digest: source.digest,
                digest_hex: source.digest.to_hex(),
                name: source.name,
                version: source.version,
                entrypoint: source.entrypoint.to_string(),
                imports_wasi: module
                    .imports()
                    .any(|i| i.module() == "wasi_snapshot_preview1"),
                net: Arc::new(NetGrant {
                    patterns: grant.network.clone(),
                    allow_addresses,
                    tls: inner.tls.clone(),
                    dns: inner.dns.clone(),
                }),
                grant,
                verification,
                standing,
                pre,
            }),
        })
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
                ExternType::Func(_) => {
                    self.inner.host_names.contains(&name)
                        && grant.host_functions.iter().any(|p| name_matches(p, &name))
                }
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

fn engine_config(b: &RuntimeBuilder) -> Config {
    let mut c = Config::new();
    c.consume_fuel(b.metering == Metering::Fuel);
    c.epoch_interruption(true);
    if b.pooling {
        let n = u32::try_from(b.max_concurrent_casts).unwrap_or(u32::MAX);
        let mut p = PoolingAllocationConfig::default();
        p.total_core_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memory_size(usize::try_from(b.max_memory_bytes).unwrap_or(usize::MAX))
            .table_elements(POOL_TABLE_ELEMENTS as usize)
            // Reset the first 64 KiB of a freed slot's memory and table with memset instead of
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
