//! Memory per concurrent idle cast: N casts of `sleep.wat` (prints, then sleeps in
//! `poll_oneoff`) in flight at once on a 2-worker tokio runtime; resident memory and page-table
//! growth divided by N, for Spell (pooling on and off) and for wasmtime-wasi async stores
//! (on-demand allocator). Not a criterion bench: it prints one line per set-up, each measured in
//! a fresh process.
//!
//! `SPELL_BENCH_IDLE=N` sets N (default 10,000).

use spell_benches::fixtures;
use spell_benches::raw::wasi_linker;
use spell_benches::spells;
use spell_runtime::{CancelHandle, CastRequest, Outcome, Runtime};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Resident set and page tables of this process, KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmPTE:"))
}

/// Waits until `count` reaches `n`, then a little longer for the last guests to reach the sleep.
fn wait_for(count: &AtomicUsize, n: usize) {
    let start = Instant::now();
    while count.load(Ordering::Relaxed) < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {} of {n} casts started",
            count.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
}

fn report(label: &str, n: usize, before: (u64, u64), during: (u64, u64), started: Duration) {
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / n as f64;
    println!(
        "{label:<28} n={n:<6} rss/cast={:>7.1} KiB  page tables/cast={:>5.1} KiB  start all={:>6.0} ms",
        per(before.0, during.0),
        per(before.1, during.1),
        started.as_secs_f64() * 1e3
    );
}

fn spell(label: &str, executor: &tokio::runtime::Runtime, n: usize, pooling: bool) {
    let runtime = Runtime::builder()
        .pooling(pooling)
        .max_concurrent_casts(n)
        .build()
        .expect("runtime");
    let spell = spells::load(&runtime, &fixtures::wat("sleep"), "_start");
    let warm = CancelHandle::new();
    warm.cancel();
    spell
        .cast(CastRequest::new().cancel(warm))
        .expect("warm-up cast");

    let ready = Arc::new(AtomicUsize::new(0));
    let release = CancelHandle::new();
    let before = memory_kib();
    let start = Instant::now();
    let casts: Vec<_> = (0..n)
        .map(|_| {
            let (spell, ready) = (spell.clone(), ready.clone());
            let request = CastRequest::new()
                .cancel(release.clone())
                .on_output(Arc::new(move |_, _| {
                    ready.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }));
            executor.spawn(async move { spell.cast_async(request).await })
        })
        .collect();
    wait_for(&ready, n);
    let started = start.elapsed();
    let during = memory_kib();
    release.cancel();
    for cast in casts {
        let outcome = executor.block_on(cast).expect("join").expect("cast");
        assert_eq!(outcome.outcome, Outcome::Cancelled);
    }
    report(label, n, before, during, started);
}

fn raw(executor: &tokio::runtime::Runtime, n: usize) {
    let mut config = Config::new();
    config.epoch_interruption(true).consume_fuel(true);
    let engine = Engine::new(&config).expect("engine");
    let module = Module::new(&engine, fixtures::wat("sleep")).expect("compile");
    let pre = wasi_linker(&engine, true)
        .instantiate_pre(&module)
        .expect("link");
    let started_calls = Arc::new(AtomicUsize::new(0));
    let before = memory_kib();
    let start = Instant::now();
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let (engine, pre, started_calls) = (engine.clone(), pre.clone(), started_calls.clone());
            executor.spawn(async move {
                let wasi = WasiCtxBuilder::new()
                    .stdout(MemoryOutputPipe::new(1024))
                    .build_p1();
                let mut store = Store::new(&engine, wasi);
                store.set_fuel(u64::MAX)?;
                store.set_epoch_deadline(u64::MAX);
                let instance = pre.instantiate_async(&mut store).await?;
                let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                started_calls.fetch_add(1, Ordering::Relaxed);
                start.call_async(&mut store, ()).await
            })
        })
        .collect();
    wait_for(&started_calls, n);
    let started = start.elapsed();
    let during = memory_kib();
    // Dropping a suspended call releases its fiber and store.
    calls.iter().for_each(tokio::task::JoinHandle::abort);
    report("wasmtime async, on-demand", n, before, during, started);
}

/// Each set-up runs in a process of its own (this program again, naming it), so memory one
/// frees and the allocator keeps does not flatter the next.
fn main() {
    let setups = ["raw", "spell-on-demand", "spell-pooling"];
    let Some(setup) = std::env::args().find(|a| setups.contains(&a.as_str())) else {
        for setup in setups {
            let exe = std::env::current_exe().expect("own path");
            let status = std::process::Command::new(exe)
                .arg(setup)
                .status()
                .expect("run a set-up");
            assert!(status.success(), "{setup} failed");
        }
        return;
    };
    let n = spell_benches::measure::env_count("SPELL_BENCH_IDLE", 10_000);
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    match setup.as_str() {
        "raw" => raw(&executor, n),
        "spell-on-demand" => spell("spell, on-demand", &executor, n, false),
        _ => spell("spell, pooling", &executor, n, true),
    }
}
