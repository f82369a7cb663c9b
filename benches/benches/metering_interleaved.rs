//! Metering overhead on an interpreter, the most common kind of plugin: micropython-wasi.wasm
//! from PyPI running a Python loop, under raw wasmtime without metering, with epoch checks, with
//! fuel, with both, and under Spell with `Metering::Time` and the default `Metering::Fuel`, cast
//! with `Spell::cast` and with `cast_async` on a tokio executor (what the bindings' async casts
//! and a Rust service run).
//!
//! Not criterion: the seven set-ups are loaded once, then cast in turn, round after round, in one
//! process, so that whatever else the machine does falls on all of them alike; the figure is the
//! thread CPU time of each cast, as quantiles (p10, p25, median) over `SPELL_BENCH_ROUNDS` rounds
//! (default 40), each next to raw wasmtime without metering and with fuel. On this kind of VM a
//! criterion mean of the same casts moved by ±15% between runs.

use spell_benches::fixtures;
use spell_benches::measure::{env_count, percentile};
use spell_benches::raw::{Raw, Settings};
use spell_benches::spells;
use spell_runtime::{CastRequest, Metering, Outcome, Runtime};
use std::time::Duration;

/// The Python loop micropython runs: arithmetic, a call and a list append per iteration.
const PYTHON_LOOP: &str = "
def step(s, i):
    return (s * 31 + i) % 1000003
s = 0
xs = []
for i in range(100000):
    s = step(s, i)
    if i % 1000 == 0:
        xs.append(s)
print(s, len(xs))
";

/// A set-up: its name and one cast, returning its standard output.
type SetUp = (&'static str, Box<dyn Fn() -> Vec<u8>>);

fn raw(name: &'static str, fuel: bool, epoch: bool, wasm: &[u8]) -> SetUp {
    let settings = Settings {
        fuel,
        epoch,
        ..Settings::POOLING
    };
    let raw = Raw::new(settings, wasm);
    (name, Box::new(move || raw.command(&["-c", PYTHON_LOOP])))
}

fn spell(name: &'static str, metering: Metering, wasm: &[u8]) -> SetUp {
    let runtime = spells::with_micropython_imports(Runtime::builder().metering(metering))
        .build()
        .expect("runtime");
    let spell = spells::load_micropython(&runtime, wasm);
    let executor = name.ends_with("async").then(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio")
    });
    (
        name,
        Box::new(move || {
            let request = CastRequest::new().args(["-c", PYTHON_LOOP]);
            let o = match &executor {
                Some(executor) => executor.block_on(spell.cast_async(request)),
                None => spell.cast(request),
            }
            .expect("cast");
            assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
            o.stdout
        }),
    )
}

fn main() {
    let rounds = env_count("SPELL_BENCH_ROUNDS", 40);
    let wasm = fixtures::micropython();
    let set_ups = [
        raw("raw_none", false, false, &wasm),
        raw("raw_epoch", false, true, &wasm),
        raw("raw_fuel", true, false, &wasm),
        raw("raw_fuel_epoch", true, true, &wasm),
        spell("spell_time", Metering::Time, &wasm),
        spell("spell_fuel_default", Metering::Fuel, &wasm),
        spell("spell_fuel_async", Metering::Fuel, &wasm),
    ];
    // One cast each first: the same output everywhere, and warm caches.
    let expected = (set_ups[0].1)();
    for (name, cast) in &set_ups {
        assert_eq!(cast(), expected, "{name} printed something else");
    }
    let mut times = vec![Vec::with_capacity(rounds); set_ups.len()];
    for _ in 0..rounds {
        for ((_, cast), times) in set_ups.iter().zip(&mut times) {
            let start = cpu_time::ThreadTime::now();
            std::hint::black_box(cast());
            times.push(start.elapsed());
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p25: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            percentile(t, 25)
        })
        .collect();
    println!(
        "metering/micropython: {rounds} rounds, thread CPU time per cast (ms); vs none and vs fuel at p25"
    );
    for (((name, _), t), p) in set_ups.iter().zip(&times).zip(&p25) {
        println!(
            "{name:<20} p10 {:>7.2}  p25 {:>7.2}  median {:>7.2}   {:+6.1}% vs raw_none  {:+6.1}% vs raw_fuel",
            ms(percentile(t, 10)),
            ms(*p),
            ms(percentile(t, 50)),
            (ms(*p) / ms(p25[0]) - 1.0) * 100.0,
            (ms(*p) / ms(p25[2]) - 1.0) * 100.0,
        );
    }
}
