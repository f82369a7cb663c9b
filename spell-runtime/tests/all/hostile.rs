//! Hostile guests: limits that must hold against a guest that tries to outrun them. Each case
//! was a reproduced escape (issue 20); each test failed before its fix.

use crate::guests::{package, wat_spell};
use spell_core::Policy;
use spell_runtime::{CancelHandle, CastRequest, HostFunction, Outcome, Runtime, Val};
use std::time::Duration;

/// The fuel slice of `Spell::cast` (`FUEL_SLICE` in `spell-runtime/src/cast.rs`): the most a
/// stopped cast may under-report.
const FUEL_SLICE: u64 = 1_000_000;

/// `random_get(0, 60 MiB)` forty times in a row, straight-line (no loop, no call between).
fn random_flood() -> String {
    let calls = "(drop (call $r (i32.const 0) (i32.const 62914560)))\n".repeat(40);
    format!(
        r#"(module
          (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
          (memory (export "memory") 1000)
          (func (export "_start") {calls}))"#
    )
}

#[test]
fn a_long_host_call_does_not_carry_the_guest_past_its_deadline() {
    // Before: 8.1 s and `ok` (deadlines were checked only at function entries and loops).
    let spell = wat_spell(
        &random_flood(),
        r#""limits":{"wall_time_ms":20,"fuel":1000,"memory_bytes":67108864}"#,
    );
    let o = spell.cast(CastRequest::new()).expect("cast");
    let wall = Duration::from_nanos(o.usage.wall_ns);
    eprintln!("40 x random_get(60 MiB) with a 20 ms deadline: {wall:?}");
    assert_eq!(o.outcome, Outcome::Timeout, "{:?}", o.detail);
    // Loose bound for a loaded CI machine: the fill is checked every MiB (a few ms).
    assert!(wall < Duration::from_secs(1), "{wall:?}");
}

#[test]
fn random_get_fills_the_buffer_and_refuses_one_outside_memory() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "fill") (result i64)
        (drop (call $r (i32.const 0) (i32.const 8)))
        (i64.load (i32.const 0)))
      (func (export "outside") (result i32) (call $r (i32.const 65530) (i32.const 100))))"#;
    let spell = wat_spell(wat, r#""entrypoint":"fill""#);
    let a = spell.cast(CastRequest::new()).expect("cast").returned;
    let b = spell.cast(CastRequest::new()).expect("cast").returned;
    assert_ne!(a, b, "two draws of 64 random bits");
    let outside = spell
        .cast(CastRequest::new().export("outside"))
        .expect("cast");
    assert_eq!(outside.returned, vec![Val::I32(21)], "errno::fault");
}

#[test]
fn a_slow_host_function_ends_the_cast_at_its_deadline() {
    // Five straight-line calls of a host function that takes 100 ms, with a 50 ms deadline.
    // Before: 500 ms and `ok`.
    let runtime = Runtime::builder()
        .host_function(HostFunction::new("host", "slow", [], [], |_, _| {
            std::thread::sleep(Duration::from_millis(100));
            Ok(vec![])
        }))
        .build()
        .expect("runtime");
    let calls = "(call $slow)\n".repeat(5);
    let wasm = wat::parse_str(format!(
        r#"(module (import "host" "slow" (func $slow)) (func (export "run") {calls}))"#
    ))
    .expect("wat");
    let fields = r#""entrypoint":"run","limits":{"wall_time_ms":50},"capabilities":{"host_functions":["host::slow"]}"#;
    let bytes = package(&wasm, fields);
    let policy = Policy::trusting(
        &spell_core::Package::read(&bytes, &Default::default())
            .expect("read")
            .manifest,
    );
    let spell = runtime.load(&bytes, &policy).expect("load");
    let o = spell.cast(CastRequest::new()).expect("cast");
    let wall = Duration::from_nanos(o.usage.wall_ns);
    assert_eq!(o.outcome, Outcome::Timeout, "{:?}", o.detail);
    assert!(wall < Duration::from_millis(400), "{wall:?}");
}

/// Counts to `n` in a call-free loop, then does `then`.
fn count_then(n: u32, then: &str) -> String {
    format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "\10\00\00\00\00\01\00\00")
          (func (export "_start") (local i32)
            (loop (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                  (br_if 0 (i32.lt_u (local.get 0) (i32.const {n}))))
            {then}))"#
    )
}

#[test]
fn fuel_is_reported_whatever_stops_the_cast() {
    // Before: a cast stopped inside compiled code reported the fuel of its last call (often 0).
    const N: u32 = 20_000_000;
    let limits = r#""limits":{"fuel":1000000000,"memory_bytes":1048576,"output_bytes":1000}"#;
    let done = wat_spell(&count_then(N, ""), limits)
        .cast(CastRequest::new())
        .expect("cast");
    assert_eq!(done.outcome, Outcome::Ok);
    let counted = done.usage.fuel.expect("fuel");
    assert!(counted > u64::from(N), "{counted}");
    for (then, outcome) in [
        (
            "(drop (i32.div_u (i32.const 1) (i32.sub (local.get 0) (i32.const {N}))))",
            Outcome::Trap,
        ),
        ("(drop (memory.grow (i32.const 100)))", Outcome::MemoryLimit),
        (
            "(loop (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (br 0))",
            Outcome::OutputLimit,
        ),
    ] {
        let then = then.replace("{N}", &N.to_string());
        let o = wat_spell(&count_then(N, &then), limits)
            .cast(CastRequest::new())
            .expect("cast");
        assert_eq!(o.outcome, outcome, "{then}: {:?}", o.detail);
        let fuel = o.usage.fuel.expect("fuel");
        assert!(
            fuel + FUEL_SLICE >= counted && fuel < counted + 10_000,
            "{outcome}: {fuel} after counting for {counted}"
        );
    }
}

#[test]
fn fuel_is_reported_for_timeouts_and_cancellations() {
    const SPIN: &str = r#"(module (func (export "spin") (loop br 0)))"#;
    let spell = wat_spell(
        SPIN,
        r#""entrypoint":"spin","limits":{"wall_time_ms":200,"fuel":1000000000000}"#,
    );
    let timed_out = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(timed_out.outcome, Outcome::Timeout);
    // 200 ms of a spinning loop is well over 10^7 instructions on any machine this runs on.
    let fuel = timed_out.usage.fuel.expect("fuel");
    assert!(fuel > 10_000_000, "timeout after 200 ms reported {fuel}");

    let cancel = CancelHandle::new();
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c.cancel();
    });
    let cancelled = spell.cast(CastRequest::new().cancel(cancel)).expect("cast");
    t.join().expect("join");
    assert_eq!(cancelled.outcome, Outcome::Cancelled);
    let fuel = cancelled.usage.fuel.expect("fuel");
    assert!(fuel > 5_000_000, "cancel after 100 ms reported {fuel}");
}

#[test]
fn failed_grows_are_not_billed_as_memory() {
    // Before: 50 failing grows of 100 pages ended as `memory_limit` with a 262 MB peak.
    let grows = "(drop (memory.grow (i32.const 100)))\n".repeat(50);
    let o = wat_spell(
        &format!(r#"(module (memory 1 1) (func (export "run") {grows}))"#),
        r#""entrypoint":"run","limits":{"memory_bytes":1048576}"#,
    )
    .cast(CastRequest::new())
    .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(o.usage.memory_peak_bytes, 65536);

    let grows = "(drop (table.grow (ref.null func) (i32.const 100)))\n".repeat(50);
    let o = wat_spell(
        &format!(r#"(module (table 1 1 funcref) (func (export "run") {grows}))"#),
        r#""entrypoint":"run","limits":{"memory_bytes":1048576}"#,
    )
    .cast(CastRequest::new())
    .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(
        o.usage.memory_peak_bytes,
        spell_runtime::TABLE_ELEMENT_BYTES
    );
}

/// `funcs` functions of `depth` nested loops, each with a local updated at every level.
fn nested_loops(depth: usize, funcs: usize) -> Vec<u8> {
    let mut body = String::from("(local i64)");
    for _ in 0..depth {
        body.push_str("(loop (local.set 1 (i64.add (local.get 1) (i64.const 1)))");
    }
    body.push_str("(br_if 0 (local.get 0))");
    body.push_str(&")".repeat(depth));
    let funcs = format!("(func (param i32) {body})").repeat(funcs);
    wat::parse_str(format!(r#"(module {funcs} (func (export "run")))"#)).expect("wat")
}

#[test]
fn a_compile_bomb_is_refused_before_the_compiler_runs() {
    // Before: a 300 KB module of deeply nested loops took 20 s and 2.1 GB to compile.
    let bomb = nested_loops(2000, 13);
    assert!(bomb.len() > 250_000, "{}", bomb.len());
    let started = std::time::Instant::now();
    let refused = crate::guests::runtime().load(
        &package(&bomb, r#""entrypoint":"run""#),
        &Policy::from_toml("allow_unsigned = true").expect("policy"),
    );
    eprintln!("nested-loop bomb refused in {:?}", started.elapsed());
    let err = refused.expect_err("refused");
    assert_eq!(spell_core::HasCode::code(&err).code(), "E-MOD-005", "{err}");
    // Loops nested as deep as real code nests them compile as before.
    let fine = wat_spell_bytes(&nested_loops(12, 50));
    assert_eq!(
        fine.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::Ok
    );
    // The budget is the host's to set.
    let runtime = Runtime::builder()
        .compile_budget(spell_runtime::CompileBudget {
            max_loop_depth: 10,
            ..Default::default()
        })
        .build()
        .expect("runtime");
    let refused = runtime.load(
        &package(&nested_loops(12, 1), r#""entrypoint":"run""#),
        &Policy::from_toml("allow_unsigned = true").expect("policy"),
    );
    assert!(matches!(
        refused,
        Err(spell_runtime::Error::ModuleTooComplex(_))
    ));
}

/// One function of `n` blocks in a row, each branching out of itself on the function's argument:
/// a chain of `n` basic blocks, each one level deeper in the dominator tree than the last.
fn branch_chain(n: usize) -> Vec<u8> {
    let body = "(block (br_if 0 (local.get 0)))".repeat(n);
    wat::parse_str(format!(
        r#"(module (func (param i32) {body}) (func (export "run")))"#
    ))
    .expect("wat")
}

#[test]
fn a_chain_of_branches_is_refused_before_the_compiler_runs() {
    // Before: the budget counted only loops and admitted this 280 KB module, which cranelift's
    // e-graph pass takes quadratic time over (a scan of the dominator-tree path per new pure
    // instruction): 40,000 `br_if`s in a row took about 16 s to compile (10,000: 1.0 s).
    let bomb = branch_chain(40_000);
    let cost = spell_runtime::CompileCost::of(&bomb);
    assert!(cost.branch_depth >= 40_000, "{cost:?}");
    let started = std::time::Instant::now();
    let refused = crate::guests::runtime().load(
        &package(&bomb, r#""entrypoint":"run""#),
        &Policy::from_toml("allow_unsigned = true").expect("policy"),
    );
    eprintln!("branch-chain bomb refused in {:?}", started.elapsed());
    let err = refused.expect_err("refused");
    assert_eq!(spell_core::HasCode::code(&err).code(), "E-MOD-005", "{err}");
    assert!(err.to_string().contains("chains of branches"), "{err}");
    // A GC barrier is a chain of blocks too: 20,000 `table.set`s of an externref in 120 KB.
    let sets = "(table.set (i32.const 0) (ref.null extern))".repeat(20_000);
    let barriers = wat::parse_str(format!(
        r#"(module (table 1 externref) (func (export "run") {sets}))"#
    ))
    .expect("wat");
    let refused = crate::guests::runtime().load(
        &package(&barriers, r#""entrypoint":"run""#),
        &Policy::from_toml("allow_unsigned = true").expect("policy"),
    );
    assert!(
        matches!(refused, Err(spell_runtime::Error::ModuleTooComplex(_))),
        "{:?}",
        refused.err()
    );
    // Real code's chains are short (micropython's deepest is 81 blocks): it costs nothing.
    for (name, wasm) in [
        ("micropython", crate::guests::micropython_wasm()),
        ("the C guest", crate::guests::c_guest("guest")),
    ] {
        let cost = spell_runtime::CompileCost::of(&wasm);
        assert_eq!(
            (cost.loop_cost, cost.branch_cost),
            (0, 0),
            "{name}: {cost:?}"
        );
        assert!(
            cost.branch_depth < spell_runtime::FREE_BRANCH_DEPTH / 2,
            "{name}: {cost:?}"
        );
    }
    // A short chain compiles as before.
    let fine = wat_spell_bytes(&branch_chain(2_000));
    assert_eq!(
        fine.cast(CastRequest::new()).expect("cast").outcome,
        Outcome::Ok
    );
}

fn wat_spell_bytes(wasm: &[u8]) -> spell_runtime::Spell {
    crate::guests::wasm_spell(&crate::guests::runtime(), wasm, r#""entrypoint":"run""#)
}
