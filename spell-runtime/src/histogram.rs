//! A Prometheus histogram that threads casting at once update without sharing a cache line.
//!
//! `prometheus-client`'s `Histogram` takes a mutex per observation, and a cast makes six (wall
//! time, CPU time, fuel, memory, network in and out) on histograms every thread casting the
//! same spell shares: the lock's cache line moved between cores on every cast. Here each thread
//! adds to one of a few shards (picked once per thread), each its own cache lines, with relaxed
//! atomic adds; a scrape sums the shards. Observations are integers in their natural unit
//! (nanoseconds, bytes, fuel) and exposed times a scale (1e-9 for seconds).

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The most buckets a histogram has, `+Inf` included.
const MAX_BUCKETS: usize = 18;
/// The most shards: enough that a few threads casting at once rarely share one.
const MAX_SHARDS: usize = 8;

/// One thread group's counts, aligned so that no two shards share a cache line (128 bytes
/// covers adjacent-line prefetching).
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    /// The sum of observations, in the observed unit.
    sum: AtomicU64,
    /// Observations per bucket (not cumulative).
    counts: [AtomicU64; MAX_BUCKETS],
}

struct Inner {
    /// Upper bounds in the exposed unit, `+Inf` last.
    bounds: Vec<f64>,
    /// Exposed unit per observed unit.
    scale: f64,
    shards: Box<[Shard]>,
}

/// A histogram of integer observations; clones share it.
#[derive(Clone)]
pub(crate) struct ShardedHistogram(Arc<Inner>);

impl std::fmt::Debug for ShardedHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedHistogram")
            .field("bounds", &self.0.bounds)
            .field("scale", &self.0.scale)
            .finish_non_exhaustive()
    }
}

/// How many shards: one per core, up to [`MAX_SHARDS`].
fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT
        .get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SHARDS)))
}

/// This thread's shard number (before the modulo): threads take turns as they first observe.
fn this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed));
    SHARD.with(|s| *s)
}

impl ShardedHistogram {
    /// A histogram with `bounds` (in the exposed unit; `+Inf` is added) exposing observations
    /// times `scale`.
    pub(crate) fn new(bounds: impl IntoIterator<Item = f64>, scale: f64) -> ShardedHistogram {
        let bounds: Vec<f64> = bounds
            .into_iter()
            .filter(|b| b.is_finite())
            .chain(std::iter::once(f64::INFINITY))
            .collect();
        assert!(bounds.len() <= MAX_BUCKETS, "at most {MAX_BUCKETS} buckets");
        let shards = (0..shard_count()).map(|_| Shard::default()).collect();
        ShardedHistogram(Arc::new(Inner {
            bounds,
            scale,
            shards,
        }))
    }

    /// Counts one observation of `value` (in the observed unit).
    pub(crate) fn observe(&self, value: u64) {
        let inner = &*self.0;
        let exposed = value as f64 * inner.scale;
        let bucket = inner
            .bounds
            .iter()
            .position(|b| exposed <= *b)
            .unwrap_or(inner.bounds.len() - 1);
        let shard = &inner.shards[this_thread() % inner.shards.len()];
        shard.counts[bucket].fetch_add(1, Ordering::Relaxed);
        shard.sum.fetch_add(value, Ordering::Relaxed);
    }
}

impl TypedMetric for ShardedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ShardedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.0;
        let mut buckets: Vec<(f64, u64)> = inner.bounds.iter().map(|b| (*b, 0)).collect();
        let mut sum = 0u64;
        for shard in &inner.shards {
            sum = sum.wrapping_add(shard.sum.load(Ordering::Relaxed));
            for ((_, count), c) in buckets.iter_mut().zip(&shard.counts) {
                *count += c.load(Ordering::Relaxed);
            }
        }
        let count = buckets.iter().map(|(_, c)| c).sum();
        encoder.encode_histogram::<NoLabelSet>(sum as f64 * inner.scale, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn exposition(h: &ShardedHistogram) -> String {
        let mut registry = Registry::default();
        registry.register("h", "test", h.clone());
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("encode");
        out
    }

    #[test]
    fn observations_from_many_threads_add_up_in_their_buckets() {
        let h = ShardedHistogram::new([1.0, 10.0], 1e-3);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for v in [500, 1_000, 1_001, 20_000] {
                        h.observe(v);
                    }
                });
            }
        });
        let text = exposition(&h);
        // Per thread: 0.5 and 1.0 in le=1, 1.001 in le=10, 20 in +Inf; cumulative buckets.
        for line in [
            "h_sum 135.006",
            "h_count 24",
            "h_bucket{le=\"1\"} 12",
            "h_bucket{le=\"10\"} 18",
            "h_bucket{le=\"+Inf\"} 24",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
