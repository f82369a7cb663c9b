//! Calls WASI's host functions with adversarial arguments and checks the limits still hold.
//!
//! Input: a sequence of calls, each a function of WASI preview 1 and its arguments, every one
//! drawn from the values that break hosts (0, -1, `i32::MIN`, just inside and just outside
//! memory, huge lengths, descriptor numbers around the preopens) or taken raw. The calls run
//! straight-line (no loop for the epoch check to catch) in a module whose memory holds paths,
//! iovecs and an event subscription, with a read-only and a read-write mount of scratch folders,
//! under small limits (8 open files, 1 MiB of disk writes among them).
//!
//! Oracles: those of the sandbox target (one usage record equal to the outcome's, every limit
//! kept, a documented outcome), plus: the cast ends within its deadline and a grace, and the
//! process holds as many descriptors after the cast as before.

use arbitrary::{Arbitrary, Unstructured};
use spell_core::{Access, Package, Policy};
use spell_runtime::{CastRequest, Outcome, Runtime, Spell, UsageLog};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const POLICY: &str = r#"
allow_unsigned = true
[capabilities]
mounts = [{ guest = "/ro", access = "ro" }, { guest = "/rw", access = "rw" }]
[limits.default]
memory_bytes = 1048576
fuel = 1000000
wall_time_ms = 200
output_bytes = 512
open_files = 8
disk_write_bytes = 1048576
"#;

/// How late a cast may end after its deadline: a slow or sanitizer-instrumented build and a
/// loaded machine delay the check and the teardown.
const WALL_GRACE_MS: u64 = 1_000;

/// WASI preview 1: each function's name and parameter types (`I` i32, `L` i64); all but
/// `proc_exit` return an errno.
const FUNCTIONS: [(&str, &str); 45] = [
    ("args_get", "II"),
    ("args_sizes_get", "II"),
    ("environ_get", "II"),
    ("environ_sizes_get", "II"),
    ("clock_res_get", "II"),
    ("clock_time_get", "ILI"),
    ("fd_advise", "ILLI"),
    ("fd_allocate", "ILL"),
    ("fd_close", "I"),
    ("fd_datasync", "I"),
    ("fd_fdstat_get", "II"),
    ("fd_fdstat_set_flags", "II"),
    ("fd_fdstat_set_rights", "ILL"),
    ("fd_filestat_get", "II"),
    ("fd_filestat_set_size", "IL"),
    ("fd_filestat_set_times", "ILLI"),
    ("fd_pread", "IIILI"),
    ("fd_prestat_get", "II"),
    ("fd_prestat_dir_name", "III"),
    ("fd_pwrite", "IIILI"),
    ("fd_read", "IIII"),
    ("fd_readdir", "IIILI"),
    ("fd_renumber", "II"),
    ("fd_seek", "ILII"),
    ("fd_sync", "I"),
    ("fd_tell", "II"),
    ("fd_write", "IIII"),
    ("path_create_directory", "III"),
    ("path_filestat_get", "IIIII"),
    ("path_filestat_set_times", "IIIILLI"),
    ("path_link", "IIIIIII"),
    ("path_open", "IIIIILLII"),
    ("path_readlink", "IIIIII"),
    ("path_remove_directory", "III"),
    ("path_rename", "IIIIII"),
    ("path_symlink", "IIIII"),
    ("path_unlink_file", "III"),
    ("poll_oneoff", "IIII"),
    ("proc_exit", "I"),
    ("sched_yield", ""),
    ("random_get", "II"),
    ("sock_accept", "III"),
    ("sock_recv", "IIIIII"),
    ("sock_send", "IIIII"),
    ("sock_shutdown", "II"),
];

/// Memory the calls point into: paths at 0.., an iovec at 256 (-> 512, 64 KiB - 512 bytes), a
/// clock subscription at 1024 (1 ms relative), output slots above.
const DATA: &str = r#"
  (data (i32.const 0) "file.txt\00../escape\00sub/dir\00/etc/passwd\00link\00.\00")
  (data (i32.const 256) "\00\02\00\00\00\fe\00\00")
  (data (i32.const 1024) "\00\00\00\00\00\00\00\00\00\01\00\00\00\00\00\00\40\42\0f\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
"#;

/// An argument: an interesting value, or a raw one.
#[derive(Arbitrary, Debug)]
enum Arg {
    Zero,
    One,
    MinusOne,
    Min,
    Preopen(u8),
    Path(u8),
    Iovec,
    Subscription,
    NearEnd(u16),
    PastEnd(u16),
    Huge,
    Raw(i64),
}

impl Arg {
    fn value(&self) -> i64 {
        match self {
            Arg::Zero => 0,
            Arg::One => 1,
            Arg::MinusOne => -1,
            Arg::Min => i64::from(i32::MIN),
            // Descriptors 0..2 are stdio, 3 and 4 the mounts, a few opened ones after.
            Arg::Preopen(n) => i64::from(n % 8),
            // Offsets of the paths in DATA, and their lengths.
            Arg::Path(n) => [0, 9, 19, 27, 39, 44, 8, 10, 7, 11, 4, 1][usize::from(n % 12)],
            Arg::Iovec => 256,
            Arg::Subscription => 1024,
            Arg::NearEnd(k) => 65536 - i64::from(*k % 64),
            Arg::PastEnd(k) => 65536 + i64::from(*k),
            Arg::Huge => i64::from(i32::MAX),
            Arg::Raw(v) => *v,
        }
    }
}

/// One host call.
#[derive(Arbitrary, Debug)]
struct Call {
    function: u8,
    args: [Arg; 9],
}

/// The module an input stands for: at most 64 calls in a row.
pub fn module(data: &[u8]) -> Option<Vec<u8>> {
    let calls: Vec<Call> = Unstructured::new(data).arbitrary().ok()?;
    let mut imports = String::new();
    for (i, (name, params)) in FUNCTIONS.iter().enumerate() {
        let params: String = params
            .chars()
            .map(|p| if p == 'L' { " i64" } else { " i32" })
            .collect();
        let result = if *name == "proc_exit" {
            ""
        } else {
            "(result i32)"
        };
        imports.push_str(&format!(
            "(import \"wasi_snapshot_preview1\" \"{name}\" (func $f{i} (param{params}) {result}))\n"
        ));
    }
    let mut body = String::new();
    for call in calls.iter().take(64) {
        let i = usize::from(call.function) % FUNCTIONS.len();
        let (name, params) = FUNCTIONS[i];
        let args: String = params
            .chars()
            .zip(&call.args)
            .map(|(p, a)| match p {
                'L' => format!(" (i64.const {})", a.value()),
                _ => format!(" (i32.const {})", a.value() as i32),
            })
            .collect();
        let call = format!("(call $f{i}{args})");
        body.push_str(&if name == "proc_exit" {
            call
        } else {
            format!("(drop {call})")
        });
    }
    wat::parse_str(format!(
        r#"(module {imports} (memory (export "memory") 1) {DATA} (func (export "_start") {body}))"#
    ))
    .ok()
}

struct Fixture {
    runtime: Runtime,
    ro: tempfile::TempDir,
    rw: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ro = tempfile::tempdir().expect("scratch folder");
        std::fs::write(ro.path().join("file.txt"), b"read me").expect("scratch file");
        let runtime = Runtime::builder()
            .max_concurrent_casts(2)
            .max_memory_bytes(16 << 20)
            .build()
            .expect("the fuzz runtime builds");
        // The first cast on a thread starts its executor (epoll, eventfd) for good: not a leak.
        let warm_up = wat::parse_str(r#"(module (func (export "_start")))"#).expect("wat");
        let package = Package::pack(
            br#"{"name":"w","version":"1.0.0","license":"MIT"}"#,
            &warm_up,
            None,
            None,
        )
        .expect("pack");
        let policy = Policy::from_toml("allow_unsigned = true").expect("policy");
        let _ = runtime
            .load(&package, &policy)
            .expect("load")
            .cast(CastRequest::new());
        Fixture {
            runtime,
            ro,
            rw: tempfile::tempdir().expect("scratch folder"),
        }
    })
}

fn load(wasm: &[u8]) -> Option<Spell> {
    let policy = Policy::from_toml(POLICY).expect("the host-call policy parses");
    let manifest = br#"{"name":"fuzz","version":"1.0.0","license":"MIT",
        "capabilities":{"mounts":[{"guest":"/ro","access":"ro"},{"guest":"/rw","access":"rw"}]}}"#;
    let package = Package::pack(manifest, wasm, None, None).ok()?;
    fixture().runtime.load(&package, &policy).ok()
}

/// Descriptors the process holds into `folders`: the scratch folders, all the guest can open.
/// (Counting every descriptor would count those of tests running beside this one.)
pub(crate) fn descriptors_into(folders: &[&Path]) -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
        d.flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|t| folders.iter().any(|f| t.starts_with(f)))
            .count()
    })
}

/// Fails unless the process holds no more descriptors into `folders` than `before` by a second
/// after the cast: an operation the cast left on a blocking thread (it ended mid-call, at its
/// deadline) may hold its file until it finishes, but never longer (only regular files and
/// folders open).
pub(crate) fn assert_descriptors_return(folders: &[&Path], before: usize) {
    let settled = Instant::now() + Duration::from_secs(1);
    while descriptors_into(folders) > before && Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        descriptors_into(folders),
        before,
        "the cast left descriptors open"
    );
}

/// Removes everything in `folder`.
pub(crate) fn empty(folder: &Path) {
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let _ =
            std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    // The scratch folders are shared: one cast at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(spell) = module(data).as_deref().and_then(load) else {
        return;
    };
    let f = fixture();
    // The rw mount starts empty every time.
    let rw = f.rw.path();
    empty(rw);
    let before = descriptors_into(&[f.ro.path(), rw]);
    let log = Arc::new(UsageLog::new());
    let out = spell
        .cast(
            CastRequest::new()
                .mount(f.ro.path(), "/ro", Access::Ro)
                .mount(rw, "/rw", Access::Rw)
                .meter(log.clone()),
        )
        .expect("a loaded spell's cast starts");
    let limits = spell.grant().limits;
    let u = &out.usage;
    assert_eq!(log.records(), std::slice::from_ref(u), "one usage record");
    assert!(u.memory_peak_bytes <= limits.memory_bytes);
    assert!(
        u.fuel.is_some_and(|f| f <= limits.fuel),
        "fuel {:?}",
        u.fuel
    );
    assert!((out.stdout.len() + out.stderr.len()) as u64 <= limits.output_bytes);
    assert!(u.disk_bytes_written <= limits.disk_write_bytes);
    let wall_ms = u.wall_ns / 1_000_000;
    assert!(
        wall_ms <= limits.wall_time_ms + WALL_GRACE_MS,
        "ran {wall_ms} ms past a {} ms deadline",
        limits.wall_time_ms
    );
    assert_descriptors_return(&[f.ro.path(), rw], before);
    match out.outcome {
        Outcome::Ok => assert!(matches!(out.exit_code, None | Some(0))),
        Outcome::Exit => assert!(out.exit_code.is_some_and(|c| c != 0)),
        Outcome::Trap => assert!(out.trap.is_some() && out.detail.is_some()),
        Outcome::Timeout
        | Outcome::OutOfFuel
        | Outcome::MemoryLimit
        | Outcome::OutputLimit
        | Outcome::DiskLimit => assert!(out.detail.is_some()),
        other => panic!("outcome {other:?} is impossible here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_call_sequences_load_and_cast() {
        let mut loaded = 0;
        for seed in 0..30u8 {
            let data: Vec<u8> = (0..2048u32)
                .map(|i| {
                    (i as u8)
                        .wrapping_mul(13)
                        .wrapping_add(seed.wrapping_mul(59))
                })
                .collect();
            loaded += usize::from(module(&data).as_deref().and_then(load).is_some());
            run(&data);
        }
        assert!(loaded > 0, "no call sequence loaded");
    }
}
