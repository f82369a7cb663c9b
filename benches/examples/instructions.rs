//! Casts a guest N times, for `valgrind --tool=callgrind`: instructions do not depend on what
//! else the machine runs, so two runs with different N give the exact instructions of one cast
//! (the difference over the difference in N), repeatable under any load.
//!
//!     cargo build --release -p spell-benches --example instructions
//!     valgrind --tool=callgrind target/release/examples/instructions noop 200
//!     valgrind --tool=callgrind target/release/examples/instructions noop 700
//!     valgrind --tool=callgrind target/release/examples/instructions noop 700 raw
//!
//! The first argument names the guest in `fixtures/` (`noop`, which exports `run`; `hello`, a
//! WASI command). The third picks who runs it: `spell` (the default; `eager` casts through
//! `Spell::cast_eager`, the path of the Python and Node bindings' async casts), or the baselines of
//! `benches/cast.rs`, `raw` (wasmtime's defaults) and `raw_like_spell` (Spell's engine
//! settings). Every pool holds one instance: valgrind cannot reserve the default pools'
//! terabytes of address space, and a call's cost does not depend on the slots it does not use.

use spell_benches::raw::{Raw, Settings};
use spell_benches::{fixtures, spells};
use spell_runtime::{CastRequest, Runtime};
use std::time::Duration;
use wasmtime::PoolingAllocationConfig;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let guest = args.get(1).map_or("noop", String::as_str);
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let export = if guest == "noop" { "run" } else { "_start" };
    let wasm = fixtures::wat(guest);
    let runner = args.get(3).map_or("spell", String::as_str);
    let settings = match runner {
        "spell" | "eager" => None,
        "raw" => Some(Settings::POOLING),
        "raw_like_spell" => Some(Settings::LIKE_SPELL),
        other => panic!("unknown runner `{other}`: spell, eager, raw or raw_like_spell"),
    };
    let Some(settings) = settings else {
        let runtime = Runtime::builder()
            .max_concurrent_casts(1)
            .build()
            .expect("runtime");
        let spell = spells::load(&runtime, &wasm, export);
        for _ in 0..n {
            let outcome = match runner {
                "eager" => spell
                    .cast_eager(CastRequest::new(), Duration::from_secs(1), |_| {})
                    .expect("ended within the budget"),
                _ => spell.cast(CastRequest::new()),
            };
            std::hint::black_box(outcome.expect("cast"));
        }
        return;
    };
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(1)
        .total_memories(1)
        .total_tables(1)
        .total_stacks(1)
        .total_component_instances(1);
    let raw = Raw::on(settings, settings.engine_with_pool(pool), &wasm);
    for _ in 0..n {
        raw.cast(std::hint::black_box(export));
    }
}
