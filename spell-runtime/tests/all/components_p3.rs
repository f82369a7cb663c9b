//! WASI preview 3 components (`RuntimeBuilder::wasi_p3`): a `wasi:cli/run@0.3.0` command written
//! in WAT against the component model's async ABI (`guests::p3_command`). Its first argument
//! picks what it does. Each limit and outcome holds for it
//! as for preview 2 components; a runtime without preview 3 refuses it at load, naming the option.

use crate::guests::{load_error, p3_command, runtime, wasm_spell};
use spell_core::{ErrorCode, HasCode, Limits};
use spell_runtime::{CastRequest, Error, Outcome, Runtime, Spell, TrapKind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the command prints when its first argument asks for nothing else.
const HELLO: &str = "hello from preview 3\n";

/// The command: `run` reads its arguments (`get-arguments`, lowered with the bump allocator
/// `cabi_realloc`), then by the first byte of the first: `e` exits with code 7, `s` spins, `w`
/// waits a minute on the monotonic clock (an async host call), `f` writes 64 KiB to stdout
/// forever, `n` makes streams forever and drops none, `r` returns `run`'s error, `c` copies stdin
/// to stdout, `g` grows its memory forever; anything else prints [`HELLO`]. It imports the
/// preopens, never called: a component using preview 3's `wasi:filesystem`.
fn command() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| p3_command("command", IMPORTS, DEFS, RUN))
}

const IMPORTS: &str = r#"
  (import "wasi:cli/environment@0.3.0" "get-arguments" (func $arguments (param i32)))
  (import "wasi:cli/stdin@0.3.0" "read-via-stream" (func $read_via_stream (param i32)))
  (import "wasi:cli/stdin@0.3.0" "[async-lower][stream-read-0]read-via-stream" (func $stream_read (param i32 i32 i32) (result i32)))
  (import "wasi:cli/stdin@0.3.0" "[stream-drop-readable-0]read-via-stream" (func $drop_readable (param i32)))
  (import "wasi:cli/stdin@0.3.0" "[future-drop-readable-1]read-via-stream" (func $drop_stdin_future (param i32)))
  (import "wasi:cli/exit@0.3.0" "exit-with-code" (func $exit (param i32)))
  (import "wasi:clocks/monotonic-clock@0.3.0" "wait-for" (func $wait_for (param i64)))
  (import "wasi:filesystem/preopens@0.3.0" "get-directories" (func (param i32)))"#;

const DEFS: &str = r#"
  (data (i32.const 1024) "hello from preview 3\n")
  ;; Copies stdin to stdout, 64 KiB at a time, until the writer is gone.
  (func $cat
    (local $rx i32) (local $code i32)
    (call $read_via_stream (i32.const 80))
    (local.set $rx (i32.load (i32.const 80)))
    (block $done
      (loop $more
        (local.set $code (call $settle
          (call $stream_read (local.get $rx) (i32.const 65536) (i32.const 65536))
          (local.get $rx)))
        (call $print (i32.const 65536) (i32.shr_u (local.get $code) (i32.const 4)))
        (br_if $more (i32.eqz (i32.and (local.get $code) (i32.const 15))))))
    (call $drop_readable (local.get $rx))
    (call $drop_stdin_future (i32.load (i32.const 84))))
  ;; The first byte of the first argument (after argv[0]), or 0.
  (func $mode (result i32)
    (call $arguments (i32.const 32))
    (if (result i32) (i32.lt_u (i32.load (i32.const 36)) (i32.const 2))
      (then (i32.const 0))
      (else (i32.load8_u (i32.load (i32.add (i32.load (i32.const 32)) (i32.const 8)))))))"#;

const RUN: &str = r#"
    (local $mode i32)
    (local.set $mode (call $mode))
    (if (i32.eq (local.get $mode) (i32.const 101)) (then (call $exit (i32.const 7))))
    (if (i32.eq (local.get $mode) (i32.const 115)) (then (loop $spin (br $spin))))
    (if (i32.eq (local.get $mode) (i32.const 119))
      (then (call $wait_for (i64.const 60000000000))))
    (if (i32.eq (local.get $mode) (i32.const 102))
      (then (loop $flood (call $print (i32.const 65536) (i32.const 65536)) (br $flood))))
    (if (i32.eq (local.get $mode) (i32.const 110))
      (then (loop $leak (drop (call $stream_new)) (br $leak))))
    (if (i32.eq (local.get $mode) (i32.const 114))
      (then (call $task_return (i32.const 1)) (return (i32.const 0))))
    (if (i32.eq (local.get $mode) (i32.const 103))
      (then (loop $grow (drop (memory.grow (i32.const 1))) (br $grow))))
    (if (i32.eq (local.get $mode) (i32.const 99))
      (then (call $cat) (call $task_return (i32.const 0)) (return (i32.const 0))))
    (call $print (i32.const 1024) (i32.const 21))"#;

/// A runtime that casts preview 3.
pub fn p3_runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::builder().wasi_p3(true).build().expect("runtime"))
        .clone()
}

fn spell(caps: &str) -> Spell {
    wasm_spell(
        &p3_runtime(),
        command(),
        &format!(r#""capabilities":{{{caps}}}"#),
    )
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_preview_3_command_prints_and_is_billed() {
    let o = spell("").cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(o.exit_code, Some(0));
    assert_eq!(text(&o.stdout), HELLO);
    assert_eq!(o.usage.stdout_bytes, HELLO.len() as u64);
    assert!(o.usage.fuel.is_some_and(|f| f > 0), "{:?}", o.usage.fuel);
    assert!(o.usage.memory_peak_bytes >= 3 * 65536);
    // The same `run` called by name, as any export.
    let o = spell("")
        .cast(CastRequest::new().export("wasi:cli/run@0.3.0#run"))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(text(&o.stdout), HELLO);
}

#[test]
fn memory_limit_ends_a_preview_3_command() {
    let o = spell("")
        .cast(CastRequest::new().arg("grow").limits(Limits {
            memory_bytes: Some(1 << 20),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::MemoryLimit, "{:?}", o.detail);
    assert!(
        o.usage.memory_peak_bytes <= 1 << 20,
        "{}",
        o.usage.memory_peak_bytes
    );
}

#[test]
fn arguments_and_stdin_reach_a_preview_3_command() {
    let input: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let o = spell("")
        .cast(CastRequest::new().arg("cat").stdin(input.clone()))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(o.stdout.len(), input.len());
    assert!(o.stdout == input, "stdout differs from stdin");
}

#[test]
fn exit_codes_of_a_preview_3_command() {
    let s = spell("");
    let o = s.cast(CastRequest::new().arg("exit")).expect("cast");
    assert_eq!(
        (o.outcome, o.exit_code),
        (Outcome::Exit, Some(7)),
        "{:?}",
        o.detail
    );
    let o = s.cast(CastRequest::new().arg("run-error")).expect("cast");
    assert_eq!(
        (o.outcome, o.exit_code),
        (Outcome::Exit, Some(1)),
        "{:?}",
        o.detail
    );
}

#[test]
fn fuel_timeout_and_cancel_end_a_preview_3_command() {
    crate::components::spinning_command_ends(&spell(""));
}

#[test]
fn the_deadline_holds_across_an_async_host_call() {
    // A minute's wait on the clock, with no guest code running to take an epoch tick.
    let started = Instant::now();
    let o = spell("")
        .cast(CastRequest::new().arg("wait").limits(Limits {
            wall_time_ms: Some(300),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout, "{:?}", o.detail);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn output_limit_ends_a_preview_3_command() {
    let o = spell("")
        .cast(CastRequest::new().arg("flood").limits(Limits {
            output_bytes: Some(100_000),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::OutputLimit, "{:?}", o.detail);
    assert_eq!(o.stdout.len(), 100_000);
    assert_eq!(o.usage.stdout_bytes, 100_000);
}

#[test]
fn handles_a_command_never_drops_are_capped() {
    let o = spell("")
        .cast(CastRequest::new().arg("new-streams").limits(Limits {
            fuel: Some(10_000_000_000),
            wall_time_ms: Some(20_000),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Trap, "{:?}", o.detail);
    assert_eq!(o.trap, Some(TrapKind::HostError), "{:?}", o.detail);
    assert!(
        o.detail.as_deref().is_some_and(|d| d.contains("handle")),
        "{:?}",
        o.detail
    );
    // Two handles a stream, about two fuel units an iteration: stopped after 5,000 streams by
    // Spell's cap of 10,000 handles (100,000 streams held 24 MB of host memory under wasmtime's
    // default cap).
    assert!(
        o.usage.fuel.is_some_and(|f| f < 20_000),
        "{:?}",
        o.usage.fuel
    );
}

#[test]
fn a_runtime_without_preview_3_refuses_it_naming_the_option() {
    let err = load_error(&runtime(), command(), "");
    assert_eq!(err.code(), ErrorCode::ModuleInvalid);
    let Error::ModuleInvalid(why) = &err else {
        panic!("{err}")
    };
    assert!(why.contains("`wasi_p3`"), "{why}");
    // Imports of 0.3 interfaces that need no async ABI validate: refused as not provided.
    let wat = r#"(component
      (import "wasi:cli/environment@0.3.0" (instance
        (export "get-arguments" (func (result (list string)))))))"#;
    let err = load_error(
        &runtime(),
        &wat::parse_str(wat).expect("wat"),
        r#""entrypoint":"x""#,
    );
    assert_eq!(err.code(), ErrorCode::ImportNotGranted, "{err}");
    assert!(
        err.to_string().contains("wasi:cli/environment@0.3.0"),
        "{err}"
    );
}

#[test]
fn sockets_are_refused_to_a_preview_3_component_even_with_the_network_capability() {
    // `tcp-socket.create(ipv4)`: prints `error N` (the `error-code` case) or `socket`.
    let wasm = p3_command(
        "sockets",
        r#"
  (import "wasi:sockets/types@0.3.0" "[static]tcp-socket.create" (func $create (param i32 i32)))"#,
        r#"
  (data (i32.const 1300) "error ")
  (data (i32.const 1310) "socket")"#,
        r#"
    ;; Not 0 unless the host writes it.
    (i32.store8 (i32.const 260) (i32.const 255))
    (call $create (i32.const 0) (i32.const 256))
    (if (i32.load8_u (i32.const 256))
      (then
        (call $print (i32.const 1300) (i32.const 6))
        (call $print_u32 (i32.load8_u (i32.const 260))))
      (else (call $print (i32.const 1310) (i32.const 6))))"#,
    );
    let s = wasm_spell(
        &p3_runtime(),
        &wasm,
        r#""capabilities":{"network":["http://127.0.0.1:9/"]}"#,
    );
    let o = s.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    // `access-denied`.
    assert_eq!(text(&o.stdout), "error 0");
    assert_eq!(o.usage.net_requests, 0);
}
