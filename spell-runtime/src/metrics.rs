//! Prometheus metrics of a runtime (cargo feature `metrics`): what every cast used, what was
//! refused, and how the caches do, in the Prometheus text format (0.0.4) from
//! [`Runtime::metrics`](crate::Runtime::metrics), for a host to serve on its own `/metrics`.
//!
//! The runtime records them itself rather than through a [`MeteringHook`](crate::MeteringHook):
//! a request's own meter replaces the runtime's, and refusals, queue waits and cache lookups
//! happen where no hook looks. Names follow OpenTelemetry's FaaS semantic conventions where one
//! fits (`faas_invocations`, `faas_errors`, `faas_timeouts`, `faas_invoke_duration`,
//! `faas_cpu_usage`, `faas_mem_usage`, `faas_net_io`); the rest are `spell_*`.
//!
//! Labels are bounded: a cast's spell name and version and its outcome, a refusal's catalog
//! code, a direction. Never cast ids, tenants or URLs.
//!
//! Histograms have fixed buckets from microseconds (or a few bytes, a little fuel) to minutes
//! (gigabytes, 10^12 fuel), so both a 30 µs cast and a 30 s one land in a bucket of their size.

use crate::cache::CacheStats;
use crate::histogram::ShardedHistogram;
use crate::metering::{Outcome, UsageRecord};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::{Registry, Unit};
use spell_core::ErrorCode;
use std::sync::OnceLock;
use std::time::Duration;

/// Time buckets: 1 µs to 100 s, two per decade (1, 3.16, 10, ...).
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(1e-6, 10f64.sqrt(), 17)
}

/// Fuel buckets: 100 to 10^12, one per decade (a trivial call burns a few hundred units, the
/// default limit is 10^10).
fn fuel_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(100.0, 10.0, 11)
}

/// Memory buckets: 64 KiB (one wasm page) to 16 GiB, by fours.
fn memory_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(65536.0, 4.0, 10)
}

/// Network buckets: 64 bytes to 1 GiB, by fours.
fn net_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(64.0, 4.0, 13)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpellLabels {
    spell: String,
    version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    spell: String,
    version: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NetLabels {
    spell: String,
    version: String,
    /// OpenTelemetry's `network.io.direction`: `receive` or `transmit`.
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    /// The catalog code, `E-SIG-001` style.
    code: &'static str,
    /// `load` or `cast`.
    stage: &'static str,
}

type HistogramFamily<L> = Family<L, ShardedHistogram, fn() -> ShardedHistogram>;

/// Nanoseconds to the seconds Prometheus exposes.
const SECONDS: f64 = 1e-9;

fn seconds_histogram() -> ShardedHistogram {
    ShardedHistogram::new(seconds_buckets(), SECONDS)
}

/// The runtime's registry and the metrics in it.
pub(crate) struct Metrics {
    registry: Registry,
    invocations: Family<OutcomeLabels, Counter>,
    errors: Family<OutcomeLabels, Counter>,
    timeouts: Family<SpellLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    in_flight: Gauge,
    queue_wait: ShardedHistogram,
    duration: HistogramFamily<SpellLabels>,
    cpu: HistogramFamily<SpellLabels>,
    fuel: HistogramFamily<SpellLabels>,
    memory: HistogramFamily<SpellLabels>,
    net_io: HistogramFamily<NetLabels>,
}

/// One spell's metrics, looked up once (histograms at load, counters at an outcome's first cast)
/// so a cast updates them without building or hashing labels.
pub(crate) struct SpellMetrics {
    labels: SpellLabels,
    /// By `Outcome as usize`: the declaration order, which `Outcome::ALL` lists.
    invocations: [OnceLock<Counter>; Outcome::ALL.len()],
    errors: [OnceLock<Counter>; Outcome::ALL.len()],
    timeouts: OnceLock<Counter>,
    duration: ShardedHistogram,
    cpu: ShardedHistogram,
    fuel: ShardedHistogram,
    memory: ShardedHistogram,
    net_in: ShardedHistogram,
    net_out: ShardedHistogram,
}

/// Counts a cast in flight until dropped.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let invocations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "faas_invocations",
            "Casts that started, by spell and outcome",
            invocations.clone(),
        );
        let errors = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "faas_errors",
            "Casts that ended other than ok (exit, trap, limits, cancelled, denied)",
            errors.clone(),
        );
        let timeouts = Family::<SpellLabels, Counter>::default();
        registry.register(
            "faas_timeouts",
            "Casts ended by their wall-time limit",
            timeouts.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "spell_refusals",
            "Loads and casts refused before anything ran, by catalog code",
            refusals.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "spell_casts_in_flight",
            "Casts running now",
            in_flight.clone(),
        );
        let queue_wait = seconds_histogram();
        registry.register_with_unit(
            "spell_queue_wait",
            "Time casts waited for a free slot (max_concurrent_casts)",
            Unit::Seconds,
            queue_wait.clone(),
        );
        let duration: HistogramFamily<SpellLabels> =
            Family::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "faas_invoke_duration",
            "Wall time of casts",
            Unit::Seconds,
            duration.clone(),
        );
        let cpu: HistogramFamily<SpellLabels> = Family::new_with_constructor(seconds_histogram);
        registry.register_with_unit(
            "faas_cpu_usage",
            "CPU time of casts",
            Unit::Seconds,
            cpu.clone(),
        );
        let fuel: HistogramFamily<SpellLabels> =
            Family::new_with_constructor(|| ShardedHistogram::new(fuel_buckets(), 1.0));
        registry.register(
            "spell_fuel",
            "Fuel casts consumed (runtimes metering with fuel)",
            fuel.clone(),
        );
        let memory: HistogramFamily<SpellLabels> =
            Family::new_with_constructor(|| ShardedHistogram::new(memory_buckets(), 1.0));
        registry.register_with_unit(
            "faas_mem_usage",
            "Peak of linear memories plus tables of casts",
            Unit::Bytes,
            memory.clone(),
        );
        let net_io: HistogramFamily<NetLabels> =
            Family::new_with_constructor(|| ShardedHistogram::new(net_buckets(), 1.0));
        registry.register_with_unit(
            "faas_net_io",
            "Network bytes of casts (heads and bodies), by direction",
            Unit::Bytes,
            net_io.clone(),
        );
        Metrics {
            registry,
            invocations,
            errors,
            timeouts,
            refusals,
            in_flight,
            queue_wait,
            duration,
            cpu,
            fuel,
            memory,
            net_io,
        }
    }

    /// The histograms of a spell, created at load.
    pub(crate) fn spell(&self, name: &str, version: &str) -> SpellMetrics {
        let labels = SpellLabels {
            spell: name.to_string(),
            version: version.to_string(),
        };
        let net = |direction| NetLabels {
            spell: labels.spell.clone(),
            version: labels.version.clone(),
            direction,
        };
        SpellMetrics {
            duration: self.duration.get_or_create_owned(&labels),
            cpu: self.cpu.get_or_create_owned(&labels),
            fuel: self.fuel.get_or_create_owned(&labels),
            memory: self.memory.get_or_create_owned(&labels),
            net_in: self.net_io.get_or_create_owned(&net("receive")),
            net_out: self.net_io.get_or_create_owned(&net("transmit")),
            invocations: Default::default(),
            errors: Default::default(),
            timeouts: OnceLock::new(),
            labels,
        }
    }

    /// A load or cast refused with `code` before anything ran.
    pub(crate) fn refused(&self, stage: &'static str, code: ErrorCode) {
        self.refusals
            .get_or_create(&RefusalLabels {
                code: code.code(),
                stage,
            })
            .inc();
    }

    /// A cast got its slot after waiting `wait`; it counts as in flight until the guard drops.
    pub(crate) fn started(&self, wait: Duration) -> InFlight {
        self.queue_wait
            .observe(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// A cast ended with `usage`.
    pub(crate) fn ended(&self, spell: &SpellMetrics, usage: &UsageRecord) {
        let outcome = usage.outcome;
        let labels = || OutcomeLabels {
            spell: spell.labels.spell.clone(),
            version: spell.labels.version.clone(),
            outcome: outcome.as_str(),
        };
        let i = outcome as usize;
        spell.invocations[i]
            .get_or_init(|| self.invocations.get_or_create_owned(&labels()))
            .inc();
        if outcome != Outcome::Ok {
            spell.errors[i]
                .get_or_init(|| self.errors.get_or_create_owned(&labels()))
                .inc();
        }
        if outcome == Outcome::Timeout {
            spell
                .timeouts
                .get_or_init(|| self.timeouts.get_or_create_owned(&spell.labels))
                .inc();
        }
        spell.duration.observe(usage.wall_ns);
        spell.cpu.observe(usage.cpu_ns);
        if let Some(fuel) = usage.fuel {
            spell.fuel.observe(fuel);
        }
        spell.memory.observe(usage.memory_peak_bytes);
        spell.net_in.observe(usage.net_bytes_in);
        spell.net_out.observe(usage.net_bytes_out);
    }

    /// The text exposition, with the cache counters as they are now.
    pub(crate) fn encode(&self, caches: CacheCounts) -> String {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(caches));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &scrape);
        out
    }
}

/// The caches' counters at scrape time: they are kept by the caches themselves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheCounts {
    pub(crate) modules: CacheStats,
    pub(crate) verdict_hits: u64,
    pub(crate) verdict_misses: u64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

impl Collector for CacheCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = &self.modules;
        // A counter per tier, or one without labels when `tiers` is a single `("", value)`.
        let mut counter = |name: &str, help: &str, tiers: &[(&'static str, u64)]| {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            if let [("", value)] = tiers {
                return ConstCounter::new(*value).encode(family);
            }
            for &(tier, value) in tiers {
                ConstCounter::new(value).encode(family.encode_family(&TierLabels { tier })?)?;
            }
            Ok(())
        };
        counter(
            "spell_module_cache_hits",
            "Loads served a compiled module from the cache, by tier",
            &[("memory", m.memory_hits), ("disk", m.disk_hits)],
        )?;
        counter(
            "spell_module_cache_misses",
            "Loads that compiled their module",
            &[("", m.compiled)],
        )?;
        counter(
            "spell_module_cache_disk_rejected",
            "AOT artifacts refused (bad MAC, corrupt, incompatible) and compiled again",
            &[("", m.disk_rejected)],
        )?;
        counter(
            "spell_verdict_cache_hits",
            "Loads whose verification verdict was cached",
            &[("", self.verdict_hits)],
        )?;
        counter(
            "spell_verdict_cache_misses",
            "Loads that verified signature and SBOM",
            &[("", self.verdict_misses)],
        )?;
        Ok(())
    }
}
