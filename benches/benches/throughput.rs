//! Throughput: WASI hello casts per second from 1 and 2 threads sharing one runtime (Spell) or
//! one engine and `InstancePre` (wasmtime, pooling allocator, sync WASI; `raw_kept_resident`
//! with Spell's pooling tuning).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spell_benches::fixtures;
use spell_benches::raw::{Raw, Settings};
use spell_benches::spells;
use spell_runtime::{CastRequest, Runtime};
use std::time::{Duration, Instant};

/// Runs `iters` casts split across `threads` threads; the time until the last one finishes.
fn spread(iters: u64, threads: u64, cast: impl Fn() + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            let cast = &cast;
            s.spawn(move || (0..n).for_each(|_| cast()));
        }
    });
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let wasm = fixtures::wat("hello");
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &wasm, "_start");
    let raw = Raw::new(Settings::POOLING, &wasm);
    let tuned = Raw::new(
        Settings {
            keep_resident: true,
            ..Settings::POOLING
        },
        &wasm,
    );
    let mut g = c.benchmark_group("throughput/hello");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2] {
        g.bench_function(format!("spell/{threads}_threads"), |b| {
            b.iter_custom(|n| {
                spread(n, threads, || {
                    drop(spell.cast(CastRequest::new()).expect("cast"))
                })
            })
        });
        g.bench_function(format!("raw/{threads}_threads"), |b| {
            b.iter_custom(|n| spread(n, threads, || drop(raw.command(&[]))))
        });
        g.bench_function(format!("raw_kept_resident/{threads}_threads"), |b| {
            b.iter_custom(|n| spread(n, threads, || drop(tuned.command(&[]))))
        });
    }
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
