//! The Rust baseline of `bench/cast-latency.mjs`: the same casts of the same spell through
//! `spell-runtime` directly, in the same process model (a warmed thread casting in a loop), so
//! the Node figure stands next to a Rust one from the same machine.
//!
//! `cargo run --release -p spell-node --example cast_latency -- SPELL CASTS WARMUP`
//! prints one JSON line: `{"casts":N,"p50_us":..,"mean_us":..,"p99_us":..}`.

use spell_core::Policy;
use spell_runtime::{CastRequest, Outcome, Runtime};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, casts, warmup] = args.as_slice() else {
        return Err("usage: cast_latency SPELL CASTS WARMUP".into());
    };
    let (casts, warmup): (usize, usize) = (casts.parse()?, warmup.parse()?);
    let runtime = Runtime::new()?;
    let policy =
        Policy::from_toml("allow_unsigned = true\n[capabilities]\nenv = [\"HELLO_NAME\"]")?;
    let spell = runtime.load(&std::fs::read(path)?, &policy)?;
    let mut times: Vec<Duration> = Vec::with_capacity(casts);
    for i in 0..warmup + casts {
        let started = Instant::now();
        let outcome = spell.cast(CastRequest::new().arg("bench"))?;
        let took = started.elapsed();
        if outcome.outcome != Outcome::Ok {
            return Err(format!("cast ended {}", outcome.outcome).into());
        }
        if i >= warmup {
            times.push(took);
        }
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| us(*d)).sum::<f64>() / times.len().max(1) as f64;
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| us(*d))
    };
    println!(
        r#"{{"casts":{},"p50_us":{:.1},"mean_us":{mean:.1},"p99_us":{:.1}}}"#,
        times.len(),
        at(0.5),
        at(0.99)
    );
    Ok(())
}
