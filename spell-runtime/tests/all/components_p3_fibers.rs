//! The fiber stacks of WASI preview 3 casts. A guest task blocked in the async ABI keeps a fiber
//! stack from the runtime's pool; a cast holds at most one per component instance (an instance
//! is not entered again while a task of it blocks), so the pool reserves that many per cast and
//! a component making more instances is refused at load. One cast never takes another's stacks.

use crate::components_p3::p3_runtime;
use crate::guests::{load_error, wasm_spell};
use spell_core::{ErrorCode, HasCode};
use spell_runtime::{CastRequest, Outcome, Runtime};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The most component instances a component may make on a preview 3 runtime (the runtime's
/// `component_instances::MAX`): the sleepers below make two more than their count (the root
/// and the caller).
const MAX_INSTANCES: usize = 16;

/// A `wasi:cli/run@0.3.0` command of `instances` sibling "sleeper" component instances and a
/// caller instance. `run` starts `calls` concurrent calls (async-lowered) of each sleeper's
/// `sleep`, then waits for all of them. `sleep` (async, with a callback) calls the monotonic
/// clock's `wait-for` of `ms` milliseconds lowered synchronously, so its task blocks holding
/// its fiber.
fn sleepers(instances: usize, calls: usize, ms: u64) -> Vec<u8> {
    let ns = ms * 1_000_000;
    let mut wiring = String::new();
    let mut caller_imports = String::new();
    let mut lowered = String::new();
    let mut core_imports = String::new();
    let mut core_exports = String::new();
    let mut args = String::new();
    for k in 0..instances {
        wiring.push_str(&format!(
            "\n  (instance $s{k} (instantiate $sleeper (with \"wait-for\" (func $wait-for))))\
             \n  (alias export $s{k} \"sleep\" (func $sleep{k}))"
        ));
        args.push_str(&format!(" (with \"sleep{k}\" (func $sleep{k}))"));
        caller_imports.push_str(&format!(
            "\n    (import \"sleep{k}\" (func $sleep{k} async))"
        ));
        lowered.push_str(&format!(
            "\n    (core func $sleep{k}' (canon lower (func $sleep{k}) async))"
        ));
        core_imports.push_str(&format!(
            "\n      (import \"\" \"sleep{k}\" (func $sleep{k} (result i32)))"
        ));
        core_exports.push_str(&format!("\n      (export \"sleep{k}\" (func $sleep{k}'))"));
    }
    let starts = (0..instances)
        .flat_map(|k| (0..calls).map(move |_| format!("\n        (call $start (call $sleep{k}))")))
        .collect::<String>();
    let wat = format!(
        r#"(component
  (import "wasi:clocks/monotonic-clock@0.3.0" (instance $clock
    (export "wait-for" (func async (param "how-long" u64)))))
  (alias export $clock "wait-for" (func $wait-for))
  (component $sleeper
    (import "wait-for" (func $wait-for async (param "how-long" u64)))
    (core func $wait (canon lower (func $wait-for)))
    (core func $task.return (canon task.return))
    (core module $m
      (import "" "wait" (func $wait (param i64)))
      (import "" "task.return" (func $task.return))
      (func (export "sleep") (result i32)
        (call $wait (i64.const {ns}))
        (call $task.return)
        (i32.const 0 (; EXIT ;)))
      (func (export "callback") (param i32 i32 i32) (result i32) unreachable))
    (core instance $i (instantiate $m (with "" (instance
      (export "wait" (func $wait))
      (export "task.return" (func $task.return))))))
    (func (export "sleep") async
      (canon lift (core func $i "sleep") async (callback (core func $i "callback")))))
  (component $caller{caller_imports}{lowered}
    (core module $libc (memory (export "memory") 1))
    (core instance $libc (instantiate $libc))
    (alias core export $libc "memory" (core memory $memory))
    (core func $ws-new (canon waitable-set.new))
    (core func $ws-wait (canon waitable-set.wait (memory $memory)))
    (core func $join (canon waitable.join))
    (core func $drop (canon subtask.drop))
    (core func $task.return (canon task.return (result (result))))
    (core module $main{core_imports}
      (import "" "memory" (memory 1))
      (import "" "ws-new" (func $ws-new (result i32)))
      (import "" "ws-wait" (func $ws-wait (param i32 i32) (result i32)))
      (import "" "join" (func $join (param i32 i32)))
      (import "" "drop" (func $drop (param i32)))
      (import "" "task.return" (func $task.return (param i32)))
      (global $set (mut i32) (i32.const 0))
      (global $pending (mut i32) (i32.const 0))
      ;; A call's subtask, unless it returned at once, joins the set.
      (func $start (param $r i32)
        (if (i32.ne (i32.and (local.get $r) (i32.const 0xf)) (i32.const 2 (; RETURNED ;)))
          (then
            (call $join (i32.shr_u (local.get $r) (i32.const 4)) (global.get $set))
            (global.set $pending (i32.add (global.get $pending) (i32.const 1))))))
      (func (export "run") (result i32)
        (global.set $set (call $ws-new)){starts}
        ;; Until every subtask has returned (a SUBTASK event with status RETURNED).
        (block $done
          (loop $wait
            (br_if $done (i32.eqz (global.get $pending)))
            (if (i32.eq (call $ws-wait (global.get $set) (i32.const 0)) (i32.const 1))
              (then
                (if (i32.eq (i32.load (i32.const 4)) (i32.const 2))
                  (then
                    (call $drop (i32.load (i32.const 0)))
                    (global.set $pending (i32.sub (global.get $pending) (i32.const 1)))))))
            (br $wait)))
        (call $task.return (i32.const 0))
        (i32.const 0 (; EXIT ;)))
      (func (export "callback") (param i32 i32 i32) (result i32) unreachable))
    (core instance $main (instantiate $main (with "" (instance{core_exports}
      (export "memory" (memory $memory))
      (export "ws-new" (func $ws-new))
      (export "ws-wait" (func $ws-wait))
      (export "join" (func $join))
      (export "drop" (func $drop))
      (export "task.return" (func $task.return))))))
    (func (export "run") async (result (result))
      (canon lift (core func $main "run") async (callback (core func $main "callback")))))
{wiring}
  (instance $caller (instantiate $caller{args}))
  (alias export $caller "run" (func $run))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $run)))"#
    );
    wat::parse_str(wat).expect("wat")
}

/// A preview 3 runtime with room for `casts` casts at once.
fn runtime(casts: usize) -> Runtime {
    Runtime::builder()
        .wasi_p3(true)
        .max_concurrent_casts(casts)
        .build()
        .expect("runtime")
}

/// Casts and returns how long the cast took, asserting it ended `ok`.
fn cast_ok(spell: &spell_runtime::Spell) -> Duration {
    let started = Instant::now();
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    started.elapsed()
}

#[test]
fn every_instance_may_block_at_once_on_a_one_cast_runtime() {
    // Fourteen tasks blocked together (0.3 s each): done in about 0.3 s, not 4.2, so each held
    // a fiber at the same time. Before the pool was sized for it: "maximum concurrent limit of
    // 1 for fibers reached".
    let spell = wasm_spell(&runtime(1), &sleepers(MAX_INSTANCES - 2, 1, 300), "");
    let took = cast_ok(&spell);
    assert!(took < Duration::from_millis(14 * 300 / 2), "{took:?}");
}

#[test]
fn calls_into_one_instance_wait_their_turn() {
    // The bound rests on this: six calls of one instance's blocking `sleep` run one after
    // another (no fiber each), however many the caller starts at once.
    let spell = wasm_spell(&runtime(1), &sleepers(1, 6, 100), "");
    let took = cast_ok(&spell);
    assert!(took >= Duration::from_millis(600), "{took:?}");
}

#[test]
fn a_cast_blocking_its_most_tasks_leaves_another_casts_stacks() {
    let rt = runtime(2);
    let spell = wasm_spell(&rt, &sleepers(MAX_INSTANCES - 2, 3, 100), "");
    let together = Barrier::new(2);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                together.wait();
                cast_ok(&spell);
            });
        }
    });
}

#[test]
fn a_component_making_too_many_instances_is_refused_at_load() {
    let err = load_error(&p3_runtime(), &sleepers(MAX_INSTANCES - 1, 1, 1), "");
    assert_eq!(err.code(), ErrorCode::ModuleInvalid);
    let message = err.to_string();
    assert!(
        message.contains("makes 17 component instances, more than the 16"),
        "{message}"
    );
}
