//! Casts a guest N times, for `valgrind --tool=callgrind`: instructions do not depend on what
//! else the machine runs, so two runs with different N give the exact instructions of one cast
//! (the difference over the difference in N), repeatable under any load.
//!
//!     cargo build --release -p spell-benches --example instructions
//!     valgrind --tool=callgrind target/release/examples/instructions noop 200
//!     valgrind --tool=callgrind target/release/examples/instructions noop 700
//!
//! The argument names the guest in `fixtures/` (`noop`, which exports `run`; `hello`, a WASI
//! command). The runtime's pool holds one cast: valgrind cannot reserve the default pool's
//! terabytes of address space (nor wasmtime's own default pool, so raw wasmtime is not compared
//! here; `benches/cast.rs` does that in time).

use spell_benches::{fixtures, spells};
use spell_runtime::{CastRequest, Runtime};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let guest = args.get(1).map_or("noop", String::as_str);
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let export = if guest == "noop" { "run" } else { "_start" };
    let runtime = Runtime::builder()
        .max_concurrent_casts(1)
        .build()
        .expect("runtime");
    let spell = spells::load(&runtime, &fixtures::wat(guest), export);
    for _ in 0..n {
        std::hint::black_box(spell.cast(CastRequest::new()).expect("cast"));
    }
}
