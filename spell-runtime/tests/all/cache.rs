//! The module cache: memory hits skip compilation; AOT artifacts are authenticated.

use crate::guests::{package, wasm_spell};
use spell_core::Policy;
use spell_runtime::{CastRequest, Outcome, Runtime};

const WAT: &str = r#"(module (func (export "run") (result i32) i32.const 7))"#;

#[test]
fn a_second_load_of_the_same_module_does_not_compile() {
    let rt = Runtime::new().expect("runtime");
    let wasm = wat::parse_str(WAT).expect("wat");
    wasm_spell(&rt, &wasm, r#""entrypoint":"run""#);
    let again = wasm_spell(
        &rt,
        &wasm,
        r#""entrypoint":"run","description":"other manifest, same module""#,
    );
    let s = rt.stats();
    assert_eq!((s.compiled, s.memory_hits), (1, 1));
    assert_eq!(
        again.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::Ok
    );
}

#[test]
fn a_burst_of_loads_of_one_new_module_compiles_it_once() {
    // Before: each of the burst compiled it (each compile on every core; for a large module,
    // gigabytes each), as a service worker's first batch for a new spell does.
    const LOADS: usize = 8;
    // Enough functions that a compile takes milliseconds: the loads overlap.
    let funcs: String = (0..400)
        .map(|i| format!("(func (export \"f{i}\") (param i32) (result i32) local.get 0 i32.const {i} i32.add)"))
        .collect();
    let wasm = wat::parse_str(format!(
        r#"(module {funcs} (func (export "run") (result i32) i32.const 7))"#
    ))
    .expect("wat");
    let bytes = package(&wasm, r#""entrypoint":"run""#);
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    let rt = Runtime::new().expect("runtime");
    let start = std::sync::Barrier::new(LOADS);
    std::thread::scope(|s| {
        for _ in 0..LOADS {
            s.spawn(|| {
                start.wait();
                let spell = rt.load(&bytes, &policy).expect("load");
                assert_eq!(
                    spell.cast(CastRequest::new()).expect("cast").outcome,
                    Outcome::Ok
                );
            });
        }
    });
    let s = rt.stats();
    assert_eq!((s.compiled, s.memory_hits), (1, LOADS as u64 - 1));
}

#[test]
fn aot_artifacts_are_reused_and_corrupt_ones_recompiled() {
    let dir = tempfile::tempdir().expect("tmp");
    let wasm = wat::parse_str(WAT).expect("wat");
    let bytes = package(&wasm, r#""entrypoint":"run""#);
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    let fresh = || {
        Runtime::builder()
            .cache_dir(dir.path())
            .build()
            .expect("runtime")
    };

    fresh().load(&bytes, &policy).expect("load");
    let rt = fresh();
    rt.load(&bytes, &policy).expect("load from disk");
    assert_eq!((rt.stats().compiled, rt.stats().disk_hits), (0, 1));

    let artifact = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("artifact written");
    let mut b = std::fs::read(&artifact).expect("read");
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(&artifact, &b).expect("corrupt");

    let rt = fresh();
    let spell = rt.load(&bytes, &policy).expect("recompiled");
    let s = rt.stats();
    assert_eq!((s.compiled, s.disk_hits, s.disk_rejected), (1, 0, 1));
    assert_eq!(
        spell.cast(CastRequest::new()).expect("cast").returned,
        vec![spell_runtime::Val::I32(7)]
    );
    // The rewritten artifact is good again.
    let rt = fresh();
    rt.load(&bytes, &policy).expect("load");
    assert_eq!(rt.stats().disk_hits, 1);
}

#[test]
fn the_aot_folder_keeps_within_its_bound_least_recently_used_out_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
    let module = |n: i32| {
        let wat = format!(r#"(module (func (export "run") (result i32) i32.const {n}))"#);
        package(&wat::parse_str(wat).expect("wat"), r#""entrypoint":"run""#)
    };
    let load = |bound: u64, n: i32| {
        let rt = Runtime::builder()
            .cache_dir(dir.path())
            .cache_max_bytes(bound)
            .build()
            .expect("runtime");
        rt.load(&module(n), &policy).expect("load");
        rt.stats()
    };
    load(u64::MAX, 1);
    let one = spell_runtime::cache_usage(dir.path()).expect("usage");
    assert_eq!(one.artifacts, 1);
    // Room for one artifact and a half: the second one pushes the first out.
    let bound = one.bytes * 3 / 2;
    std::thread::sleep(std::time::Duration::from_millis(20));
    load(bound, 2);
    let after = spell_runtime::cache_usage(dir.path()).expect("usage");
    assert_eq!(after.artifacts, 1);
    assert!(after.bytes <= bound);
    assert_eq!(load(bound, 2).disk_hits, 1, "the newest stayed");
    assert_eq!(load(bound, 1).compiled, 1, "the oldest went");
    assert_eq!(
        spell_runtime::clear_cache(dir.path())
            .expect("clear")
            .artifacts,
        1
    );
    assert_eq!(
        spell_runtime::cache_usage(dir.path())
            .expect("usage")
            .artifacts,
        0
    );
}
