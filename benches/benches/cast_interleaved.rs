//! Issue 18's in-process targets as ratios that hold on a busy machine: a warm cast of
//! `noop.wat` (an export that returns at once) against raw wasmtime with default pooling (target
//! ≤ 2x), and WASI `hello.wat` against raw wasmtime with Spell's engine settings (target
//! ≤ 1.25x).
//!
//! Not criterion: Spell and the two baselines cast in turn, a batch of `SPELL_BENCH_BATCH` casts
//! (default 200) each, round after round (`SPELL_BENCH_ROUNDS`, default 200), in one process; a
//! batch's figure is the thread CPU time per cast. Each round's ratio compares batches run
//! moments apart, so whatever else the machine does falls on both; the ratios are reported as
//! quantiles over the rounds. `cast.rs` measures the same casts with criterion, one after the
//! other, which on this kind of VM moved the noop ratio between 1.9x and 2.7x from run to run.

use spell_benches::fixtures;
use spell_benches::measure::{env_count, percentile, ratio_quantiles};
use spell_benches::raw::{Raw, Settings};
use spell_benches::spells;
use spell_runtime::{CastRequest, Runtime};
use std::time::Duration;

/// One cast of a guest by one set-up.
type Cast = Box<dyn Fn()>;

fn set_ups(guest: &str) -> [(&'static str, Cast); 3] {
    let wasm = fixtures::wat(guest);
    let export = if guest == "noop" { "run" } else { "_start" };
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &wasm, export);
    let raw = |settings| -> Cast {
        let raw = Raw::new(settings, &wasm);
        Box::new(move || raw.cast(std::hint::black_box(export)))
    };
    [
        (
            "spell",
            Box::new(move || {
                let _ = std::hint::black_box(spell.cast(CastRequest::new()));
            }),
        ),
        ("raw", raw(Settings::POOLING)),
        ("raw_like_spell", raw(Settings::LIKE_SPELL)),
    ]
}

fn main() {
    let rounds = env_count("SPELL_BENCH_ROUNDS", 200);
    let batch = env_count("SPELL_BENCH_BATCH", 200);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / batch as f64;
    println!(
        "cast_interleaved: {rounds} rounds of {batch} casts per set-up, thread CPU time per cast"
    );
    for (guest, baseline) in [("noop", 1), ("hello", 2)] {
        let set_ups = set_ups(guest);
        for (_, cast) in &set_ups {
            cast();
        }
        let mut times = vec![Vec::with_capacity(rounds); set_ups.len()];
        for _ in 0..rounds {
            for ((_, cast), times) in set_ups.iter().zip(&mut times) {
                let start = cpu_time::ThreadTime::now();
                for _ in 0..batch {
                    cast();
                }
                times.push(start.elapsed());
            }
        }
        let ratios = times[0]
            .iter()
            .zip(&times[baseline])
            .map(|(spell, base)| spell.as_secs_f64() / base.as_secs_f64())
            .collect();
        for ((name, _), t) in set_ups.iter().zip(&mut times) {
            t.sort();
            println!(
                "{guest:<6} {name:<15} p10 {:>6.2} µs  p25 {:>6.2} µs  median {:>6.2} µs",
                us(percentile(t, 10)),
                us(percentile(t, 25)),
                us(percentile(t, 50)),
            );
        }
        println!(
            "{guest:<6} spell / {}: {}",
            set_ups[baseline].0,
            ratio_quantiles(ratios)
        );
    }
}
