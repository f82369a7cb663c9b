//! Host functions: granted ones link and run; anything else is refused at load, all listed.

use crate::guests::package;
use spell_core::Policy;
use spell_runtime::{
    CastRequest, Error, HostError, HostFunction, Outcome, Runtime, TrapKind, Val, ValType,
};

const GUEST: &str = r#"(module
  (import "math" "add" (func $add (param i32 i32) (result i32)))
  (import "log" "line" (func $line (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "from the guest")
  (func (export "run") (result i32)
    (call $line (i32.const 0) (i32.const 14))
    (call $add (i32.const 40) (i32.const 2)))
  (func (export "bad") (call $line (i32.const 65530) (i32.const 100))))"#;

fn runtime(lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Runtime {
    Runtime::builder()
        .host_function(HostFunction::new(
            "math",
            "add",
            [ValType::I32, ValType::I32],
            [ValType::I32],
            |_, args| {
                Ok(vec![Val::I32(
                    args[0].i32().unwrap_or(0) + args[1].i32().unwrap_or(0),
                )])
            },
        ))
        .host_function(HostFunction::new(
            "log",
            "line",
            [ValType::I32, ValType::I32],
            [],
            move |call, args| {
                let (ptr, len) = (
                    args[0].i32().unwrap_or(0) as u32,
                    args[1].i32().unwrap_or(0) as u32,
                );
                lines
                    .lock()
                    .map_err(|_| HostError::new("poisoned"))?
                    .push(call.read_str(ptr, len)?);
                Ok(vec![])
            },
        ))
        .build()
        .expect("runtime")
}

fn manifest(host_functions: &str) -> String {
    format!(r#""entrypoint":"run","capabilities":{{"host_functions":[{host_functions}]}}"#)
}

#[test]
fn granted_host_functions_are_called_with_guest_memory() {
    let lines = Default::default();
    let rt = runtime(std::sync::Arc::clone(&lines));
    let wasm = wat::parse_str(GUEST).expect("wat");
    let policy = Policy::from_toml(
        "allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::*\", \"log::line\"]",
    )
    .expect("policy");
    let spell = rt
        .load(
            &package(&wasm, &manifest(r#""math::add","log::line""#)),
            &policy,
        )
        .expect("load");
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(o.returned, vec![Val::I32(42)]);
    assert_eq!(
        *lines.lock().expect("lock"),
        vec!["from the guest".to_string()]
    );
    // A host function refusing bad guest pointers ends the cast as a host_error trap.
    let bad = spell.cast(CastRequest::new().export("bad")).expect("cast");
    assert_eq!(
        (bad.outcome, bad.trap),
        (Outcome::Trap, Some(TrapKind::HostError))
    );
    assert!(bad.detail.expect("detail").contains("out of bounds"));
    let failure = bad.hook_error.expect("the host function's failure");
    assert_eq!(failure.hook, "log::line");
    assert!(
        failure.message.contains("out of bounds"),
        "{}",
        failure.message
    );
}

#[test]
fn a_host_function_error_keeps_its_source_on_the_outcome() {
    let rt = Runtime::builder()
        .host_function(HostFunction::new(
            "kv",
            "get",
            [],
            [ValType::I32],
            |_, _| {
                let down = std::io::Error::other("kv store unreachable");
                Err(HostError::new("lookup failed").with_source(down))
            },
        ))
        .build()
        .expect("runtime");
    let wasm = wat::parse_str(
        r#"(module (import "kv" "get" (func $get (result i32)))
            (func (export "run") (drop (call $get))))"#,
    )
    .expect("wat");
    let policy =
        Policy::from_toml("allow_unsigned = true\n[capabilities]\nhost_functions = [\"kv::get\"]")
            .expect("policy");
    let spell = rt
        .load(&package(&wasm, &manifest(r#""kv::get""#)), &policy)
        .expect("load");
    let o = spell.cast(CastRequest::new()).expect("cast");
    assert_eq!(
        (o.outcome, o.trap),
        (Outcome::Trap, Some(TrapKind::HostError))
    );
    assert_eq!(
        o.detail.as_deref(),
        Some("host function `kv::get` failed: lookup failed")
    );
    let e = o.hook_error.expect("hook error");
    assert_eq!(
        (e.hook.as_str(), e.message.as_str()),
        ("kv::get", "lookup failed")
    );
    let source = std::error::Error::source(&e).expect("source");
    assert_eq!(source.to_string(), "kv store unreachable");
}

#[test]
fn ungranted_imports_are_all_listed_at_load() {
    let rt = runtime(Default::default());
    let wasm = wat::parse_str(GUEST).expect("wat");
    let policy = Policy::from_toml(
        "allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::add\"]",
    )
    .expect("policy");
    // The manifest asks only for math::add: log::line is not granted to it.
    let err = rt
        .load(&package(&wasm, &manifest(r#""math::add""#)), &policy)
        .expect_err("refused");
    match err {
        Error::ImportNotGranted(names) => assert_eq!(names, ["log::line"]),
        other => panic!("{other}"),
    }
    // Imports nobody registered, and non-function imports, are listed too.
    let odd = wat::parse_str(r#"(module (import "env" "f" (func)) (import "env" "mem" (memory 1)) (func (export "run")))"#).expect("wat");
    let err = Runtime::new().expect("rt").load(
        &package(&odd, r#""entrypoint":"run""#),
        &Policy::from_toml("allow_unsigned = true").expect("p"),
    );
    match err {
        Err(Error::ImportNotGranted(names)) => assert_eq!(names, ["env::f", "env::mem"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reserved_and_duplicate_registrations_are_refused() {
    let f = || HostFunction::new("spell", "x", [], [], |_, _| Ok(vec![]));
    assert!(matches!(
        Runtime::builder().host_function(f()).build(),
        Err(Error::HostFunction { .. })
    ));
    let g = || HostFunction::new("kv", "get", [], [], |_, _| Ok(vec![]));
    assert!(matches!(
        Runtime::builder()
            .host_function(g())
            .host_function(g())
            .build(),
        Err(Error::HostFunction { .. })
    ));
}
