//! Components (`module.kind = "component"`): the C guest of `wasi.rs` made a `wasi:cli/command`
//! component with the preview-1 adapter casts like its core-module twin; WAT components for
//! exports, each limit and outcome; kind mismatches and unsatisfied imports refused at load;
//! `wasi:sockets` refused in use, with or without the network capability.

use crate::guests::{c_guest, component, load_error, package, runtime, wasm_spell};
use spell_core::{Access, ErrorCode, HasCode, Limits, ModuleKind, Package, Policy};
use spell_runtime::{
    CancelHandle, CastOutcome, CastRequest, Error, EventKind, Outcome, Runtime, Spell, TrapKind,
    UsageLog, Val,
};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The C guest as a component, built once.
fn guest_component() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| component(&c_guest("guest")))
}

fn twins(caps: &str) -> (Spell, Spell) {
    let fields = format!(r#""capabilities":{{{caps}}}"#);
    (
        wasm_spell(&runtime(), &c_guest("guest"), &fields),
        wasm_spell(&runtime(), guest_component(), &fields),
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A component without WASI whose core module does each thing a limit stops; its exports are
/// called by name.
const EXPORTS: &str = r#"(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "answer") (result i32) i32.const 42)
    (func (export "spin") (loop br 0))
    (func (export "grow") (loop (drop (memory.grow (i32.const 1))) br 0))
    (func (export "trap") unreachable)
    (func (export "add") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))
  (core instance $i (instantiate $m))
  (func (export "answer") (result s32) (canon lift (core func $i "answer")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (func (export "grow") (canon lift (core func $i "grow")))
  (func (export "trap") (canon lift (core func $i "trap")))
  (func (export "add") (param "x" s32) (result s32) (canon lift (core func $i "add")))
  (instance $api (export "answer" (func 0)))
  (export "acme:demo/api" (instance $api)))"#;

/// A hand-written `wasi:cli/command` whose `run` calls `exit-with-code(42)`, else returns its
/// error.
const EXIT_WITH_CODE: &str = r#"(component
  (import "wasi:cli/exit@0.2.12" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))
  (core func $exit_with_code (canon lower (func $exit "exit-with-code")))
  (core module $m
    (import "cli" "exit-with-code" (func $exit (param i32)))
    (func (export "run") (result i32) (call $exit (i32.const 42)) i32.const 1))
  (core instance $i (instantiate $m
    (with "cli" (instance (export "exit-with-code" (func $exit_with_code))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run_instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run_instance)))"#;

fn exports_spell(fields: &str) -> Spell {
    let wasm = wat::parse_str(EXPORTS).expect("wat");
    wasm_spell(&runtime(), &wasm, fields)
}

#[test]
fn pack_detects_a_component() {
    let bytes = package(guest_component(), "");
    let pkg = Package::read(&bytes, &Default::default()).expect("read");
    assert_eq!(pkg.manifest.module.kind, ModuleKind::Component);
}

#[test]
fn a_component_and_its_core_module_twin_cast_alike() {
    let (module, comp) = twins(r#""env":["GREETING"]"#);
    let req = || {
        CastRequest::new()
            .args(["echo", "a b", "ü"])
            .env("GREETING", "hi")
            .stdin(b"from stdin".to_vec())
    };
    let m = module.cast(req()).expect("cast module");
    let c = comp.cast(req()).expect("cast component");
    assert_eq!(text(&c.stdout), "arg:a b\narg:ü\nenv:hi\nfrom stdin");
    assert_eq!((c.outcome, c.exit_code), (Outcome::Ok, Some(0)));
    assert_eq!((m.stdout, m.exit_code), (c.stdout.clone(), c.exit_code));
    // The same usage record, with comparable figures: the adapter's work costs some fuel, the
    // adapter's state a little memory.
    let (mu, cu) = (&m.usage, &c.usage);
    assert_eq!(cu.stdout_bytes, c.stdout.len() as u64);
    assert_eq!((cu.outcome, cu.exit_code), (Outcome::Ok, Some(0)));
    assert_eq!(cu.spell_name, "test");
    let (mf, cf) = (mu.fuel.expect("fuel"), cu.fuel.expect("fuel"));
    eprintln!(
        "module: fuel {mf}, memory peak {}; component: fuel {cf}, memory peak {}",
        mu.memory_peak_bytes, cu.memory_peak_bytes
    );
    assert!(cf > mf && cf < mf + 50_000, "module {mf}, component {cf}");
    assert!(
        cu.memory_peak_bytes >= mu.memory_peak_bytes
            && cu.memory_peak_bytes < 4 * mu.memory_peak_bytes,
        "module {}, component {}",
        mu.memory_peak_bytes,
        cu.memory_peak_bytes
    );
    // The host's own environment never leaks in, and ungranted variables are refused.
    let o = comp.cast(CastRequest::new().arg("echo")).expect("cast");
    assert_eq!(text(&o.stdout), "env:(unset)\n");
    let err = comp
        .cast(CastRequest::new().arg("echo").env("HOME", "/root"))
        .expect_err("not granted");
    assert_eq!(err.code(), ErrorCode::CastRequestDenied);
}

#[test]
fn exit_codes_and_stderr() {
    let (module, comp) = twins("");
    // The preview-1 adapter passes `proc_exit` on as `wasi:cli/exit`'s `exit`, which knows only
    // success and failure: every code but 0 becomes 1 (as under `wasmtime run`).
    for (code, as_component) in [("0", 0), ("1", 1), ("3", 1), ("100", 1)] {
        let m = module
            .cast(CastRequest::new().args(["exit", code]))
            .expect("cast");
        let c = comp
            .cast(CastRequest::new().args(["exit", code]))
            .expect("cast");
        assert_eq!(m.exit_code, Some(code.parse().expect("code")));
        assert_eq!(
            (c.outcome, c.exit_code),
            (m.outcome, Some(as_component)),
            "exit {code}"
        );
        assert_eq!(c.usage.exit_code, Some(as_component));
    }
    // `exit-with-code` (wasi:cli 0.2.12) passes any code.
    let wasm = wat::parse_str(EXIT_WITH_CODE).expect("wat");
    let o = wasm_spell(&runtime(), &wasm, "")
        .cast(CastRequest::new())
        .expect("cast");
    assert_eq!((o.outcome, o.exit_code), (Outcome::Exit, Some(42)));
    // `run` returning its error is exit code 1.
    let wasm =
        wat::parse_str(EXIT_WITH_CODE.replace("(call $exit (i32.const 42))", "")).expect("wat");
    let o = wasm_spell(&runtime(), &wasm, "")
        .cast(CastRequest::new())
        .expect("cast");
    assert_eq!((o.outcome, o.exit_code), (Outcome::Exit, Some(1)));
    let o = comp
        .cast(CastRequest::new().args(["stderr", "oops"]))
        .expect("cast");
    assert_eq!(
        (o.outcome, o.stderr.as_slice()),
        (Outcome::Ok, &b"oops"[..])
    );
    assert_eq!(o.usage.stderr_bytes, 4);
}

#[test]
fn mounts_read_and_write_as_granted() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.txt"), "mounted data").expect("write");
    let (_, comp) = twins(r#""mounts":[{"guest":"/data","access":"rw"}]"#);
    let ro = || CastRequest::new().mount(dir.path(), "/data", Access::Ro);
    let o = comp
        .cast(ro().args(["read", "/data/in.txt"]))
        .expect("cast");
    assert_eq!(text(&o.stdout), "mounted data");
    let o = comp
        .cast(ro().args(["write", "/data/out.txt"]))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Exit, "{}", text(&o.stdout));
    assert!(!dir.path().join("out.txt").exists());
    // Nothing outside the mount.
    let o = comp
        .cast(ro().args(["read", "/data/../../etc/passwd"]))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Exit, "{}", text(&o.stdout));
    let o = comp
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/data", Access::Rw)
                .args(["write", "/data/out.txt"]),
        )
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{}", text(&o.stdout));
    let written = std::fs::read(dir.path().join("out.txt")).expect("written");
    assert_eq!(o.usage.disk_bytes_written, written.len() as u64);
}

#[test]
fn output_limit_ends_a_component() {
    let (_, comp) = twins("");
    let o = comp
        .cast(
            CastRequest::new()
                .arg("echo")
                .stdin(vec![b'x'; 100_000])
                .limits(Limits {
                    output_bytes: Some(1000),
                    ..Default::default()
                }),
        )
        .expect("cast");
    assert_eq!(o.outcome, Outcome::OutputLimit, "{:?}", o.detail);
    assert_eq!(o.stdout.len(), 1000);
    assert_eq!(o.usage.stdout_bytes, 1000);
}

#[test]
fn hooks_events_and_the_output_callback_see_a_component_cast() {
    let (_, comp) = twins("");
    let log = Arc::new(UsageLog::new());
    let chunks = Arc::new(Mutex::new(Vec::new()));
    let seen = chunks.clone();
    let o = comp
        .cast(
            CastRequest::new()
                .args(["echo", "x"])
                .stdin(vec![b'y'; 10_000])
                .meter(log.clone())
                .on_output(Arc::new(move |_, chunk: &[u8]| {
                    seen.lock().expect("chunks").extend_from_slice(chunk);
                    Ok(())
                }))
                .limits(Limits {
                    output_bytes: Some(100),
                    ..Default::default()
                }),
        )
        .expect("cast");
    assert_eq!(o.outcome, Outcome::OutputLimit);
    assert_eq!(*chunks.lock().expect("chunks"), o.stdout);
    let records = log.records();
    assert_eq!(records.len(), 1, "one record per cast");
    assert_eq!(records[0].cast_id, o.usage.cast_id);
    assert_eq!(records[0].outcome, Outcome::OutputLimit);
    let events = log.events();
    assert!(
        events.iter().any(|e| matches!(
            &e.kind,
            EventKind::LimitHit {
                outcome: Outcome::OutputLimit,
                ..
            }
        )),
        "{events:?}"
    );
}

#[test]
fn fuel_timeout_and_cancel_end_a_spinning_command() {
    let (_, comp) = twins("");
    spinning_command_ends(&comp);
}

/// Fuel, the deadline and cancellation each end `comp` cast with the argument `spin`.
pub fn spinning_command_ends(comp: &Spell) {
    let o = comp
        .cast(CastRequest::new().arg("spin").limits(Limits {
            fuel: Some(2_000_000),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::OutOfFuel);
    assert_eq!(o.usage.fuel, Some(2_000_000));

    let o = comp
        .cast(CastRequest::new().arg("spin").limits(Limits {
            wall_time_ms: Some(200),
            fuel: Some(10_000_000_000),
            ..Default::default()
        }))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout, "{:?}", o.detail);
    assert!(o.usage.wall_ns >= 200_000_000);

    let cancel = CancelHandle::new();
    let later = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        later.cancel();
    });
    let o = comp
        .cast(
            CastRequest::new()
                .arg("spin")
                .cancel(cancel)
                .limits(Limits {
                    fuel: Some(10_000_000_000),
                    ..Default::default()
                }),
        )
        .expect("cast");
    t.join().expect("canceller");
    assert_eq!(o.outcome, Outcome::Cancelled);
}

#[test]
fn exports_are_called_by_name() {
    let spell = exports_spell(r#""entrypoint":"answer""#);
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!((o.outcome, o.exit_code), (Outcome::Ok, None));
    assert_eq!(o.returned, vec![Val::I32(42)]);
    assert!(o.usage.fuel.expect("fuel") > 0);
    // Inside an exported interface.
    let o = spell
        .cast(CastRequest::new().export("acme:demo/api#answer"))
        .expect("cast");
    assert_eq!(o.returned, vec![Val::I32(42)]);
    // Not a command: no `_start`; parameters are refused like a module's.
    for name in ["_start", "add", "nope"] {
        let err = spell.cast(CastRequest::new().export(name)).expect_err(name);
        assert_eq!(err.code(), ErrorCode::CastSetup, "{name}");
    }
    let wasm = wat::parse_str(EXPORTS).expect("wat");
    let err = load_error(&runtime(), &wasm, r#""entrypoint":"add""#);
    assert_eq!(err.code(), ErrorCode::EntrypointInvalid);
    assert!(err.to_string().contains("takes parameters"), "{err}");
    let err = load_error(&runtime(), &wasm, "");
    assert_eq!(err.code(), ErrorCode::EntrypointInvalid);
}

#[test]
fn each_limit_and_outcome_of_a_component_export() {
    let spell = exports_spell(r#""entrypoint":"answer","limits":{"memory_bytes":1048576}"#);
    let cast = |export: &str, limits: Limits| -> CastOutcome {
        spell
            .cast(CastRequest::new().export(export).limits(limits))
            .expect("cast")
    };
    let o = cast("grow", Limits::default());
    assert_eq!(o.outcome, Outcome::MemoryLimit, "{:?}", o.detail);
    assert!(
        o.usage.memory_peak_bytes <= 1 << 20,
        "{}",
        o.usage.memory_peak_bytes
    );
    let o = cast("trap", Limits::default());
    assert_eq!(o.outcome, Outcome::Trap);
    assert_eq!(o.trap, Some(TrapKind::UnreachableCodeReached));
    let o = cast(
        "spin",
        Limits {
            fuel: Some(100_000),
            ..Default::default()
        },
    );
    assert_eq!(
        (o.outcome, o.usage.fuel),
        (Outcome::OutOfFuel, Some(100_000))
    );
    let o = cast(
        "spin",
        Limits {
            fuel: Some(10_000_000_000),
            wall_time_ms: Some(100),
            ..Default::default()
        },
    );
    assert_eq!(o.outcome, Outcome::Timeout);
}

#[test]
fn a_kind_mismatch_is_refused_with_its_code() {
    // Stated core, is a component: refused at pack ...
    let manifest = br#"{"name":"t","version":"1.0.0","license":"MIT","module":{"kind":"core"}}"#;
    let err = Package::pack(manifest, guest_component(), None, None).expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::ModuleKindMismatch);
    // ... and at load, for a package made by hand.
    let good = package(guest_component(), "");
    let pkg = Package::read(&good, &Default::default()).expect("read");
    let lying = String::from_utf8(pkg.manifest_bytes.clone())
        .expect("utf-8")
        .replace(r#""kind": "component""#, r#""kind": "core""#);
    let bytes = Package::assemble(lying.as_bytes(), &pkg.module, None, None);
    let policy = Policy::trusting(&pkg.manifest);
    let err = runtime().load(&bytes, &policy).expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::ModuleKindMismatch);
    assert_eq!(err.code().code(), "E-PKG-013");
}

/// A component of `instances` core instances of a module with one memory and one table,
/// exporting `answer` (42) from the last.
fn pooled(instances: usize) -> Vec<u8> {
    let wat = format!(
        r#"(component
  (core module $m
    (memory 1) (table 1 funcref)
    (func (export "answer") (result i32) i32.const 42))
  {}
  (core instance $last (instantiate $m))
  (func (export "answer") (result s32) (canon lift (core func $last "answer"))))"#,
        "(core instance (instantiate $m))".repeat(instances - 1)
    );
    wat::parse_str(wat).expect("wat")
}

#[test]
fn a_component_gets_a_casts_pool_slots_and_no_more() {
    // Up to four memories (and as many core instances and tables) cast on a one-cast runtime;
    // a fifth memory is refused at load, so no cast can take another's pooled slots (it trapped
    // at instantiation, after taking them, before the limit was per component).
    let rt = Runtime::builder()
        .max_concurrent_casts(1)
        .build()
        .expect("runtime");
    let spell = wasm_spell(&rt, &pooled(4), r#""entrypoint":"answer""#);
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.outcome, Outcome::Ok, "{:?}", o.detail);
    assert_eq!(o.returned, vec![Val::I32(42)]);
    let err = load_error(&runtime(), &pooled(5), r#""entrypoint":"answer""#);
    assert_eq!(err.code(), ErrorCode::ModuleInvalid);
    assert!(err.to_string().contains("5 Wasm linear memories"), "{err}");
}

#[test]
fn unsatisfied_imports_are_listed_in_full() {
    let wat = r#"(component
      (import "acme:kv/store@1.0.0" (instance $kv
        (export "get" (func (param "k" string) (result string)))
        (export "set" (func (param "k" string) (param "v" string)))))
      (import "acme:log/sink" (instance
        (export "write" (func (param "line" string)))))
      (import "wasi:http/outgoing-handler@0.2.6" (instance)))"#;
    let err = load_error(
        &runtime(),
        &wat::parse_str(wat).expect("wat"),
        r#""entrypoint":"x""#,
    );
    assert_eq!(err.code(), ErrorCode::ImportNotGranted);
    let Error::ImportNotGranted(list) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        list,
        &[
            "acme:kv/store@1.0.0#get",
            "acme:kv/store@1.0.0#set",
            "acme:log/sink#write",
            "wasi:http/outgoing-handler@0.2.6",
        ]
    );
}

#[test]
fn functions_missing_from_known_wasi_interfaces_are_listed_in_full() {
    // Real interfaces at older 0.2 versions (matched to the linker's 0.2.12), with functions
    // that exist beside ones that do not.
    let wat = r#"(component
      (import "wasi:cli/environment@0.2.0" (instance
        (export "get-environment" (func (result (list (tuple string string)))))
        (export "get-nonsense" (func))))
      (import "wasi:random/random@0.2.3" (instance
        (export "get-random-u64" (func (result u64)))
        (export "get-entropy" (func (result u64))))))"#;
    let err = load_error(
        &runtime(),
        &wat::parse_str(wat).expect("wat"),
        r#""entrypoint":"x""#,
    );
    let Error::ImportNotGranted(list) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        list,
        &[
            "wasi:cli/environment@0.2.0#get-nonsense",
            "wasi:random/random@0.2.3#get-entropy",
        ]
    );
}

#[test]
fn components_are_cached_in_memory_and_on_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = package(guest_component(), "");
    let manifest = Package::read(&bytes, &Default::default())
        .expect("read")
        .manifest;
    let policy = Policy::trusting(&manifest);
    let build = || {
        Runtime::builder()
            .cache_dir(dir.path())
            .build()
            .expect("runtime")
    };
    let first = build();
    first.load(&bytes, &policy).expect("load");
    first.load(&bytes, &policy).expect("load again");
    assert_eq!((first.stats().compiled, first.stats().memory_hits), (1, 1));
    // A second runtime (another process) loads the authenticated artifact.
    let second = build();
    let spell = second.load(&bytes, &policy).expect("load");
    assert_eq!((second.stats().compiled, second.stats().disk_hits), (0, 1));
    let o = spell
        .cast(CastRequest::new().args(["echo", "cached"]))
        .expect("cast");
    assert_eq!(text(&o.stdout), "arg:cached\nenv:(unset)\n");
}

#[test]
fn an_unverified_component_is_detected_by_its_header() {
    let spell = runtime()
        .load_unverified(
            guest_component(),
            spell_runtime::UnverifiedModule {
                name: "bare".into(),
                entrypoint: "_start".into(),
                grant: Policy::from_toml("allow_unsigned = true")
                    .expect("policy")
                    .grant(
                        &Package::read(&package(guest_component(), ""), &Default::default())
                            .expect("read")
                            .manifest,
                    )
                    .expect("grant"),
                max_module_bytes: 10 << 20,
            },
        )
        .expect("load");
    let o = spell
        .cast(CastRequest::new().args(["echo", "x"]))
        .expect("cast");
    assert_eq!(text(&o.stdout), "arg:x\nenv:(unset)\n");
}

/// A component that asks `wasi:sockets` for a TCP socket, a UDP socket and a name lookup; each
/// export returns `(is_err << 8) | error_code`. The imported instances name only the types
/// and functions it uses (a subset of what the host provides).
const SOCKETS: &str = r#"(component
  (import "wasi:sockets/network@0.2.0" (instance $network
    (export "network" (type (sub resource)))
    (type $ec (enum "unknown" "access-denied" "not-supported"
      "invalid-argument" "out-of-memory" "timeout" "concurrency-conflict" "not-in-progress"
      "would-block" "invalid-state" "new-socket-limit" "address-not-bindable" "address-in-use"
      "remote-unreachable" "connection-refused" "connection-reset" "connection-aborted"
      "datagram-too-large" "name-unresolvable" "temporary-resolver-failure"
      "permanent-resolver-failure"))
    (export "error-code" (type (eq $ec)))
    (type $af (enum "ipv4" "ipv6"))
    (export "ip-address-family" (type (eq $af)))))
  (alias export $network "network" (type $net))
  (alias export $network "error-code" (type $code))
  (alias export $network "ip-address-family" (type $family))
  (import "wasi:sockets/instance-network@0.2.0" (instance $instance_network
    (alias outer 1 $net (type $net))
    (export "instance-network" (func (result (own $net))))))
  (import "wasi:sockets/tcp@0.2.0" (instance $tcp
    (export "tcp-socket" (type (sub resource)))))
  (alias export $tcp "tcp-socket" (type $tcp_socket))
  (import "wasi:sockets/tcp-create-socket@0.2.0" (instance $tcp_create
    (alias outer 1 $code (type $code)) (alias outer 1 $family (type $family))
    (alias outer 1 $tcp_socket (type $tcp_socket))
    (export "create-tcp-socket" (func (param "address-family" $family)
      (result (result (own $tcp_socket) (error $code)))))))
  (import "wasi:sockets/udp@0.2.0" (instance $udp
    (export "udp-socket" (type (sub resource)))))
  (alias export $udp "udp-socket" (type $udp_socket))
  (import "wasi:sockets/udp-create-socket@0.2.0" (instance $udp_create
    (alias outer 1 $code (type $code)) (alias outer 1 $family (type $family))
    (alias outer 1 $udp_socket (type $udp_socket))
    (export "create-udp-socket" (func (param "address-family" $family)
      (result (result (own $udp_socket) (error $code)))))))
  (import "wasi:sockets/ip-name-lookup@0.2.0" (instance $lookup
    (alias outer 1 $net (type $net)) (alias outer 1 $code (type $code))
    (export "resolve-address-stream" (type $stream (sub resource)))
    (export "resolve-addresses" (func (param "network" (borrow $net)) (param "name" string)
      (result (result (own $stream) (error $code)))))))
  (core module $mem (memory (export "memory") 1))
  (core instance $mem (instantiate $mem))
  (alias core export $mem "memory" (core memory $memory))
  (core func $instance_network (canon lower (func $instance_network "instance-network")))
  (core func $create_tcp (canon lower (func $tcp_create "create-tcp-socket") (memory $memory)))
  (core func $create_udp (canon lower (func $udp_create "create-udp-socket") (memory $memory)))
  (core func $resolve (canon lower (func $lookup "resolve-addresses") (memory $memory)))
  (core module $m
    (import "mem" "memory" (memory 1))
    (import "wasi" "instance-network" (func $instance_network (result i32)))
    (import "wasi" "create-tcp" (func $create_tcp (param i32 i32)))
    (import "wasi" "create-udp" (func $create_udp (param i32 i32)))
    (import "wasi" "resolve" (func $resolve (param i32 i32 i32 i32)))
    (data (i32.const 64) "localhost")
    (func $answer (result i32)
      (i32.or (i32.shl (i32.load8_u (i32.const 0)) (i32.const 8)) (i32.load8_u (i32.const 4))))
    (func (export "tcp") (result i32) (call $create_tcp (i32.const 0) (i32.const 0)) (call $answer))
    (func (export "udp") (result i32) (call $create_udp (i32.const 0) (i32.const 0)) (call $answer))
    (func (export "lookup") (result i32)
      (call $resolve (call $instance_network) (i32.const 64) (i32.const 9) (i32.const 0))
      (call $answer)))
  (core instance $i (instantiate $m
    (with "mem" (instance $mem))
    (with "wasi" (instance
      (export "instance-network" (func $instance_network))
      (export "create-tcp" (func $create_tcp))
      (export "create-udp" (func $create_udp))
      (export "resolve" (func $resolve))))))
  (func (export "tcp") (result u32) (canon lift (core func $i "tcp")))
  (func (export "udp") (result u32) (canon lift (core func $i "udp")))
  (func (export "lookup") (result u32) (canon lift (core func $i "lookup"))))"#;

#[test]
fn sockets_are_refused_even_with_the_network_capability() {
    // wasi:sockets is linked (the preview-1 adapter and many toolchains import it) but never
    // granted, since socket bytes cannot be counted against the network limits the way Spell's
    // HTTP capability counts them: sockets get `access-denied` (1), a name lookup
    // `permanent-resolver-failure` (20, wasmtime-wasi's answer when lookups are off: no query
    // is sent).
    let denied = |code: i32| 1 << 8 | code;
    let wasm = wat::parse_str(SOCKETS).expect("wat");
    for caps in [
        "",
        r#","capabilities":{"network":["http://127.0.0.1","http://localhost"]}"#,
    ] {
        let spell = wasm_spell(&runtime(), &wasm, &format!(r#""entrypoint":"tcp"{caps}"#));
        for (export, code) in [("tcp", 1), ("udp", 1), ("lookup", 20)] {
            let o = spell.cast(CastRequest::new().export(export)).expect("cast");
            assert_eq!(o.outcome, Outcome::Ok, "{export}{caps}: {o:?}");
            assert_eq!(o.returned, vec![Val::I32(denied(code))], "{export}{caps}");
        }
    }
}

/// A component importing the runtime's host functions `math::add` and `math::fail` as the
/// instance `math`; `sum` returns add(40, 2), `boom` calls fail.
const HOST_CALLER: &str = r#"(component
  (import "math" (instance $math
    (export "add" (func (param "a" s32) (param "b" s32) (result s32)))
    (export "fail" (func (result s32)))))
  (core func $add (canon lower (func $math "add")))
  (core func $fail (canon lower (func $math "fail")))
  (core module $m
    (import "math" "add" (func $add (param i32 i32) (result i32)))
    (import "math" "fail" (func $fail (result i32)))
    (func (export "sum") (result i32) (call $add (i32.const 40) (i32.const 2)))
    (func (export "boom") (result i32) (call $fail)))
  (core instance $i (instantiate $m
    (with "math" (instance (export "add" (func $add)) (export "fail" (func $fail))))))
  (func (export "sum") (result s32) (canon lift (core func $i "sum")))
  (func (export "boom") (result s32) (canon lift (core func $i "boom"))))"#;

fn math_runtime(add_params: [spell_runtime::ValType; 2]) -> Runtime {
    use spell_runtime::{HostError, HostFunction, ValType};
    Runtime::builder()
        .host_function(HostFunction::new(
            "math",
            "add",
            add_params,
            [ValType::I32],
            |call, args| {
                // A component shares no memory with host functions; values only.
                assert!(call.read(0, 1).is_err());
                let (a, b) = (args[0].i32().unwrap_or(0), args[1].i32().unwrap_or(0));
                Ok(vec![Val::I32(a + b)])
            },
        ))
        .host_function(HostFunction::new(
            "math",
            "fail",
            [],
            [ValType::I32],
            |_, _| Err(HostError::new("no answer today")),
        ))
        .build()
        .expect("runtime")
}

#[test]
fn components_call_granted_host_functions_by_value() {
    use spell_runtime::ValType;
    let wasm = wat::parse_str(HOST_CALLER).expect("wat");
    let policy =
        Policy::from_toml("allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::*\"]")
            .expect("policy");
    let asks = |functions: &str| {
        package(
            &wasm,
            &format!(r#""entrypoint":"sum","capabilities":{{"host_functions":[{functions}]}}"#),
        )
    };
    let rt = math_runtime([ValType::I32, ValType::I32]);
    let spell = rt
        .load(&asks(r#""math::add","math::fail""#), &policy)
        .expect("load");
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!((o.outcome, o.returned), (Outcome::Ok, vec![Val::I32(42)]));
    // A failing host function ends the cast as it does a module's, and is its hook error.
    let o = spell.cast(CastRequest::new().export("boom")).expect("cast");
    assert_eq!(
        (o.outcome, o.trap),
        (Outcome::Trap, Some(TrapKind::HostError))
    );
    assert!(o.detail.expect("detail").contains("no answer today"));
    assert_eq!(o.hook_error.expect("hook error").hook, "math::fail");
    // Not granted to this spell: refused at load, named.
    let err = rt
        .load(&asks(r#""math::add""#), &policy)
        .expect_err("math::fail is not granted");
    let Error::ImportNotGranted(list) = &err else {
        panic!("{err}")
    };
    assert_eq!(list, &["math#fail"]);
    // Registered with another signature (i64 parameters): refused at load, named.
    let other = math_runtime([ValType::I64, ValType::I64]);
    let err = other
        .load(&asks(r#""math::add","math::fail""#), &policy)
        .expect_err("math::add takes i64 here");
    let Error::ImportNotGranted(list) = &err else {
        panic!("{err}")
    };
    assert_eq!(list, &["math#add"]);
}
