//! The file-system guards with a C guest: open descriptors capped, only regular files and
//! folders opened, symbolic links kept inside their mount, disk writes metered and capped.

use crate::guests::{c_guest, runtime, wasm_spell};
use spell_core::{Access, Limits};
use spell_runtime::{
    CastOutcome, CastRequest, Event, EventKind, MeteringHook, Outcome, Spell, UsageLog,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// WASI errno values, as the guest prints them.
const EACCES: i32 = 2;
const EMFILE: i32 = 33;
const EPERM: i32 = 63;

/// The `fs` guest as a module, or made a component with the preview-1 adapter (whose file
/// calls reach Spell's guards in `component_fs.rs` instead of `fs_guard.rs`).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Module,
    Component,
}

fn spell_of(kind: Kind, access: &str) -> Spell {
    let wasm = match kind {
        Kind::Module => c_guest("fs"),
        Kind::Component => crate::guests::component(&c_guest("fs")),
    };
    wasm_spell(
        &runtime(),
        &wasm,
        &format!(r#""capabilities":{{"mounts":[{{"guest":"/data","access":"{access}"}}]}}"#),
    )
}

fn spell(access: &str) -> Spell {
    spell_of(Kind::Module, access)
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

fn stdout(o: &CastOutcome) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn violations(log: &UsageLog) -> Vec<String> {
    log.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::PolicyViolation { capability, detail } if capability == "filesystem" => {
                Some(detail)
            }
            _ => None,
        })
        .collect()
}

/// Host descriptors of this process open on `path`.
fn descriptors_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// Counts, when the guest is refused, the host descriptors it holds on one file.
struct HeldAtRefusal {
    path: PathBuf,
    held: Mutex<Vec<usize>>,
}

impl MeteringHook for HeldAtRefusal {
    fn observe(&self, event: &Event) -> Result<(), spell_runtime::HookError> {
        if matches!(&event.kind, EventKind::PolicyViolation { detail, .. } if detail.contains("open-file limit"))
        {
            let n = descriptors_on(&self.path);
            self.held.lock().unwrap_or_else(|e| e.into_inner()).push(n);
        }
        Ok(())
    }
}

#[test]
fn open_files_are_capped_per_cast() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, "x").expect("write");
    let file = file.canonicalize().expect("canonical");
    let hook = Arc::new(HeldAtRefusal {
        path: file.clone(),
        held: Mutex::default(),
    });
    let limits = Limits {
        open_files: Some(16),
        ..Limits::default()
    };
    let o = spell("ro")
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/data", Access::Ro)
                .limits(limits)
                .meter(hook.clone())
                .args(["open", "1000", "/data/f.txt"]),
        )
        .expect("cast");
    // Refused at the 17th open; the cast went on and exited normally.
    assert_eq!(
        (o.outcome, stdout(&o)),
        (Outcome::Ok, format!("opened 16 errno={EMFILE}\n"))
    );
    // Told once, while the guest held exactly the cap; all closed when the cast ended.
    assert_eq!(*hook.held.lock().expect("lock"), vec![16]);
    assert_eq!(descriptors_on(&file), 0);
    // Closed descriptors no longer count.
    let o = cast(
        &spell("ro"),
        dir.path(),
        Access::Ro,
        limits,
        &["reopen", "100", "/data/f.txt"],
    );
    assert_eq!(stdout(&o), "opened 100 errno=0\n");
    // The grant's limit is the most a cast may ask for.
    let raise = spell("ro").cast(CastRequest::new().limits(Limits {
        open_files: Some(100_000),
        ..Limits::default()
    }));
    assert!(matches!(raise, Err(spell_runtime::Error::RequestDenied(_))));
}

/// A FIFO named `pipe` in `dir`.
pub fn make_fifo(dir: &Path) -> PathBuf {
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    fifo
}

/// No host thread is left waiting in open() for a writer of `fifo`: a non-blocking open for
/// writing fails with ENXIO exactly when the FIFO has no reader.
pub fn assert_no_reader(fifo: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000; // Linux
    const ENXIO: i32 = 6;
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(fifo);
    assert_eq!(writer.err().and_then(|e| e.raw_os_error()), Some(ENXIO));
}

/// Casts `spell` (the `fs` guest, with `/data` granted read-only) to read a FIFO in its mount:
/// refused with EACCES at once, reported, no host thread left behind; a regular file still reads.
fn a_fifo_is_refused_without_blocking(spell: &Spell) {
    let dir = tempfile::tempdir().expect("tmp");
    let fifo = make_fifo(dir.path());
    let log = Arc::new(UsageLog::new());
    let started = Instant::now();
    let o = spell
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/data", Access::Ro)
                .limits(Limits {
                    wall_time_ms: Some(3_000),
                    ..Limits::default()
                })
                .meter(log.clone())
                .args(["read", "/data/pipe"]),
        )
        .expect("cast");
    let took = started.elapsed();
    // Checked first: it also frees a thread left waiting, which would otherwise keep this test
    // process from exiting.
    assert_no_reader(&fifo);
    assert_eq!(
        (o.outcome, stdout(&o)),
        (Outcome::Exit, format!("open errno={EACCES}\n"))
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(violations(&log).len(), 1, "{:?}", log.events());
    // Regular files and folders still open.
    std::fs::write(dir.path().join("f.txt"), "fine").expect("write");
    let o = cast(
        spell,
        dir.path(),
        Access::Ro,
        Limits::default(),
        &["read", "/data/f.txt"],
    );
    assert_eq!((o.outcome, stdout(&o).as_str()), (Outcome::Ok, "fine"));
}

#[test]
fn a_fifo_in_a_mount_is_refused_without_blocking() {
    a_fifo_is_refused_without_blocking(&spell("ro"));
}

#[test]
fn a_fifo_in_a_mount_is_refused_to_a_component_without_blocking() {
    // wasmtime-wasi's own open-at would block here; Spell's (component_fs.rs) refuses.
    a_fifo_is_refused_without_blocking(&spell_of(Kind::Component, "ro"));
}

#[rstest::rstest]
fn symlinks_cannot_point_out_of_a_mount(#[values(Kind::Module, Kind::Component)] kind: Kind) {
    let root = tempfile::tempdir().expect("tmp");
    std::fs::write(root.path().join("secret.txt"), "secret").expect("write");
    let out = root.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let spell = spell_of(kind, "rw");
    let log = Arc::new(UsageLog::new());
    for target in ["../secret.txt", "sub/../../secret.txt", "/etc/passwd"] {
        let o = spell
            .cast(
                CastRequest::new()
                    .mount(&out, "/data", Access::Rw)
                    .meter(log.clone())
                    .args(["symlink", target, "/data/result.txt"]),
            )
            .expect("cast");
        assert_eq!(stdout(&o), format!("symlink errno={EPERM}\n"), "{target}");
        assert!(std::fs::symlink_metadata(out.join("result.txt")).is_err());
    }
    assert_eq!(violations(&log).len(), 3, "{:?}", log.events());
    let o = cast(
        &spell,
        &out,
        Access::Rw,
        Limits::default(),
        &["symlink", "sub/file", "/data/ok"],
    );
    assert_eq!(stdout(&o), "ok\n");
    assert_eq!(
        std::fs::read_link(out.join("ok")).expect("link"),
        Path::new("sub/file")
    );
}

pub const MIB: u64 = 1 << 20;

pub fn disk_limited(mib: u64) -> Limits {
    Limits {
        disk_write_bytes: Some(mib * MIB),
        ..Limits::default()
    }
}

pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[rstest::rstest]
fn disk_writes_are_metered_exactly(#[values(Kind::Module, Kind::Component)] kind: Kind) {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell_of(kind, "rw");
    let o = cast(
        &spell,
        dir.path(),
        Access::Rw,
        disk_limited(1),
        &["write", "/data/f", "300000"],
    );
    assert_eq!(
        (o.outcome, stdout(&o)),
        (Outcome::Ok, "wrote 300000\n".into())
    );
    // stdout is output, not disk.
    assert_eq!(o.usage.disk_bytes_written, 300_000);
    // A hole counts as written.
    let o = cast(
        &spell,
        dir.path(),
        Access::Rw,
        disk_limited(1),
        &["sparse", "/data/s", "1000"],
    );
    assert_eq!((o.outcome, o.usage.disk_bytes_written), (Outcome::Ok, 1001));
    let o = cast(
        &spell,
        dir.path(),
        Access::Rw,
        disk_limited(1),
        &["truncate", "/data/t", "5000"],
    );
    assert_eq!((o.outcome, o.usage.disk_bytes_written), (Outcome::Ok, 5000));
}

/// Without a read-write mount writes skip the disk meter (see `FsGuard::writable`): sound only
/// while a read-only mount opens nothing for writing.
#[rstest::rstest]
fn a_read_only_mount_writes_nothing(#[values(Kind::Module, Kind::Component)] kind: Kind) {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell_of(kind, "rw");
    for args in [
        ["write", "/data/f", "1000"],
        ["truncate", "/data/t", "5000"],
    ] {
        let o = cast(&spell, dir.path(), Access::Ro, disk_limited(1), &args);
        assert_ne!(o.outcome, Outcome::Ok, "{args:?}: {}", stdout(&o));
        assert_eq!(o.usage.disk_bytes_written, 0, "{args:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[rstest::rstest]
fn disk_write_limit_ends_the_cast(#[values(Kind::Module, Kind::Component)] kind: Kind) {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell_of(kind, "rw");
    let log = Arc::new(UsageLog::new());
    let o = spell
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/data", Access::Rw)
                .limits(disk_limited(1))
                .meter(log.clone())
                .args(["write", "/data/f", &(3 * MIB).to_string()]),
        )
        .expect("cast");
    assert_eq!(o.outcome, Outcome::DiskLimit, "{}", stdout(&o));
    assert_eq!(o.usage.disk_bytes_written, MIB);
    assert!(file_len(&dir.path().join("f")) <= MIB);
    assert_disk_limit_reported(&log);
}

/// The observer heard of the disk limit, and the usage record says so.
pub fn assert_disk_limit_reported(log: &UsageLog) {
    assert!(
        log.events().iter().any(|e| matches!(
            e.kind,
            EventKind::LimitHit {
                outcome: Outcome::DiskLimit,
                ..
            }
        )),
        "{:?}",
        log.events()
    );
    assert_eq!(log.records()[0].outcome, Outcome::DiskLimit);
}

#[rstest::rstest]
fn sparse_files_cannot_dodge_the_disk_limit(#[values(Kind::Module, Kind::Component)] kind: Kind) {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = spell_of(kind, "rw");
    let four_tib = (4u64 << 40).to_string();
    for mode in ["sparse", "truncate"] {
        let o = cast(
            &spell,
            dir.path(),
            Access::Rw,
            disk_limited(1),
            &[mode, "/data/big", &four_tib],
        );
        assert_eq!(o.outcome, Outcome::DiskLimit, "{mode}: {}", stdout(&o));
        assert_eq!(file_len(&dir.path().join("big")), 0, "{mode}");
    }
}

/// A preview 2 component calling `descriptor.write` itself (the adapter's `fd_write` passes a
/// signed offset): one that takes an offset near `u64::MAX` does not wrap its charge, the hole
/// plus the bytes, past the cap.
#[test]
fn a_components_write_at_the_last_offset_ends_the_cast() {
    let imports = r#"
  (import "wasi:filesystem/preopens@0.2.12" "get-directories" (func $directories (param i32)))
  (import "wasi:filesystem/types@0.2.12" "[method]descriptor.open-at" (func $open_at (param i32 i32 i32 i32 i32 i32 i32)))
  (import "wasi:filesystem/types@0.2.12" "[method]descriptor.write" (func $write (param i32 i32 i32 i64 i32)))"#;
    let defs = r#"
  (memory (export "memory") 4)
  (data (i32.const 1000) "f")
  (data (i32.const 1100) "ok\n")
  (data (i32.const 1110) "error\n")
  (func (export "_start")
    ;; The preopens' list at 16; `f` in the first, created for writing: its result at 32.
    (call $directories (i32.const 16))
    (call $open_at (i32.load (i32.load (i32.const 16))) (i32.const 0) (i32.const 1000)
      (i32.const 1) (i32.const 1) (i32.const 2) (i32.const 32))
    (if (i32.load8_u (i32.const 32)) (then (call $print (i32.const 1110) (i32.const 6)) (return)))
    ;; Three bytes at offset 2^64 - 2: a hole of 2^64 - 2 before them.
    (call $write (i32.load (i32.const 36)) (i32.const 1100) (i32.const 3) (i64.const -2) (i32.const 48))
    (if (i32.load8_u (i32.const 48))
      (then (call $print (i32.const 1110) (i32.const 6)))
      (else (call $print (i32.const 1100) (i32.const 3)))))"#;
    let spell = wasm_spell(
        &runtime(),
        &crate::guests::p2_component("files", imports, defs),
        r#""capabilities":{"mounts":[{"guest":"/data","access":"rw"}]}"#,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let o = cast(&spell, dir.path(), Access::Rw, disk_limited(1), &[]);
    assert_eq!(
        o.outcome,
        Outcome::DiskLimit,
        "{} {:?}",
        stdout(&o),
        o.detail
    );
    assert_eq!(o.usage.disk_bytes_written, 0);
    assert_eq!(file_len(&dir.path().join("f")), 0);
}
