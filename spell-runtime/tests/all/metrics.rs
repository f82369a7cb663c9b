//! `Runtime::metrics`: the Prometheus exposition, read back with a real parser
//! (`prometheus-parse`) and checked against the usage records of the casts that ran.

use crate::guests::{package, wasm_spell};
use prometheus_parse::{Sample, Scrape, Value};
use spell_core::{ErrorCode, Policy};
use spell_runtime::{CastRequest, Outcome, Runtime, UsageLog};
use std::sync::Arc;

const GUEST: &str = r#"(module (memory 2) (func (export "nop")) (func (export "trap") unreachable)
    (func (export "spin") (loop br 0)))"#;

fn scrape(runtime: &Runtime) -> Scrape {
    let text = runtime.metrics();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text")
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect();
    match matching.as_slice() {
        [] => 0.0,
        [s] => match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is {other:?}"),
        },
        many => panic!("{} samples of {name}{labels:?}", many.len()),
    }
}

fn buckets(scrape: &Scrape, name: &str) -> Vec<(f64, f64)> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("no {name}"));
    match &sample.value {
        Value::Histogram(b) => b.iter().map(|b| (b.less_than, b.count)).collect(),
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn metrics_match_the_usage_records_of_the_casts_that_ran() {
    let runtime = Runtime::new().expect("runtime");
    let wasm = wat::parse_str(GUEST).expect("wat");
    let fields = r#""entrypoint":"nop","limits":{"fuel":50000}"#;
    let spell = wasm_spell(&runtime, &wasm, fields);
    let log = Arc::new(UsageLog::new());
    for export in ["nop", "nop", "nop", "trap", "spin"] {
        spell
            .cast(CastRequest::new().export(export).meter(log.clone()))
            .expect("cast");
    }
    // Refused before anything ran: not a cast, a refusal by code.
    let refused = spell.cast(CastRequest::new().env("SECRET", "x"));
    assert!(refused.is_err());
    assert!(runtime.load(b"not a package", &Policy::default()).is_err());

    let records = log.records();
    let m = scrape(&runtime);
    let labels = |outcome| {
        [
            ("spell", "test"),
            ("version", "1.0.0"),
            ("outcome", outcome),
        ]
    };
    assert_eq!(value(&m, "faas_invocations_total", &labels("ok")), 3.0);
    assert_eq!(value(&m, "faas_invocations_total", &labels("trap")), 1.0);
    assert_eq!(
        value(&m, "faas_invocations_total", &labels("out_of_fuel")),
        1.0
    );
    assert_eq!(value(&m, "faas_errors_total", &labels("ok")), 0.0);
    assert_eq!(value(&m, "faas_errors_total", &labels("trap")), 1.0);
    let code = ErrorCode::CastRequestDenied.code();
    assert_eq!(
        value(
            &m,
            "spell_refusals_total",
            &[("code", code), ("stage", "cast")]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "spell_refusals_total", &[("stage", "load")]),
        1.0,
        "the unreadable package"
    );
    assert_eq!(value(&m, "spell_casts_in_flight", &[]), 0.0);
    assert_eq!(value(&m, "spell_queue_wait_seconds_count", &[]), 5.0);

    // Each histogram's count and sum are those of the records.
    let sum = |f: fn(&spell_runtime::UsageRecord) -> u64| records.iter().map(f).sum::<u64>() as f64;
    let spell_labels = [("spell", "test"), ("version", "1.0.0")];
    let fuel = sum(|r| r.fuel.expect("fuel metered"));
    assert_eq!(value(&m, "spell_fuel_count", &spell_labels), 5.0);
    assert_eq!(value(&m, "spell_fuel_sum", &spell_labels), fuel);
    assert!(fuel >= 50_000.0, "the spin used all its fuel");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.max(1.0);
    let wall = sum(|r| r.wall_ns) / 1e9;
    assert!(close(
        value(&m, "faas_invoke_duration_seconds_sum", &spell_labels),
        wall
    ));
    assert_eq!(
        value(&m, "faas_invoke_duration_seconds_count", &spell_labels),
        5.0
    );
    let cpu = sum(|r| r.cpu_ns) / 1e9;
    assert!(close(
        value(&m, "faas_cpu_usage_seconds_sum", &spell_labels),
        cpu
    ));
    let memory = sum(|r| r.memory_peak_bytes);
    assert_eq!(memory, 5.0 * 2.0 * 65536.0, "two pages, five casts");
    assert_eq!(value(&m, "faas_mem_usage_bytes_sum", &spell_labels), memory);
    assert_eq!(
        value(&m, "faas_net_io_bytes_count", &[("direction", "receive")]),
        5.0
    );

    // Real histograms: cumulative buckets from a microsecond to 100 s, +Inf holding every cast.
    let wall_buckets = buckets(&m, "faas_invoke_duration_seconds");
    assert_eq!(wall_buckets.first().map(|b| b.0), Some(1e-6));
    assert!(wall_buckets.iter().any(|b| (b.0 - 100.0).abs() < 1e-6));
    assert!(
        wall_buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative"
    );
    assert_eq!(wall_buckets.last().copied(), Some((f64::INFINITY, 5.0)));
    let fuel_buckets = buckets(&m, "spell_fuel");
    let at_most = |bs: &[(f64, f64)], le: f64| bs.iter().find(|b| b.0 >= le).map(|b| b.1);
    assert_eq!(
        at_most(&fuel_buckets, 1e5),
        Some(5.0),
        "all under 10^5 fuel"
    );
    assert_eq!(
        at_most(&fuel_buckets, 100.0),
        Some(4.0),
        "the nops and the trap, under 100"
    );
}

#[test]
fn cache_counters_count_compiles_and_hits() {
    let runtime = Runtime::new().expect("runtime");
    let wasm = wat::parse_str(GUEST).expect("wat");
    let _ = wasm_spell(&runtime, &wasm, r#""entrypoint":"nop""#);
    let _ = wasm_spell(&runtime, &wasm, r#""entrypoint":"nop""#);
    let m = scrape(&runtime);
    assert_eq!(value(&m, "spell_module_cache_misses_total", &[]), 1.0);
    assert_eq!(
        value(&m, "spell_module_cache_hits_total", &[("tier", "memory")]),
        1.0
    );
    assert_eq!(value(&m, "spell_verdict_cache_misses_total", &[]), 1.0);
    assert_eq!(value(&m, "spell_verdict_cache_hits_total", &[]), 1.0);
    // The same spell under a package the policy refuses: a load refusal, no compile.
    let bytes = package(&wasm, r#""entrypoint":"nop""#);
    assert!(runtime.load(&bytes, &Policy::default()).is_err());
    let m = scrape(&runtime);
    assert_eq!(value(&m, "spell_module_cache_misses_total", &[]), 1.0);
    assert_eq!(value(&m, "spell_refusals_total", &[("stage", "load")]), 1.0);
}

#[test]
fn a_runtime_with_metrics_off_counts_no_casts() {
    let runtime = Runtime::builder().metrics(false).build().expect("runtime");
    let wasm = wat::parse_str(GUEST).expect("wat");
    let spell = wasm_spell(&runtime, &wasm, r#""entrypoint":"nop""#);
    let outcome = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(outcome.outcome, Outcome::Ok);
    let m = scrape(&runtime);
    assert_eq!(value(&m, "faas_invocations_total", &[]), 0.0);
    assert_eq!(
        value(&m, "spell_module_cache_misses_total", &[]),
        1.0,
        "caches still count"
    );
}

#[test]
fn a_cast_that_waits_for_a_slot_is_counted_as_waiting_and_not_billed_for_it() {
    let runtime = Runtime::builder()
        .max_concurrent_casts(1)
        .build()
        .expect("runtime");
    let wasm = wat::parse_str(GUEST).expect("wat");
    let fields = r#""entrypoint":"spin","limits":{"wall_time_ms":300,"fuel":1000000000000}"#;
    let spell = wasm_spell(&runtime, &wasm, fields);
    let busy = spell.clone();
    let blocker = std::thread::spawn(move || busy.cast(CastRequest::new()).expect("cast"));
    // The spin holds the only slot for 300 ms; the nop queues behind it.
    while value(&scrape(&runtime), "spell_casts_in_flight", &[]) < 1.0 {
        std::thread::yield_now();
    }
    let waited = spell
        .cast(CastRequest::new().export("nop"))
        .expect("a slot once the spin ends");
    assert_eq!(waited.outcome, Outcome::Ok);
    let spin = blocker.join().expect("join");
    assert_eq!(spin.outcome, Outcome::Timeout);
    // Its wall time starts when it got the slot, not when it asked.
    assert!(
        waited.usage.wall_ns < 100_000_000,
        "{} ns billed for a nop",
        waited.usage.wall_ns
    );
    let m = scrape(&runtime);
    assert_eq!(value(&m, "spell_queue_wait_seconds_count", &[]), 2.0);
    let wait = value(&m, "spell_queue_wait_seconds_sum", &[]);
    assert!((0.1..5.0).contains(&wait), "waited {wait} s in all");
}
