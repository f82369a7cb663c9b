//! Compiled-module cache: in memory by module sha256 (bounded LRU), and optionally on disk as
//! ahead-of-time artifacts. Core modules and components alike: the module's bytes (hence its
//! sha256) decide its kind.
//!
//! Loading an artifact with `Module::deserialize` (or `Component::deserialize`) is as trusting as running native code, so the
//! disk cache only loads artifacts this cache wrote: each file carries a keyed BLAKE3 MAC under a
//! 32-byte secret created with the cache folder (`cache.key`, mode 0600). A file whose MAC does
//! not match, that is truncated, or that this engine cannot load is ignored and the module is
//! compiled again (and the file rewritten). Gap: anyone who can read `cache.key` can forge
//! artifacts; keep the folder private to the service's user.
//!
//! Processes may share a folder: files are written to a temporary name and renamed, so a reader
//! sees a whole artifact or none, and a torn or foreign file fails its MAC and is recompiled. The
//! folder is kept under a size bound: after each write the least recently used artifacts (a hit
//! refreshes a file's modification time) are removed until the rest fit.

use crate::compile::{self, CompileBudget};
use crate::error::Error;
use crate::runtime::lock;
use lru::LruCache;
use spell_core::{ModuleKind, Sha256Digest};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 8] = b"SPELLAOT";
const KEY_FILE: &str = "cache.key";
const ARTIFACT_EXTENSION: &str = "cwasm";

/// What an AOT cache folder holds: see [`cache_usage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Compiled artifacts in the folder.
    pub artifacts: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// The artifacts in an AOT cache folder (`RuntimeBuilder::cache_dir`) and their size.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert_eq!(spell_runtime::cache_usage(dir.path())?.artifacts, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cache_usage(dir: &Path) -> std::io::Result<CacheUsage> {
    let mut usage = CacheUsage::default();
    for (_, size, _) in artifacts(dir)? {
        usage.artifacts += 1;
        usage.bytes += size;
    }
    Ok(usage)
}

/// Removes every artifact of an AOT cache folder (the key stays); returns what was removed.
pub fn clear_cache(dir: &Path) -> std::io::Result<CacheUsage> {
    let mut removed = CacheUsage::default();
    for (path, size, _) in artifacts(dir)? {
        // Another process may have removed it first.
        if std::fs::remove_file(&path).is_ok() {
            removed.artifacts += 1;
            removed.bytes += size;
        }
    }
    Ok(removed)
}

/// The artifacts of a folder: path, size, last use.
fn artifacts(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64, std::time::SystemTime)>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    Ok(entries
        .flatten()
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == ARTIFACT_EXTENSION)
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.len(), meta.modified().ok()?))
        })
        .collect())
}

/// Counters of the module cache, for hosts and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Modules compiled from WebAssembly.
    pub compiled: u64,
    /// Loads served from memory.
    pub memory_hits: u64,
    /// Loads served from an on-disk artifact.
    pub disk_hits: u64,
    /// On-disk artifacts refused (bad MAC, corrupt, incompatible) and recompiled.
    pub disk_rejected: u64,
}

/// A compiled core module or component.
#[derive(Clone)]
pub(crate) enum Compiled {
    Module(Module),
    Component(Component),
}

impl Compiled {
    fn compile(engine: &Engine, kind: ModuleKind, wasm: &[u8]) -> wasmtime::Result<Compiled> {
        Ok(match kind {
            ModuleKind::Core => Compiled::Module(Module::new(engine, wasm)?),
            ModuleKind::Component => Compiled::Component(Component::new(engine, wasm)?),
        })
    }

    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        match self {
            Compiled::Module(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        }
    }
}

pub(crate) struct ModuleCache {
    memory: Mutex<LruCache<Sha256Digest, Compiled>>,
    /// The modules being read from disk or compiled, each with the lock its loaders take turns
    /// on: of a burst of loads of one new module (a service worker's first batch for a new
    /// spell) one compiles and the others take the result from memory. Each compile takes every
    /// core and, for a large module, gigabytes.
    loading: Mutex<HashMap<Sha256Digest, Arc<Mutex<()>>>>,
    disk: Option<DiskCache>,
    compiled: AtomicU64,
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    disk_rejected: AtomicU64,
}

struct DiskCache {
    dir: PathBuf,
    key: [u8; 32],
    engine_tag: String,
    max_bytes: u64,
}

impl ModuleCache {
    pub(crate) fn new(
        engine: &Engine,
        capacity: usize,
        dir: Option<&Path>,
        max_disk_bytes: u64,
    ) -> std::io::Result<ModuleCache> {
        let disk = dir
            .map(|d| DiskCache::open(engine, d, max_disk_bytes))
            .transpose()?;
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Ok(ModuleCache {
            memory: Mutex::new(LruCache::new(capacity)),
            loading: Mutex::default(),
            disk,
            compiled: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            disk_rejected: AtomicU64::new(0),
        })
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            disk_rejected: self.disk_rejected.load(Ordering::Relaxed),
        }
    }

    /// The compiled module or component (`kind`) for `wasm`, from memory, disk or a fresh
    /// compile. It is compiled only within `budget` (for a component: summed over its modules).
    /// Concurrent loads of one module wait for the first: it is compiled once.
    pub(crate) fn get(
        &self,
        engine: &Engine,
        digest: Sha256Digest,
        wasm: &[u8],
        kind: ModuleKind,
        budget: &CompileBudget,
    ) -> Result<Compiled, Error> {
        if let Some(m) = self.in_memory(&digest) {
            return Ok(m);
        }
        // From disk or a fresh compile, then kept in memory.
        let load = || -> Result<Compiled, Error> {
            // What an engine with the async ABI (WASI preview 3) refuses by the bytes, whether
            // the code comes from disk or the compiler; checked once, as what is in memory
            // passed it.
            if kind == ModuleKind::Component && engine.get_concurrency_support() {
                crate::component_instances::check(wasm)?;
            }
            let module = match self
                .disk
                .as_ref()
                .and_then(|d| self.load_from_disk(engine, d, digest, kind))
            {
                Some(m) => m,
                None => {
                    compile::check(wasm, budget)?;
                    let m = Compiled::compile(engine, kind, wasm).map_err(|e| {
                        Error::ModuleInvalid(match kind {
                            ModuleKind::Component => {
                                crate::component::compile_error(engine, wasm, &e)
                            }
                            ModuleKind::Core => format!("{e:#}"),
                        })
                    })?;
                    self.compiled.fetch_add(1, Ordering::Relaxed);
                    if let Some(d) = &self.disk
                        && let Err(e) = d.store(digest, &m)
                    {
                        tracing::warn!("could not write AOT artifact: {e}");
                    }
                    m
                }
            };
            self.memory().put(digest, module.clone());
            Ok(module)
        };
        let turn = lock(&self.loading).entry(digest).or_default().clone();
        let got = {
            let _turn = lock(&turn);
            // The loader before us may have put it there (after a failure, this one tries too).
            self.in_memory(&digest).map_or_else(load, Ok)
        };
        let mut loading = lock(&self.loading);
        // Clones are made under this lock: the map's and ours alone means nobody else waits.
        if Arc::strong_count(&turn) == 2 {
            loading.remove(&digest);
        }
        got
    }

    fn in_memory(&self, digest: &Sha256Digest) -> Option<Compiled> {
        let m = self.memory().get(digest)?.clone();
        self.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some(m)
    }

    fn load_from_disk(
        &self,
        engine: &Engine,
        disk: &DiskCache,
        digest: Sha256Digest,
        kind: ModuleKind,
    ) -> Option<Compiled> {
        let path = disk.path(digest);
        let bytes = std::fs::read(&path).ok()?;
        match disk.load(engine, &bytes, kind) {
            Some(m) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                // The modification time is the last use, for eviction.
                let _ = std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(m)
            }
            None => {
                self.disk_rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Whether the disk cache (if any) can take artifacts: see [`crate::Runtime::check_cache`].
    pub(crate) fn check(&self) -> std::io::Result<()> {
        self.disk.as_ref().map_or(Ok(()), DiskCache::check)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, LruCache<Sha256Digest, Compiled>> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DiskCache {
    fn open(engine: &Engine, dir: &Path, max_bytes: u64) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        let key_path = dir.join(KEY_FILE);
        let read_key = || {
            std::fs::read(&key_path)
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
        };
        let key = match read_key() {
            Some(k) => k,
            None => {
                let k: [u8; 32] = rand::random();
                write_atomically(&key_path, &k)?;
                // Two processes creating the folder at once: both use the key that stayed.
                read_key().unwrap_or(k)
            }
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            key,
            engine_tag: format!("{:016x}", h.finish()),
            max_bytes,
        })
    }

    /// Puts back a folder (and key) removed behind the cache's back, then writes and removes a
    /// probe file: a write failure here is one every artifact store would meet.
    fn check(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let key_path = self.dir.join(KEY_FILE);
        if !key_path.exists() {
            // The key this process MACs with, so other processes sharing the folder agree.
            write_atomically(&key_path, &self.key)?;
        }
        let probe = self.dir.join(format!("probe.tmp{}", rand::random::<u32>()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)?
            .write_all(MAGIC)?;
        std::fs::remove_file(&probe)
    }

    fn path(&self, digest: Sha256Digest) -> PathBuf {
        self.dir
            .join(format!("{digest}-{}.{ARTIFACT_EXTENSION}", self.engine_tag))
    }

    fn store(&self, digest: Sha256Digest, module: &Compiled) -> wasmtime::Result<()> {
        let artifact = module.serialize()?;
        let mac = blake3::keyed_hash(&self.key, &artifact);
        let mut file = Vec::with_capacity(MAGIC.len() + 32 + artifact.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(mac.as_bytes());
        file.extend_from_slice(&artifact);
        write_atomically(&self.path(digest), &file)?;
        self.evict()?;
        Ok(())
    }

    /// Removes the least recently used artifacts until the folder fits its bound.
    fn evict(&self) -> std::io::Result<()> {
        let mut all = artifacts(&self.dir)?;
        let mut total: u64 = all.iter().map(|(_, size, _)| size).sum();
        all.sort_by_key(|(_, _, used)| *used);
        for (path, size, _) in all {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
        Ok(())
    }

    fn load(&self, engine: &Engine, file: &[u8], kind: ModuleKind) -> Option<Compiled> {
        let rest = file.strip_prefix(MAGIC)?;
        let (mac, artifact) = rest.split_at_checked(32)?;
        let mac: [u8; 32] = mac.try_into().ok()?;
        // blake3::Hash compares in constant time.
        if blake3::keyed_hash(&self.key, artifact) != blake3::Hash::from(mac) {
            return None;
        }
        deserialize(engine, artifact, kind)
    }
}

#[expect(
    unsafe_code,
    reason = "Module::deserialize and Component::deserialize trust their input: only MAC-checked artifacts this cache wrote reach them"
)]
fn deserialize(engine: &Engine, artifact: &[u8], kind: ModuleKind) -> Option<Compiled> {
    // SAFETY: `artifact` passed the keyed MAC check, so this cache serialized it with
    // `Module::serialize` or `Component::serialize`; wasmtime itself still checks the engine
    // configuration matches. The artifact is of the kind asked for: the file is named by the
    // module's sha256, and the kind comes from those bytes (`spell_core::ModuleKind::detect`).
    match kind {
        ModuleKind::Core => unsafe { Module::deserialize(engine, artifact) }
            .ok()
            .map(Compiled::Module),
        ModuleKind::Component => unsafe { Component::deserialize(engine, artifact) }
            .ok()
            .map(Compiled::Component),
    }
}

/// Writes under a temporary name, then renames. No fsync: after a crash a torn file fails its
/// MAC (or a torn key makes a new one) and the module is compiled again, so durability would only
/// cost every first cast a disk flush.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    std::fs::rename(&tmp, path)
}
