//! Warm casts of trivial guests: Spell `cast` against a fresh wasmtime `Store` +
//! `InstancePre::instantiate` + call, both with the pooling allocator.
//!
//! - `cast/noop`: an export that returns at once.
//! - `cast/hello`: a WASI `_start` printing a line, captured (Spell's output sink against
//!   wasmtime-wasi's `MemoryOutputPipe`).
//! - `cast/hello_component`: the same guest made a `wasi:cli/command` component with the
//!   preview-1 adapter, against wasmtime-wasi's `CommandPre` (always async: its bindings are).
//!
//! `raw` is the plain embedding (default pooling, no metering, sync calls); `raw_like_spell`
//! uses what Spell's engine does (pooled slots kept resident, fuel, epochs, async calls on
//! fibers), so the gap splits into wasmtime settings and Spell's own per-cast work.

use criterion::{Criterion, criterion_group, criterion_main};
use spell_benches::fixtures;
use spell_benches::measure::{self, ThreadTime};
use spell_benches::raw::{Raw, RawComponent, Settings};
use spell_benches::spells;
use spell_runtime::{CastRequest, Outcome, Runtime};

fn noop(c: &mut Criterion<ThreadTime>) {
    let wasm = fixtures::wat("noop");
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &wasm, "run");
    assert_eq!(
        spell.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::Ok
    );
    let mut g = c.benchmark_group("cast/noop");
    g.bench_function("spell", |b| {
        b.iter(|| spell.cast(CastRequest::new()).expect("cast"))
    });
    for (name, settings) in [
        ("raw", Settings::POOLING),
        ("raw_like_spell", Settings::LIKE_SPELL),
    ] {
        let raw = Raw::new(settings, &wasm);
        g.bench_function(name, |b| b.iter(|| raw.call("run")));
    }
    g.finish();
}

fn hello(c: &mut Criterion<ThreadTime>) {
    let wasm = fixtures::wat("hello");
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &wasm, "_start");
    assert_eq!(
        spell.cast(CastRequest::new()).expect("cast").stdout,
        b"Hello, world!\n"
    );
    let mut g = c.benchmark_group("cast/hello");
    g.bench_function("spell", |b| {
        b.iter(|| spell.cast(CastRequest::new()).expect("cast"))
    });
    for (name, settings) in [
        ("raw", Settings::POOLING),
        ("raw_like_spell", Settings::LIKE_SPELL),
    ] {
        let raw = Raw::new(settings, &wasm);
        assert_eq!(raw.command(&[]), b"Hello, world!\n");
        g.bench_function(name, |b| b.iter(|| raw.command(&[])));
    }
    g.finish();
}

fn hello_component(c: &mut Criterion<ThreadTime>) {
    let wasm = fixtures::component(&fixtures::wat("hello"));
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &wasm, "_start");
    assert_eq!(
        spell.cast(CastRequest::new()).expect("cast").stdout,
        b"Hello, world!\n"
    );
    let mut g = c.benchmark_group("cast/hello_component");
    g.bench_function("spell", |b| {
        b.iter(|| spell.cast(CastRequest::new()).expect("cast"))
    });
    for (name, settings) in [
        ("raw", Settings::POOLING),
        ("raw_like_spell", Settings::LIKE_SPELL),
    ] {
        let raw = RawComponent::new(settings, &wasm);
        assert_eq!(raw.command(), b"Hello, world!\n");
        g.bench_function(name, |b| b.iter(|| raw.command()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = measure::criterion();
    targets = noop, hello, hello_component
}
criterion_main!(benches);
