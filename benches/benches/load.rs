//! Cold load of a real package (`examples/hello/hello.spell`: a 30 KB C module, signed, with an
//! SBOM): Spell's whole pipeline (read, verify, grant, compile, link checks, pre-instantiate)
//! against wasmtime's `Module::new` + `instantiate_pre` (`raw`: no metering; `raw_like_spell`:
//! fuel and epochs, as Spell compiles); and the same with the AOT cache warm (a fresh runtime
//! whose `cache_dir` holds the artifact) against `Module::deserialize_file`.
//!
//! `load_component`: the same C module (the example's, with its WASI preview-1 imports) made a
//! `wasi:cli/command` component with the preview-1 adapter, unsigned: Spell's load against
//! wasmtime's `Component::new` + `instantiate_pre` on a preview-2 linker.
//!
//! Each iteration gets a fresh runtime (built outside the timing), so nothing is cached in
//! memory. Wall-clock time: compilation runs on several threads.

use criterion::{Criterion, criterion_group, criterion_main};
use spell_benches::raw::{Settings, wasi_linker};
use spell_benches::{fixtures, spells};
use spell_core::{Package, PackageLimits};
use spell_runtime::Runtime;
use std::time::{Duration, Instant};
use wasmtime::Module;

/// Times `load` once per iteration, each on a runtime from `fresh`.
fn per_fresh_runtime(iters: u64, fresh: impl Fn() -> Runtime, load: impl Fn(&Runtime)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let runtime = fresh();
        let t = Instant::now();
        load(&runtime);
        total += t.elapsed();
    }
    total
}

fn cold(c: &mut Criterion) {
    let package = fixtures::hello_spell();
    let policy = spells::unsigned_policy();
    let wasm = Package::read(&package, &PackageLimits::default())
        .expect("read")
        .module;
    let engine = Settings::POOLING.engine();
    let linker = wasi_linker(&engine, false);
    let cache = tempfile::tempdir().expect("tempdir");
    let with_cache = || {
        Runtime::builder()
            .cache_dir(cache.path())
            .build()
            .expect("runtime")
    };
    with_cache()
        .load(&package, &policy)
        .expect("warm the AOT cache");
    let raw_dir = tempfile::tempdir().expect("tempdir");
    let artifact = raw_dir.path().join("hello.cwasm");
    std::fs::write(
        &artifact,
        Module::new(&engine, &wasm)
            .expect("compile")
            .serialize()
            .expect("serialize"),
    )
    .expect("write");

    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("compile/spell", |b| {
        b.iter_custom(|n| {
            per_fresh_runtime(
                n,
                || Runtime::new().expect("runtime"),
                |rt| drop(rt.load(&package, &policy).expect("load")),
            )
        })
    });
    g.bench_function("compile/raw", |b| {
        b.iter(|| {
            linker
                .instantiate_pre(&Module::new(&engine, &wasm).expect("compile"))
                .expect("link")
        })
    });
    // Fuel and epoch checks make more code to compile.
    let metered = Settings::LIKE_SPELL.engine();
    let metered_linker = wasi_linker(&metered, true);
    g.bench_function("compile/raw_like_spell", |b| {
        b.iter(|| {
            metered_linker
                .instantiate_pre(&Module::new(&metered, &wasm).expect("compile"))
                .expect("link")
        })
    });
    g.bench_function("aot_cache/spell", |b| {
        b.iter_custom(|n| {
            per_fresh_runtime(n, with_cache, |rt| {
                drop(rt.load(&package, &policy).expect("load"));
                assert_eq!(rt.stats().disk_hits, 1);
            })
        })
    });
    g.bench_function("aot_cache/raw", |b| {
        b.iter(|| {
            // SAFETY: the artifact was just serialized by this engine's configuration.
            #[expect(unsafe_code, reason = "deserializing an artifact this bench wrote")]
            let module =
                unsafe { Module::deserialize_file(&engine, &artifact) }.expect("deserialize");
            linker.instantiate_pre(&module).expect("link")
        })
    });
    g.finish();
}

fn cold_component(c: &mut Criterion) {
    let module = Package::read(&fixtures::hello_spell(), &PackageLimits::default())
        .expect("read")
        .module;
    let wasm = fixtures::component(&module);
    let package = spells::package(&wasm, "_start");
    let policy = spells::unsigned_policy();
    let engine = Settings::LIKE_SPELL.engine();
    let mut linker =
        wasmtime::component::Linker::<spell_benches::raw::ComponentState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
    let mut g = c.benchmark_group("load_component");
    g.sample_size(20);
    g.bench_function("compile/spell", |b| {
        b.iter_custom(|n| {
            per_fresh_runtime(
                n,
                || Runtime::new().expect("runtime"),
                |rt| drop(rt.load(&package, &policy).expect("load")),
            )
        })
    });
    g.bench_function("compile/raw_like_spell", |b| {
        b.iter(|| {
            linker
                .instantiate_pre(
                    &wasmtime::component::Component::new(&engine, &wasm).expect("compile"),
                )
                .expect("link")
        })
    });
    g.finish();
}

criterion_group!(benches, cold, cold_component);
criterion_main!(benches);
