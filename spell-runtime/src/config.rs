//! Runtime configuration: [`RuntimeBuilder`] and its defaults.

use crate::compile::CompileBudget;
use crate::host::HostFunction;
use crate::metering::MeteringHook;
use crate::runtime::Runtime;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Default cap on casts running at once (and pooling allocator slots): 256.
pub const DEFAULT_MAX_CONCURRENT_CASTS: usize = 256;
/// Default time a cast waits for a free slot before failing with `busy`: 1 s.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default number of compiled modules kept in memory: 64.
pub const DEFAULT_MODULE_CACHE_CAPACITY: usize = 64;
/// Default bound on an AOT cache folder: 1 GiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 1 << 30;
/// Default epoch tick: 1 ms. Timeouts and cancellation take effect within about one tick.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(1);
/// Default largest linear memory the engine supports: 4 GiB (the wasm32 maximum).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 4 << 30;

/// How CPU use is measured and capped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Metering {
    /// Fuel: deterministic (the same cast with the same input consumes the same fuel), what
    /// billing wants; costs CPU on tight loops. The default.
    #[default]
    Fuel,
    /// No fuel: only wall time, CPU time and epoch interruption. Cheaper on CPU-bound guests;
    /// `fuel` limits are not enforced and usage records carry no fuel.
    Time,
}

/// Builds a [`Runtime`]. Secure defaults: no host functions, no disk cache, fuel metering, the
/// pooling allocator, [`DEFAULT_MAX_CONCURRENT_CASTS`] casts at once.
///
/// ```
/// use spell_runtime::{Metering, RuntimeBuilder};
/// let runtime = RuntimeBuilder::new().max_concurrent_casts(8).metering(Metering::Fuel).build().unwrap();
/// assert_eq!(runtime.stats().compiled, 0);
/// ```
#[derive(Clone)]
pub struct RuntimeBuilder {
    pub(crate) pooling: bool,
    pub(crate) max_concurrent_casts: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) module_cache_capacity: usize,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) cache_max_bytes: u64,
    pub(crate) epoch_tick: Duration,
    pub(crate) max_memory_bytes: u64,
    pub(crate) metering: Metering,
    pub(crate) host_functions: Vec<HostFunction>,
    pub(crate) meter: Option<Arc<dyn MeteringHook>>,
    pub(crate) tls_roots: Vec<Vec<u8>>,
    pub(crate) compile_budget: CompileBudget,
    pub(crate) dns_servers: Vec<SocketAddr>,
    pub(crate) wasi_p3: bool,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            pooling: true,
            max_concurrent_casts: DEFAULT_MAX_CONCURRENT_CASTS,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            module_cache_capacity: DEFAULT_MODULE_CACHE_CAPACITY,
            cache_dir: None,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            epoch_tick: DEFAULT_EPOCH_TICK,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            metering: Metering::Fuel,
            host_functions: Vec::new(),
            meter: None,
            tls_roots: Vec::new(),
            compile_budget: CompileBudget::default(),
            dns_servers: Vec::new(),
            wasi_p3: false,
            #[cfg(feature = "metrics")]
            metrics: true,
        }
    }
}

impl RuntimeBuilder {
    /// A builder with the defaults.
    pub fn new() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Use wasmtime's pooling allocator (default `true`): instance, memory and stack slots are
    /// reserved up front for `max_concurrent_casts` casts, which makes warm casts several times
    /// cheaper. Turn off to run very many casts with little memory each.
    pub fn pooling(mut self, on: bool) -> Self {
        self.pooling = on;
        self
    }

    /// At most this many casts run at once (default [`DEFAULT_MAX_CONCURRENT_CASTS`]); further
    /// casts wait up to the queue timeout, then fail with `busy`.
    pub fn max_concurrent_casts(mut self, n: usize) -> Self {
        self.max_concurrent_casts = n.max(1);
        self
    }

    /// How long a cast waits for a slot (default [`DEFAULT_QUEUE_TIMEOUT`]).
    pub fn queue_timeout(mut self, t: Duration) -> Self {
        self.queue_timeout = t;
        self
    }

    /// Compiled modules kept in memory (default [`DEFAULT_MODULE_CACHE_CAPACITY`]).
    pub fn module_cache_capacity(mut self, n: usize) -> Self {
        self.module_cache_capacity = n;
        self
    }

    /// Keep authenticated AOT artifacts in this folder (default: none, compile per process).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The most bytes of artifacts the cache folder keeps (default [`DEFAULT_CACHE_MAX_BYTES`]);
    /// the least recently used go first.
    pub fn cache_max_bytes(mut self, bytes: u64) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// The epoch tick (default [`DEFAULT_EPOCH_TICK`]); bounds how late a timeout or a
    /// cancellation takes effect.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_micros(100));
        self
    }

    /// The largest linear memory any spell may have (default [`DEFAULT_MAX_MEMORY_BYTES`]);
    /// sizes the pooling allocator's memory slots. Policies cap memory per spell below it.
    pub fn max_memory_bytes(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// How CPU is metered (default [`Metering::Fuel`]).
    pub fn metering(mut self, m: Metering) -> Self {
        self.metering = m;
        self
    }

    /// Offer a host function to spells the policy grants it to.
    pub fn host_function(mut self, f: HostFunction) -> Self {
        self.host_functions.push(f);
        self
    }

    /// The metering hook for casts whose request names none (default: none).
    pub fn meter(mut self, hook: Arc<dyn MeteringHook>) -> Self {
        self.meter = Some(hook);
        self
    }

    /// Also trust this CA certificate (DER) for spells' HTTPS requests, besides Mozilla's roots
    /// (`webpki-roots`): a private deployment's internal CA. [`RuntimeBuilder::build`] refuses
    /// a certificate rustls cannot use as a trust anchor.
    ///
    /// ```no_run
    /// let ca = std::fs::read("/etc/acme/internal-ca.der")?;
    /// let runtime = spell_runtime::Runtime::builder().tls_root_certificate(ca).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls_roots.push(der.into());
        self
    }

    /// How costly a module may be to compile (default [`CompileBudget::default`]): modules over
    /// it are refused at load with `E-MOD-005` before the compiler runs.
    pub fn compile_budget(mut self, budget: CompileBudget) -> Self {
        self.compile_budget = budget;
        self
    }

    /// Resolve the names in spells' requests with these DNS servers (plain DNS: UDP, then TCP
    /// for truncated answers) instead of the system's (`/etc/resolv.conf`, the default): the
    /// host's own resolver, say one that filters names. `/etc/hosts` is read either way, so
    /// `localhost` resolves. Each server is tried in turn; the SSRF guard checks whatever they
    /// answer. An empty list means the system's servers.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// let resolver: SocketAddr = "127.0.0.1:5353".parse()?;
    /// let runtime = spell_runtime::Runtime::builder().dns_servers(vec![resolver]).build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dns_servers(mut self, servers: Vec<SocketAddr>) -> Self {
        self.dns_servers = servers;
        self
    }

    /// Cast WASI preview 3 components (`wasi:cli@0.3` commands, built on the component model's
    /// async ABI) with wasmtime-wasi's experimental preview 3 (default `false`). wasmtime ships
    /// it as unstable, without security patch releases of its own, so it stays off unless a host
    /// asks; off, such a component is refused at load (`E-MOD-002`, naming this option). On, the
    /// pool reserves 18 fiber stacks per concurrent cast (a blocked task keeps one) and a
    /// component making more than 16 component instances is refused at load (`E-MOD-002`).
    /// What works and what does not is listed in the README's "Components" section.
    ///
    /// ```
    /// let runtime = spell_runtime::Runtime::builder().wasi_p3(true).build()?;
    /// # Ok::<(), spell_runtime::Error>(())
    /// ```
    pub fn wasi_p3(mut self, on: bool) -> Self {
        self.wasi_p3 = on;
        self
    }

    /// Keep Prometheus metrics of casts, refusals and caches for [`Runtime::metrics`] (default
    /// `true`; cargo feature `metrics`). Off, casts skip the few counter updates they cost.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Builds the runtime: the engine, the WASI linker, the caches and the epoch ticker.
    pub fn build(self) -> Result<Runtime, crate::Error> {
        Runtime::from_builder(self)
    }
}
