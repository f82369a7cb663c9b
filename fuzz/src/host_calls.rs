//! Calls the host functions a guest can reach with adversarial arguments and checks the limits
//! still hold.
//!
//! Input: a sequence of calls, each a function and its arguments, every one drawn from the
//! values that break hosts (0, -1, `i32::MIN`, just inside and just outside memory, huge
//! lengths, descriptor numbers around the preopens, prepared structs) or taken raw. The
//! functions: all of WASI preview 1; `spell::http_request`, with request structs in memory for a
//! granted loopback server (a plain answer, a body larger than the byte limit, a slow answer, a
//! stalled one, a redirect), a name the loopback DNS server resolves, names and hostile IP
//! encodings that resolve to an address the policy refuses, a name that never resolves, a host
//! not granted and a malformed request, and response structs with room, too little room and out
//! of bounds; and three granted host functions (`fuzz::copy` reads and writes guest memory where
//! the guest says, `fuzz::sleep` blocks up to 31 ms, `fuzz::wide` returns two values of two
//! types, too few, or an error, by its argument). One guest module, compiled once, makes the
//! calls: it reads them from stdin as records (function, arguments) and dispatches each to its
//! import ([`interpreter`]), so an input costs a cast rather than a compilation. Its memory holds
//! paths, iovecs, an event subscription and the HTTP structs; the cast has a read-only and a
//! read-write mount of scratch folders, under small limits (8 open files, 1 MiB of disk writes,
//! 6 requests, 32 KiB of network).
//!
//! Oracles: those of the sandbox target (one usage record equal to the outcome's, every limit
//! kept, network ones included, a documented outcome), plus: the cast ends within its deadline
//! and a grace, and the process holds as many descriptors into the scratch folders, and as many
//! connections to the loopback server (as the server counts them), after the cast as before.

use crate::loopback::{HttpServer, dns_server};
use arbitrary::{Arbitrary, Unstructured};
use spell_core::{Access, Package, Policy};
use spell_runtime::{
    CastOutcome, CastRequest, HostError, HostFunction, Outcome, Runtime, Spell, UsageLog, Val,
    ValType,
};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The grants and limits, `{port}` the loopback server's.
const POLICY: &str = r#"
allow_unsigned = true
[capabilities]
mounts = [{ guest = "/ro", access = "ro" }, { guest = "/rw", access = "rw" }]
network = ["http://127.0.0.1:{port}", "http://ok.spell.test:{port}", "http://blocked.spell.test:{port}",
           "http://silent.spell.test:{port}", "http://127.0.0.2:{port}"]
host_functions = ["fuzz::*"]
[network]
allow_addresses = ["127.0.0.1/32"]
[limits.default]
memory_bytes = 1048576
fuel = 1000000
wall_time_ms = 100
output_bytes = 512
open_files = 8
disk_write_bytes = 1048576
net_requests = 6
net_bytes = 32768
"#;

/// What the spell asks for: everything the policy grants.
const MANIFEST: &str = r#"{"name":"fuzz","version":"1.0.0","license":"MIT","capabilities":{
  "mounts":[{"guest":"/ro","access":"ro"},{"guest":"/rw","access":"rw"}],
  "network":["http://127.0.0.1:{port}","http://ok.spell.test:{port}","http://blocked.spell.test:{port}",
             "http://silent.spell.test:{port}","http://127.0.0.2:{port}"],
  "host_functions":["fuzz::copy","fuzz::sleep","fuzz::wide"]}}"#;

/// How late a cast may end after its deadline: a slow or sanitizer-instrumented build and a
/// loaded machine delay the check and the teardown.
const WALL_GRACE_MS: u64 = 1_000;

const W: &str = "wasi_snapshot_preview1";

/// Each function's module, name, parameter types and result types (`I` i32, `L` i64, `D` f64).
const FUNCTIONS: [(&str, &str, &str, &str); 49] = [
    (W, "args_get", "II", "I"),
    (W, "args_sizes_get", "II", "I"),
    (W, "environ_get", "II", "I"),
    (W, "environ_sizes_get", "II", "I"),
    (W, "clock_res_get", "II", "I"),
    (W, "clock_time_get", "ILI", "I"),
    (W, "fd_advise", "ILLI", "I"),
    (W, "fd_allocate", "ILL", "I"),
    (W, "fd_close", "I", "I"),
    (W, "fd_datasync", "I", "I"),
    (W, "fd_fdstat_get", "II", "I"),
    (W, "fd_fdstat_set_flags", "II", "I"),
    (W, "fd_fdstat_set_rights", "ILL", "I"),
    (W, "fd_filestat_get", "II", "I"),
    (W, "fd_filestat_set_size", "IL", "I"),
    (W, "fd_filestat_set_times", "ILLI", "I"),
    (W, "fd_pread", "IIILI", "I"),
    (W, "fd_prestat_get", "II", "I"),
    (W, "fd_prestat_dir_name", "III", "I"),
    (W, "fd_pwrite", "IIILI", "I"),
    (W, "fd_read", "IIII", "I"),
    (W, "fd_readdir", "IIILI", "I"),
    (W, "fd_renumber", "II", "I"),
    (W, "fd_seek", "ILII", "I"),
    (W, "fd_sync", "I", "I"),
    (W, "fd_tell", "II", "I"),
    (W, "fd_write", "IIII", "I"),
    (W, "path_create_directory", "III", "I"),
    (W, "path_filestat_get", "IIIII", "I"),
    (W, "path_filestat_set_times", "IIIILLI", "I"),
    (W, "path_link", "IIIIIII", "I"),
    (W, "path_open", "IIIIILLII", "I"),
    (W, "path_readlink", "IIIIII", "I"),
    (W, "path_remove_directory", "III", "I"),
    (W, "path_rename", "IIIIII", "I"),
    (W, "path_symlink", "IIIII", "I"),
    (W, "path_unlink_file", "III", "I"),
    (W, "poll_oneoff", "IIII", "I"),
    (W, "proc_exit", "I", ""),
    (W, "sched_yield", "", "I"),
    (W, "random_get", "II", "I"),
    (W, "sock_accept", "III", "I"),
    (W, "sock_recv", "IIIIII", "I"),
    (W, "sock_send", "IIIII", "I"),
    (W, "sock_shutdown", "II", "I"),
    ("spell", "http_request", "II", "I"),
    ("fuzz", "copy", "III", "I"),
    ("fuzz", "sleep", "I", ""),
    ("fuzz", "wide", "LD", "LD"),
];

/// Memory the calls point into: paths at 0.., an iovec at 256 (-> 512, 64 KiB - 512 bytes), a
/// clock subscription at 1024 (1 ms relative), output slots above.
const DATA: &str = r#"
  (data (i32.const 0) "file.txt\00../escape\00sub/dir\00/etc/passwd\00link\00.\00")
  (data (i32.const 256) "\00\02\00\00\00\fe\00\00")
  (data (i32.const 1024) "\00\00\00\00\00\00\00\00\00\01\00\00\00\00\00\00\40\42\0f\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
"#;

/// Where the `spell_http_request_t` structs start (36 bytes each), and the response structs
/// (28 bytes each); their strings are at 3072 and up, the response buffers at 8192 and up.
const REQUESTS: i64 = 2048;
const RESPONSES: i64 = 2560;
const STRINGS: u32 = 3072;

/// The requests: method, URL (`{port}` the loopback server's), header block, body, timeout ms.
const HTTP_REQUESTS: [(&str, &str, &str, &str, u32); 11] = [
    ("GET", "http://127.0.0.1:{port}/", "", "", 0),
    ("GET", "http://127.0.0.1:{port}/big", "", "", 0),
    ("GET", "http://127.0.0.1:{port}/slow", "", "", 50),
    (
        "POST",
        "http://ok.spell.test:{port}/echo",
        "x-fuzz: 1\r\naccept: */*\n",
        "a body",
        0,
    ),
    ("GET", "http://0x7f000002:{port}/", "", "", 0),
    ("GET", "http://blocked.spell.test:{port}/", "", "", 0),
    ("GET", "http://silent.spell.test:{port}/", "", "", 30),
    ("GET", "http://example.com/", "", "", 0),
    (
        "GE T",
        "http://127.0.0.1:{port}/",
        "host: elsewhere\n",
        "",
        0,
    ),
    ("GET", "http://127.0.0.1:{port}/stall", "", "", 0),
    ("HEAD", "http://127.0.0.1:{port}/redirect", "", "", 0),
];

/// The responses: header buffer and its capacity, body buffer and its capacity.
const HTTP_RESPONSES: [(u32, u32, u32, u32); 5] = [
    (8192, 512, 8704, 4096),
    (8192, 4, 8704, 3),
    (65530, 100, 0, 0),
    (8192, 512, 8704, 65536 - 8704),
    (0, 0, 8704, 65536),
];

/// Data segments holding the HTTP structs and their strings.
fn http_data(port: u16) -> String {
    let mut strings = Vec::new();
    let mut put = |s: &str| {
        let at = STRINGS + strings.len() as u32;
        strings.extend_from_slice(s.replace("{port}", &port.to_string()).as_bytes());
        [at, STRINGS + strings.len() as u32 - at]
    };
    let requests: Vec<u32> = HTTP_REQUESTS
        .iter()
        .flat_map(|(method, url, headers, body, timeout)| {
            [
                put(method),
                put(url),
                put(headers),
                put(body),
                [*timeout, 0],
            ]
            .concat()
            .into_iter()
            .take(9)
        })
        .collect();
    let responses: Vec<u32> = HTTP_RESPONSES
        .iter()
        .flat_map(|&(h, h_cap, b, b_cap)| [0, h, h_cap, 0, b, b_cap, 0])
        .collect();
    let words = |w: &[u32]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    [
        (REQUESTS, words(&requests)),
        (RESPONSES, words(&responses)),
        (i64::from(STRINGS), strings),
    ]
    .iter()
    .map(|(at, bytes)| {
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        format!("(data (i32.const {at}) \"{escaped}\")\n")
    })
    .collect()
}

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
    Request(u8),
    Response(u8),
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
            Arg::Request(n) => REQUESTS + 36 * i64::from(n % HTTP_REQUESTS.len() as u8),
            Arg::Response(n) => RESPONSES + 28 * i64::from(n % HTTP_RESPONSES.len() as u8),
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

/// Where the guest reads its program (from stdin): [`RECORD`]-byte records, at most
/// [`MAX_CALLS`] of them.
const PROGRAM: i32 = 49152;
/// A call's record: the function's index, then its nine arguments, each a little-endian `i64`.
const RECORD: usize = 80;
/// The most calls an input makes.
const MAX_CALLS: usize = 64;

/// The program an input stands for: at most [`MAX_CALLS`] calls, as the guest reads them.
pub fn program(data: &[u8]) -> Option<Vec<u8>> {
    let calls: Vec<Call> = Unstructured::new(data).arbitrary().ok()?;
    Some(program_of(&calls))
}

fn program_of(calls: &[Call]) -> Vec<u8> {
    let mut program = Vec::with_capacity(calls.len().min(MAX_CALLS) * RECORD);
    for call in calls.iter().take(MAX_CALLS) {
        let function = usize::from(call.function) % FUNCTIONS.len();
        program.extend_from_slice(&(function as u64).to_le_bytes());
        for arg in &call.args {
            program.extend_from_slice(&arg.value().to_le_bytes());
        }
    }
    program
}

/// The guest: it reads its program from stdin into memory at [`PROGRAM`] and makes each call
/// in turn, dispatching on the function's index with a `br_table`, its arguments loaded from
/// the record (truncated to `i32`, or reinterpreted as `f64`, by the function's signature).
/// One module for every input, compiled once: the target's time goes to host calls, not to
/// cranelift. (A call that writes memory, say `fd_read` through the iovec at 256, may rewrite
/// the calls after it: they stay bounded by the count read, and are fuzzed input as well.)
fn interpreter(port: u16) -> Vec<u8> {
    let types = |t: &str| -> String {
        t.chars()
            .map(|p| match p {
                'L' => " i64",
                'D' => " f64",
                _ => " i32",
            })
            .collect()
    };
    let mut imports = String::new();
    for (i, (module, name, params, results)) in FUNCTIONS.iter().enumerate() {
        imports.push_str(&format!(
            "(import \"{module}\" \"{name}\" (func $f{i} (param{}) (result{})))\n",
            types(params),
            types(results)
        ));
    }
    let fd_read = FUNCTIONS
        .iter()
        .position(|f| f.1 == "fd_read")
        .expect("WASI has fd_read");
    // Nested blocks, innermost first: the `br_table` leaves block `$c<i>` for function i, whose
    // call follows that block's end.
    let labels: String = (0..FUNCTIONS.len()).map(|i| format!(" $c{i}")).collect();
    let mut dispatch = format!("(br_table{labels} (i32.wrap_i64 (i64.load (local.get $at))))");
    for (i, (_, _, params, results)) in FUNCTIONS.iter().enumerate() {
        let args: String = params
            .chars()
            .enumerate()
            .map(|(k, p)| {
                let load = format!("(i64.load offset={} (local.get $at))", 8 * (k + 1));
                match p {
                    'L' => format!(" {load}"),
                    'D' => format!(" (f64.reinterpret_i64 {load})"),
                    _ => format!(" (i32.wrap_i64 {load})"),
                }
            })
            .collect();
        let drops = " drop".repeat(results.len());
        dispatch = format!("(block $c{i} {dispatch}) (call $f{i}{args}){drops} (br $step)\n");
    }
    let http = http_data(port);
    let wat = format!(
        r#"(module {imports} (memory (export "memory") 1) {DATA} {http}
  (func (export "_start") (local $at i32) (local $end i32)
    (i32.store (i32.const 48000) (i32.const {PROGRAM}))
    (i32.store (i32.const 48004) (i32.const {size}))
    (drop (call $f{fd_read} (i32.const 0) (i32.const 48000) (i32.const 1) (i32.const 48008)))
    (local.set $at (i32.const {PROGRAM}))
    (local.set $end (i32.add (local.get $at) (i32.load (i32.const 48008))))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $at) (i32.const {RECORD})) (local.get $end)))
        (block $step {dispatch})
        (local.set $at (i32.add (local.get $at) (i32.const {RECORD})))
        (br $next)))))"#,
        size = MAX_CALLS * RECORD,
    );
    wat::parse_str(wat).expect("the interpreter guest assembles")
}

struct Fixture {
    /// The interpreter, loaded under the target's policy.
    spell: Spell,
    /// The HTTP server the policy grants.
    server: HttpServer,
    ro: tempfile::TempDir,
    rw: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ro = tempfile::tempdir().expect("scratch folder");
        std::fs::write(ro.path().join("file.txt"), b"read me").expect("scratch file");
        let server = HttpServer::start();
        let port = server.port;
        let mut builder = Runtime::builder()
            .max_concurrent_casts(2)
            .max_memory_bytes(16 << 20)
            .dns_servers(vec![dns_server()]);
        for function in host_functions() {
            builder = builder.host_function(function);
        }
        let runtime = builder.build().expect("the fuzz runtime builds");
        let port_in = |text: &str| text.replace("{port}", &port.to_string());
        let policy = Policy::from_toml(&port_in(POLICY)).expect("the host-call policy parses");
        let package = Package::pack(port_in(MANIFEST).as_bytes(), &interpreter(port), None, None)
            .expect("the interpreter packs");
        Fixture {
            spell: runtime
                .load(&package, &policy)
                .expect("the interpreter loads"),
            server,
            ro,
            rw: tempfile::tempdir().expect("scratch folder"),
        }
    })
}

/// The granted host functions: `copy(src, len, dst)` copies guest memory through the host,
/// `sleep(ms)` blocks the cast up to 31 ms, `wide(a, b)` returns `(a * 3, b * 2)`, or too few
/// values when `a` is odd, or an error when `a & 2`.
fn host_functions() -> [HostFunction; 3] {
    use ValType::{F64, I32, I64};
    [
        HostFunction::new("fuzz", "copy", [I32, I32, I32], [I32], |call, args| {
            let [src, len, dst] = [0, 1, 2].map(|i| args[i].i32().unwrap_or(0) as u32);
            let bytes = call.read(src, len)?;
            call.write(dst, &bytes)?;
            Ok(vec![Val::I32(len as i32)])
        }),
        HostFunction::new("fuzz", "sleep", [I32], [], |_, args| {
            let ms = args[0].i32().unwrap_or(0) as u64 % 32;
            std::thread::sleep(Duration::from_millis(ms));
            Ok(vec![])
        }),
        HostFunction::new("fuzz", "wide", [I64, F64], [I64, F64], |_, args| {
            let a = args[0].i64().unwrap_or(0);
            let b = match args[1] {
                Val::F64(b) => b,
                _ => 0.0,
            };
            match a & 3 {
                0 => Ok(vec![Val::I64(a.wrapping_mul(3)), Val::F64(b * 2.0)]),
                2 => Err(HostError::new("wide refuses")),
                _ => Ok(vec![Val::I64(a)]),
            }
        }),
    ]
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
    within_a_second(|| descriptors_into(folders) <= before);
    assert_eq!(
        descriptors_into(folders),
        before,
        "the cast left descriptors open"
    );
}

/// Whether `settled` holds within a second, checked every millisecond: what a cast leaves
/// behind (a blocking operation's file, a connection) goes once the cast's threads see it end.
pub(crate) fn within_a_second(settled: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !settled() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    settled()
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
    if let Some(program) = program(data) {
        cast_checked(program);
    }
}

/// Casts the interpreter once with `program`, as the target does, and checks every oracle.
fn cast_checked(program: Vec<u8>) -> CastOutcome {
    // The scratch folders and the server are shared: one cast at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let f = fixture();
    let spell = &f.spell;
    // The rw mount starts empty every time.
    let rw = f.rw.path();
    empty(rw);
    let before = descriptors_into(&[f.ro.path(), rw]);
    let connections_before = f.server.open_connections();
    let log = Arc::new(UsageLog::new());
    let out = spell
        .cast(
            CastRequest::new()
                .mount(f.ro.path(), "/ro", Access::Ro)
                .mount(rw, "/rw", Access::Rw)
                .stdin(program)
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
    assert!(u.net_requests <= limits.net_requests, "{u:?}");
    assert!(
        u.net_bytes_in + u.net_bytes_out <= limits.net_bytes,
        "{u:?}"
    );
    let wall_ms = u.wall_ns / 1_000_000;
    assert!(
        wall_ms <= limits.wall_time_ms + WALL_GRACE_MS,
        "ran {wall_ms} ms past a {} ms deadline",
        limits.wall_time_ms
    );
    assert_descriptors_return(&[f.ro.path(), rw], before);
    within_a_second(|| f.server.open_connections() <= connections_before);
    assert_eq!(
        f.server.open_connections(),
        connections_before,
        "the cast left a connection to the loopback server open"
    );
    match out.outcome {
        Outcome::Ok => assert!(matches!(out.exit_code, None | Some(0))),
        Outcome::Exit => assert!(out.exit_code.is_some_and(|c| c != 0)),
        Outcome::Trap => assert!(out.trap.is_some() && out.detail.is_some()),
        Outcome::Timeout
        | Outcome::OutOfFuel
        | Outcome::MemoryLimit
        | Outcome::OutputLimit
        | Outcome::DiskLimit
        | Outcome::NetworkLimit => assert!(out.detail.is_some()),
        other => panic!("outcome {other:?} is impossible here"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_call_sequences_cast() {
        let mut decoded = 0;
        for seed in 0..30u8 {
            let data: Vec<u8> = (0..2048u32)
                .map(|i| {
                    (i as u8)
                        .wrapping_mul(13)
                        .wrapping_add(seed.wrapping_mul(59))
                })
                .collect();
            decoded += usize::from(program(&data).is_some_and(|p| !p.is_empty()));
            run(&data);
        }
        assert!(decoded > 0, "no call sequence decoded");
    }

    /// A call of the function `name` with `args` (the rest zero).
    fn call(name: &str, args: Vec<Arg>) -> Call {
        let function = FUNCTIONS
            .iter()
            .position(|f| f.1 == name)
            .expect("a function") as u8;
        let mut args = args.into_iter();
        Call {
            function,
            args: std::array::from_fn(|_| args.next().unwrap_or(Arg::Zero)),
        }
    }

    /// Casts `calls` with the target's oracles.
    fn cast(calls: Vec<Call>) -> CastOutcome {
        cast_checked(program_of(&calls))
    }

    fn http(request: u8, response: u8) -> Call {
        call(
            "http_request",
            vec![Arg::Request(request), Arg::Response(response)],
        )
    }

    #[test]
    fn the_http_structs_reach_the_loopback_server_and_every_refusal() {
        let ok = cast(vec![http(0, 0), http(3, 1), http(10, 0)]);
        assert_eq!(ok.outcome, Outcome::Ok, "{ok:?}");
        assert_eq!(ok.usage.net_requests, 3);
        assert!(ok.usage.net_bytes_in > 3 * 60, "{:?}", ok.usage);
        // Refused before DNS (not granted, malformed), and after it (an address the policy
        // refuses, through a name or a hex literal), and a name that never answers.
        let refused = cast(vec![
            http(7, 0),
            http(8, 0),
            http(4, 0),
            http(5, 0),
            http(6, 0),
        ]);
        assert_eq!(refused.outcome, Outcome::Ok, "{refused:?}");
        assert_eq!(
            refused.usage.net_requests, 3,
            "requests past the grant count, refused or not"
        );
        assert_eq!(refused.usage.net_bytes_in + refused.usage.net_bytes_out, 0);
        // Out-of-bounds response buffers (refused before the request counts); a request
        // timeout; a body past the byte limit, read while it fits the buffer.
        let limited = cast(vec![http(0, 2), http(0, 4), http(2, 0), http(1, 3)]);
        assert_eq!(limited.outcome, Outcome::NetworkLimit, "{limited:?}");
        assert_eq!(limited.usage.net_requests, 2);
        assert_eq!(
            limited.usage.net_bytes_in + limited.usage.net_bytes_out,
            32768
        );
        // A stalled response runs into the cast's deadline.
        let stalled = cast(vec![http(9, 0)]);
        assert_eq!(stalled.outcome, Outcome::Timeout, "{stalled:?}");
    }

    #[test]
    fn the_interpreter_makes_every_call_of_a_full_program() {
        let mut calls: Vec<Call> = (1..MAX_CALLS)
            .map(|_| call("sched_yield", vec![]))
            .collect();
        calls.push(http(0, 0));
        let out = cast(calls);
        assert_eq!(out.outcome, Outcome::Ok, "{out:?}");
        assert_eq!(out.usage.net_requests, 1, "the last call ran");
    }

    #[test]
    fn the_host_functions_run_and_their_faults_end_the_cast() {
        let copy = call("copy", vec![Arg::Path(0), Arg::Path(6), Arg::Iovec]);
        let wide = |a| call("wide", vec![Arg::Raw(a), Arg::Raw(2.5f64.to_bits() as i64)]);
        let ok = cast(vec![copy, wide(4)]);
        assert_eq!(ok.outcome, Outcome::Ok, "{ok:?}");
        for (a, fault) in [(1, "returned [I64(1)]"), (2, "wide refuses")] {
            let out = cast(vec![wide(a)]);
            assert_eq!(out.outcome, Outcome::Trap, "{out:?}");
            assert!(
                out.detail.as_deref().is_some_and(|d| d.contains(fault)),
                "{out:?}"
            );
        }
        let out_of_bounds = cast(vec![call("copy", vec![Arg::Zero, Arg::Huge, Arg::Zero])]);
        assert_eq!(out_of_bounds.outcome, Outcome::Trap, "{out_of_bounds:?}");
        // Host calls that outrun the deadline: the cast ends when the one running returns.
        let sleeps = (0..8).map(|_| call("sleep", vec![Arg::Raw(31)])).collect();
        let slept = cast(sleeps);
        assert_eq!(slept.outcome, Outcome::Timeout, "{slept:?}");
        assert!(slept.usage.wall_ns < 300_000_000, "{:?}", slept.usage);
    }
}
