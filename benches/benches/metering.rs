//! Metering overhead on CPU-bound guests: wasmtime without metering, with epoch checks only,
//! with fuel only, with both; against Spell with `Metering::Time` (epochs, the 1 ms ticker
//! yielding to the executor, CPU time) and `Metering::Fuel` (the default: fuel as well).
//!
//! Guests: `loop.wat` (tight loop, 10^7 iterations), `fib.wat` (630k calls) and `cpu.c`
//! (real compiled C: qsort, a sieve, hashing; a WASI command). An interpreter's loop, the
//! issue's target, is `metering_interleaved.rs`.

use criterion::{Criterion, criterion_group, criterion_main};
use spell_benches::fixtures;
use spell_benches::measure::{self, ThreadTime};
use spell_benches::raw::{Raw, Settings};
use spell_benches::spells;
use spell_runtime::{CastRequest, Metering, Outcome, Runtime};

const RAW: [(&str, Settings); 4] = [
    (
        "raw_none",
        Settings {
            pooling: true,
            fuel: false,
            epoch: false,
            fibers: false,
            keep_resident: false,
        },
    ),
    (
        "raw_epoch",
        Settings {
            pooling: true,
            fuel: false,
            epoch: true,
            fibers: false,
            keep_resident: false,
        },
    ),
    (
        "raw_fuel",
        Settings {
            pooling: true,
            fuel: true,
            epoch: false,
            fibers: false,
            keep_resident: false,
        },
    ),
    (
        "raw_fuel_epoch",
        Settings {
            pooling: true,
            fuel: true,
            epoch: true,
            fibers: false,
            keep_resident: false,
        },
    ),
];

fn guest(c: &mut Criterion<ThreadTime>, name: &str, wasm: &[u8], export: &str) {
    let mut g = c.benchmark_group(format!("metering/{name}"));
    g.sample_size(20);
    for (label, settings) in RAW {
        let raw = Raw::new(settings, wasm);
        if export == "_start" {
            g.bench_function(label, |b| b.iter(|| raw.command(&[])));
        } else {
            g.bench_function(label, |b| b.iter(|| raw.call(export)));
        }
    }
    for (label, metering) in [
        ("spell_time", Metering::Time),
        ("spell_fuel_default", Metering::Fuel),
    ] {
        let runtime = Runtime::builder()
            .metering(metering)
            .build()
            .expect("runtime");
        let spell = spells::load(&runtime, wasm, export);
        assert_eq!(
            spell.cast(CastRequest::new()).expect("cast").outcome,
            Outcome::Ok
        );
        g.bench_function(label, |b| {
            b.iter(|| spell.cast(CastRequest::new()).expect("cast"))
        });
    }
    g.finish();
}

fn metering(c: &mut Criterion<ThreadTime>) {
    guest(c, "loop", &fixtures::wat("loop"), "run");
    guest(c, "fib", &fixtures::wat("fib"), "run");
    guest(c, "c_cpu", &fixtures::c_guest("cpu"), "_start");
}

criterion_group! {
    name = benches;
    config = measure::criterion();
    targets = metering
}
criterion_main!(benches);
