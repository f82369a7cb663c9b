//! A real third-party component: a Python `wasi:cli/command` made by PyPI's `componentize-py`
//! (CPython, its libc and runtime as 14 core instances in one 18 MB component, installed by
//! `scripts/install-deps.sh`), cast on one-cast runtimes with and without WASI preview 3.

use crate::guests::package;
use spell_core::{Limits, Package, PackageLimits, Policy};
use spell_runtime::{CastRequest, Outcome, Runtime};
use std::path::Path;
use std::process::Command;

const APP: &str = r#"import os
import sys
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("hello from python:", sys.argv[1:], os.environ.get("GREETING"))
        print("stdin:", sys.stdin.read())
        print("sum:", sum(range(100_000)))
"#;

/// Builds the command from [`APP`] with `componentize-py` against `tests/wit`'s WASI 0.2.12.
fn python_command() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("app.py"), APP).expect("app.py");
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wit");
    let out = Command::new("python3")
        .args(["-c", "import componentize_py; componentize_py.script()"])
        .arg("-d")
        .arg(&wit)
        .args([
            "-w",
            "wasi:cli/command@0.2.12",
            "componentize",
            "app",
            "-o",
            "app.wasm",
        ])
        .current_dir(dir.path())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "componentize-py (run scripts/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.path().join("app.wasm")).expect("app.wasm")
}

#[test]
fn a_componentize_py_command_casts_on_a_one_cast_runtime() {
    let wasm = python_command();
    let bytes = package(
        &wasm,
        r#""capabilities":{"env":["GREETING"]},"limits":{"memory_bytes":268435456}"#,
    );
    let limits = PackageLimits {
        max_package_bytes: 32 << 20,
        max_module_bytes: 32 << 20,
    };
    let manifest = Package::read(&bytes, &limits).expect("read").manifest;
    let policy = Policy {
        package: limits,
        ..Policy::trusting(&manifest)
    };
    // More core instances than the pool once reserved per cast (8): on a one-cast runtime the
    // instantiation trapped. With preview 3 on, its 3 component instances are within bounds.
    for p3 in [false, true] {
        let rt = Runtime::builder()
            .max_concurrent_casts(1)
            .wasi_p3(p3)
            .build()
            .expect("runtime");
        let spell = rt.load(&bytes, &policy).expect("load");
        let o = spell
            .cast(
                CastRequest::new()
                    .args(["a", "b"])
                    .env("GREETING", "hi")
                    .stdin(b"in".to_vec()),
            )
            .expect("cast");
        assert_eq!(o.outcome, Outcome::Ok, "p3 {p3}: {:?}", o.detail);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "hello from python: ['a', 'b'] hi\nstdin: in\nsum: 4999950000\n",
            "p3 {p3}"
        );
        assert_eq!(o.exit_code, Some(0));
        assert!(o.usage.fuel.expect("fuel") > 1_000_000, "{:?}", o.usage);
        assert!(o.usage.memory_peak_bytes > 1 << 20, "{:?}", o.usage);
        // The limits hold for it: a cap below what it prints.
        let o = spell
            .cast(CastRequest::new().limits(Limits {
                output_bytes: Some(20),
                ..Limits::default()
            }))
            .expect("cast");
        assert_eq!(o.outcome, Outcome::OutputLimit, "p3 {p3}");
        assert_eq!(o.stdout.len(), 20);
    }
}
