//! A WASI preview 3 component's `wasi:filesystem@0.3.0` behind `component_fs_p3.rs`'s guards:
//! `fs_guard.rs`'s cases for modules and preview 2 components, on a WAT command written against
//! the async ABI (`guests::p3_command`). Only regular files and folders open, links stay inside
//! their mount, and every byte written — through streams, holes and `set-size` included — is
//! metered and capped.

use crate::components_p3::{p3_runtime, text};
use crate::fs_guard::{
    MIB, assert_disk_limit_reported, assert_no_reader, disk_limited, file_len, make_fifo,
    violations,
};
use crate::guests::{p3_command, wasm_spell};
use spell_core::{Access, Limits};
use spell_runtime::{CastOutcome, CastRequest, Outcome, Spell, UsageLog};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The command runs its arguments as commands, one after another, in its first preopen:
/// - `read PATH`: prints the file (`read-via-stream`);
/// - `write PATH N`: N bytes at offset 0 (`write-via-stream`, 64 KiB a stream write);
/// - `append PATH N`: N bytes at the end (`append-via-stream`);
/// - `sparse PATH N`: one byte at offset N;
/// - `truncate PATH N`: `set-size` N;
/// - `link TARGET LINK`: `symlink-at`.
///
/// Files are opened with `open-at` (its six parameters passed by pointer, lowered async),
/// created for the writing commands. Each command prints `ok`, or `error N` (the `error-code`
/// case) for the first call that fails.
fn files() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| p3_command("files", IMPORTS, DEFS, RUN))
}

const IMPORTS: &str = r#"
  (import "wasi:cli/environment@0.3.0" "get-arguments" (func $arguments (param i32)))
  (import "wasi:filesystem/preopens@0.3.0" "get-directories" (func $directories (param i32)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][method]descriptor.open-at" (func $open_at (param i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][method]descriptor.symlink-at" (func $symlink_at (param i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][method]descriptor.set-size" (func $set_size (param i32 i64 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[method]descriptor.read-via-stream" (func $read_via_stream (param i32 i64 i32)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][stream-read-0][method]descriptor.read-via-stream" (func $stream_read (param i32 i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[method]descriptor.write-via-stream" (func $file_write_via (param i32 i32 i64) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[method]descriptor.append-via-stream" (func $file_append_via (param i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[stream-new-0][method]descriptor.write-via-stream" (func $file_stream (result i64)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][stream-write-0][method]descriptor.write-via-stream" (func $file_write (param i32 i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[stream-drop-writable-0][method]descriptor.write-via-stream" (func $file_drop_writable (param i32)))
  (import "wasi:filesystem/types@0.3.0" "[async-lower][future-read-1][method]descriptor.write-via-stream" (func $file_future_read (param i32 i32) (result i32)))
  (import "wasi:filesystem/types@0.3.0" "[future-drop-readable-1][method]descriptor.write-via-stream" (func $file_drop_future (param i32)))"#;

const DEFS: &str = r#"
  (data (i32.const 1300) "error ")
  (data (i32.const 1310) "ok")
  ;; Argument `i`'s address and length (the list from `get-arguments` at 32).
  (func $arg (param $i i32) (result i32)
    (i32.load (i32.add (i32.load (i32.const 32)) (i32.shl (local.get $i) (i32.const 3)))))
  (func $arg_len (param $i i32) (result i32)
    (i32.load (i32.add (i32.load (i32.const 32)) (i32.add (i32.shl (local.get $i) (i32.const 3)) (i32.const 4)))))
  ;; Argument `i` as a decimal number.
  (func $number (param $i i32) (result i64)
    (local $at i32) (local $end i32) (local $n i64)
    (local.set $at (call $arg (local.get $i)))
    (local.set $end (i32.add (local.get $at) (call $arg_len (local.get $i))))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10))
          (i64.extend_i32_u (i32.sub (i32.load8_u (local.get $at)) (i32.const 48)))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $digit)))
    (local.get $n))
  ;; Whether the `result<_, error-code>` at `at` is an error, printed as `error N`.
  (func $failed (param $at i32) (result i32)
    (if (result i32) (i32.load8_u (local.get $at))
      (then
        (call $print (i32.const 1300) (i32.const 6))
        (call $print_u32 (i32.load8_u (i32.add (local.get $at) (i32.const 4))))
        (i32.const 1))
      (else (i32.const 0))))
  ;; Streams `len` zero bytes into `fd`, at `offset` or appended; the stream's outcome at 440.
  (func $pour (param $fd i32) (param $offset i64) (param $len i64) (param $append i32)
    (local $ends i64) (local $tx i32) (local $future i32) (local $code i32) (local $n i32)
    (local.set $ends (call $file_stream))
    (local.set $tx (i32.wrap_i64 (i64.shr_u (local.get $ends) (i64.const 32))))
    (local.set $future (if (result i32) (local.get $append)
      (then (call $file_append_via (local.get $fd) (i32.wrap_i64 (local.get $ends))))
      (else (call $file_write_via (local.get $fd) (i32.wrap_i64 (local.get $ends)) (local.get $offset)))))
    ;; Until all is written or the reader is gone (status other than completed).
    (block $done
      (loop $more
        (br_if $done (i64.eqz (local.get $len)))
        (local.set $n (if (result i32) (i64.lt_u (local.get $len) (i64.const 65536))
          (then (i32.wrap_i64 (local.get $len)))
          (else (i32.const 65536))))
        (local.set $code (call $settle
          (call $file_write (local.get $tx) (i32.const 65536) (local.get $n))
          (local.get $tx)))
        (br_if $done (i32.and (local.get $code) (i32.const 15)))
        (local.set $len (i64.sub (local.get $len)
          (i64.extend_i32_u (i32.shr_u (local.get $code) (i32.const 4)))))
        (br $more)))
    (call $file_drop_writable (local.get $tx))
    (drop (call $settle (call $file_future_read (local.get $future) (i32.const 440)) (local.get $future)))
    (call $file_drop_future (local.get $future)))
  ;; Runs the command of arguments `i` (by its first letter: `r`ead 114, `w`rite 119, `a`ppend
  ;; 97, `s`parse 115, `t`runcate 116, `l`ink 108) and the two after it in the first preopen.
  (func $command (param $i i32)
    (local $op i32) (local $dir i32) (local $fd i32) (local $code i32) (local $rx i32)
    (local.set $op (i32.load8_u (call $arg (local.get $i))))
    (local.set $dir (i32.load (i32.load (i32.const 200))))
    ;; `symlink-at`'s parameters at 400: the folder, the target, the link.
    (if (i32.eq (local.get $op) (i32.const 108))
      (then
        (i32.store (i32.const 400) (local.get $dir))
        (i32.store (i32.const 404) (call $arg (i32.add (local.get $i) (i32.const 1))))
        (i32.store (i32.const 408) (call $arg_len (i32.add (local.get $i) (i32.const 1))))
        (i32.store (i32.const 412) (call $arg (i32.add (local.get $i) (i32.const 2))))
        (i32.store (i32.const 416) (call $arg_len (i32.add (local.get $i) (i32.const 2))))
        (call $complete (call $symlink_at (i32.const 400) (i32.const 440)))
        (if (i32.eqz (call $failed (i32.const 440)))
          (then (call $print (i32.const 1310) (i32.const 2))))
        (return)))
    ;; `open-at`'s parameters at 400: the folder, no path flags, the path, then `create` and
    ;; `write`, or no open flags and `read`; the descriptor at 444.
    (i32.store (i32.const 400) (local.get $dir))
    (i32.store8 (i32.const 404) (i32.const 0))
    (i32.store (i32.const 408) (call $arg (i32.add (local.get $i) (i32.const 1))))
    (i32.store (i32.const 412) (call $arg_len (i32.add (local.get $i) (i32.const 1))))
    (i32.store8 (i32.const 416) (i32.ne (local.get $op) (i32.const 114)))
    (i32.store8 (i32.const 417) (select (i32.const 1) (i32.const 2) (i32.eq (local.get $op) (i32.const 114))))
    (call $complete (call $open_at (i32.const 400) (i32.const 440)))
    (if (call $failed (i32.const 440)) (then (return)))
    (local.set $fd (i32.load (i32.const 444)))
    ;; The file's stream at 460, 64 KiB at a time to stdout until its writer is gone.
    (if (i32.eq (local.get $op) (i32.const 114))
      (then
        (call $read_via_stream (local.get $fd) (i64.const 0) (i32.const 460))
        (local.set $rx (i32.load (i32.const 460)))
        (loop $more
          (local.set $code (call $settle
            (call $stream_read (local.get $rx) (i32.const 65536) (i32.const 65536))
            (local.get $rx)))
          (call $print (i32.const 65536) (i32.shr_u (local.get $code) (i32.const 4)))
          (br_if $more (i32.eqz (i32.and (local.get $code) (i32.const 15)))))
        (return)))
    (if (i32.eq (local.get $op) (i32.const 116))
      (then (call $complete (call $set_size (local.get $fd)
        (call $number (i32.add (local.get $i) (i32.const 2))) (i32.const 440)))))
    (if (i32.eq (local.get $op) (i32.const 119))
      (then (call $pour (local.get $fd) (i64.const 0)
        (call $number (i32.add (local.get $i) (i32.const 2))) (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 115))
      (then (call $pour (local.get $fd)
        (call $number (i32.add (local.get $i) (i32.const 2))) (i64.const 1) (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 97))
      (then (call $pour (local.get $fd) (i64.const 0)
        (call $number (i32.add (local.get $i) (i32.const 2))) (i32.const 1))))
    (if (i32.eqz (call $failed (i32.const 440)))
      (then (call $print (i32.const 1310) (i32.const 2)))))"#;

const RUN: &str = r#"
    (local $i i32)
    (call $arguments (i32.const 32))
    (call $directories (i32.const 200))
    ;; Commands of three arguments (two for `read`), one after another.
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (i32.load (i32.const 36))))
        (call $command (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 3)))
        (br $next)))"#;

/// The `error-code` cases the tests expect.
const ACCESS: &str = "error 0";
const NOT_PERMITTED: &str = "error 30";

/// The command, granted `/data` with `access`.
fn spell(access: &str) -> Spell {
    wasm_spell(
        &p3_runtime(),
        files(),
        &format!(r#""capabilities":{{"mounts":[{{"guest":"/data","access":"{access}"}}]}}"#),
    )
}

fn cast(spell: &Spell, dir: &Path, access: Access, limits: Limits, args: &[&str]) -> CastOutcome {
    spell
        .cast(
            CastRequest::new()
                .mount(dir, "/data", access)
                .limits(limits)
                .args(args.iter().copied()),
        )
        .expect("cast")
}

#[test]
fn read_only_mounts_read_and_refuse_writes_and_fifos_without_blocking() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.txt"), "mounted data").expect("write");
    let fifo = make_fifo(dir.path());
    let spell = spell("rw");
    let o = cast(
        &spell,
        dir.path(),
        Access::Ro,
        Limits::default(),
        &["read", "in.txt"],
    );
    assert_eq!(
        (o.outcome, text(&o.stdout)),
        (Outcome::Ok, "mounted data".into())
    );
    // wasmtime-wasi refuses to open for writing in a read-only mount.
    let o = cast(
        &spell,
        dir.path(),
        Access::Ro,
        disk_limited(1),
        &["write", "new", "10"],
    );
    assert!(text(&o.stdout).starts_with("error "), "{}", text(&o.stdout));
    assert_eq!(o.usage.disk_bytes_written, 0);
    assert!(!dir.path().join("new").exists());

    // A FIFO: refused at once, reported, no host thread left waiting in open.
    let log = Arc::new(UsageLog::new());
    let started = Instant::now();
    let o = spell
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/data", Access::Ro)
                .meter(log.clone())
                .limits(Limits {
                    wall_time_ms: Some(3_000),
                    ..Default::default()
                })
                .args(["read", "pipe"]),
        )
        .expect("cast");
    let took = started.elapsed();
    assert_no_reader(&fifo);
    assert_eq!((o.outcome, text(&o.stdout)), (Outcome::Ok, ACCESS.into()));
    assert!(took < Duration::from_secs(2), "{took:?}");
    let refused = violations(&log);
    assert!(
        refused.len() == 1 && refused[0].contains("pipe"),
        "{refused:?}"
    );
}

#[test]
fn symlinks_cannot_point_out_of_a_mount() {
    let root = tempfile::tempdir().expect("tmp");
    std::fs::write(root.path().join("secret.txt"), "secret").expect("write");
    let out = root.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let spell = spell("rw");
    let log = Arc::new(UsageLog::new());
    for target in ["../secret.txt", "sub/../../secret.txt", "/etc/passwd"] {
        let o = spell
            .cast(
                CastRequest::new()
                    .mount(&out, "/data", Access::Rw)
                    .meter(log.clone())
                    .args(["link", target, "result.txt"]),
            )
            .expect("cast");
        assert_eq!(text(&o.stdout), NOT_PERMITTED, "{target}");
        assert!(std::fs::symlink_metadata(out.join("result.txt")).is_err());
    }
    assert_eq!(violations(&log).len(), 3, "{:?}", log.events());
    let o = cast(
        &spell,
        &out,
        Access::Rw,
        Limits::default(),
        &["link", "sub/file", "ok"],
    );
    assert_eq!(text(&o.stdout), "ok");
    assert_eq!(
        std::fs::read_link(out.join("ok")).expect("link"),
        Path::new("sub/file")
    );
}

#[test]
fn disk_writes_are_metered_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell("rw");
    let run = |args: &[&str]| {
        let o = cast(&spell, dir.path(), Access::Rw, disk_limited(1), args);
        assert_eq!(
            (o.outcome, text(&o.stdout)),
            (Outcome::Ok, "ok".into()),
            "{args:?}"
        );
        o.usage.disk_bytes_written
    };
    assert_eq!(run(&["write", "f", "300000"]), 300_000);
    assert_eq!(file_len(&dir.path().join("f")), 300_000);
    // Rewriting bytes that exist is writing them again.
    assert_eq!(run(&["write", "f", "1000"]), 1000);
    assert_eq!(run(&["append", "f", "1000"]), 1000);
    assert_eq!(file_len(&dir.path().join("f")), 301_000);
    // A hole counts as written, and so does a file's growth by `set-size`.
    assert_eq!(run(&["sparse", "s", "1000"]), 1001);
    assert_eq!(run(&["truncate", "t", "5000"]), 5000);
    // Shrinking writes nothing.
    assert_eq!(run(&["truncate", "t", "10"]), 0);
    assert_eq!(file_len(&dir.path().join("t")), 10);
    // One cast, one record: the sum of its commands.
    let o = cast(
        &spell,
        dir.path(),
        Access::Rw,
        disk_limited(1),
        &[
            "write", "n", "1000", "append", "n", "10", "sparse", "m", "100",
        ],
    );
    assert_eq!((o.outcome, text(&o.stdout)), (Outcome::Ok, "okokok".into()));
    assert_eq!(o.usage.disk_bytes_written, 1111);
}

#[test]
fn disk_write_limit_ends_the_cast() {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell("rw");
    for op in ["write", "append"] {
        let log = Arc::new(UsageLog::new());
        let o = spell
            .cast(
                CastRequest::new()
                    .mount(dir.path(), "/data", Access::Rw)
                    .limits(disk_limited(1))
                    .meter(log.clone())
                    .args([op, op, &(3 * MIB).to_string()]),
            )
            .expect("cast");
        assert_eq!(o.outcome, Outcome::DiskLimit, "{op}: {}", text(&o.stdout));
        assert_eq!(o.usage.disk_bytes_written, MIB, "{op}");
        assert!(file_len(&dir.path().join(op)) <= MIB, "{op}");
        assert_disk_limit_reported(&log);
    }
}

#[test]
fn sparse_files_cannot_dodge_the_disk_limit() {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell("rw");
    // Preview 3 takes offsets as u64: the hole before the last one plus its byte overflows.
    for size in [4u64 << 40, u64::MAX] {
        for mode in ["sparse", "truncate"] {
            let o = cast(
                &spell,
                dir.path(),
                Access::Rw,
                disk_limited(1),
                &[mode, "big", &size.to_string()],
            );
            assert_eq!(
                o.outcome,
                Outcome::DiskLimit,
                "{mode} {size}: {}",
                text(&o.stdout)
            );
            assert_eq!(file_len(&dir.path().join("big")), 0, "{mode} {size}");
        }
    }
}

/// The fuzz target `components` starts from this guest (`fuzz/corpus/components/p3_files.wasm`,
/// `SPELL_BLESS=1` rewrites it).
#[test]
fn the_fuzz_seed_is_this_guest() {
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/components/p3_files.wasm");
    if std::env::var_os("SPELL_BLESS").is_some() {
        std::fs::write(&seed, files()).expect("bless the seed");
    }
    assert!(
        std::fs::read(&seed).is_ok_and(|s| s == files()),
        "{} is stale: run with SPELL_BLESS=1",
        seed.display()
    );
}
