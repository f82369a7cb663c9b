//! What metrics cost a warm cast: the same spell cast on a runtime with metrics on (the default
//! with the `metrics` feature) and off (`RuntimeBuilder::metrics(false)`), no tracing subscriber
//! installed (a host without one pays only the disabled spans' checks in both rows).
//!
//! - `observability/noop`: an export that returns at once (the worst case: the least work for
//!   the counters to hide in).
//! - `observability/hello`: a WASI `_start` printing a line.
//! - `*_traced` rows: `hello` with a `traceparent` (parsing it, recording the trace id).

use criterion::{Criterion, criterion_group, criterion_main};
use spell_benches::fixtures;
use spell_benches::measure::{self, ThreadTime};
use spell_benches::spells;
use spell_runtime::{CastRequest, Outcome, Runtime};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn warm(c: &mut Criterion<ThreadTime>, fixture: &str, export: &str) {
    let wasm = fixtures::wat(fixture);
    let mut g = c.benchmark_group(format!("observability/{fixture}"));
    for (name, on) in [("metrics_off", false), ("metrics_on", true)] {
        let runtime = Runtime::builder().metrics(on).build().expect("runtime");
        let spell = spells::load(&runtime, &wasm, export);
        assert_eq!(
            spell.cast(CastRequest::new()).expect("cast").outcome,
            Outcome::Ok
        );
        g.bench_function(name, |b| {
            b.iter(|| spell.cast(CastRequest::new()).expect("cast"))
        });
        if fixture == "hello" {
            g.bench_function(format!("{name}_traced"), |b| {
                b.iter(|| {
                    spell
                        .cast(CastRequest::new().traceparent(TRACEPARENT))
                        .expect("cast")
                })
            });
        }
    }
    g.finish();
}

fn noop(c: &mut Criterion<ThreadTime>) {
    warm(c, "noop", "run");
}

fn hello(c: &mut Criterion<ThreadTime>) {
    warm(c, "hello", "_start");
}

criterion_group! {
    name = benches;
    config = measure::criterion();
    targets = noop, hello
}
criterion_main!(benches);
