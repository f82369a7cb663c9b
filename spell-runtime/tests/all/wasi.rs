//! WASI behaviour with a C guest built by clang-14: args, env, stdin, stdout/stderr, exit codes,
//! read-only and read-write mounts, and escape attempts.

use crate::guests::{c_guest, runtime, wasm_spell};
use spell_core::Access;
use spell_runtime::{CastOutcome, CastRequest, Error, Outcome, Spell};

fn guest(caps: &str) -> Spell {
    wasm_spell(
        &runtime(),
        &c_guest("guest"),
        &format!(r#""capabilities":{{{caps}}}"#),
    )
}

fn stdout(o: &CastOutcome) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn args_env_and_stdin_reach_the_guest() {
    let spell = guest(r#""env":["GREETING"]"#);
    let o = spell
        .cast(
            CastRequest::new()
                .args(["echo", "a b", "ü"])
                .env("GREETING", "hi")
                .stdin(b"from stdin".to_vec()),
        )
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Ok);
    assert_eq!(o.exit_code, Some(0));
    assert_eq!(stdout(&o), "arg:a b\narg:ü\nenv:hi\nfrom stdin");
    assert_eq!(o.usage.stdout_bytes, o.stdout.len() as u64);
}

#[test]
fn ungranted_env_is_refused_and_absent_env_is_unset() {
    let spell = guest("");
    let err = spell
        .cast(CastRequest::new().arg("echo").env("GREETING", "hi"))
        .expect_err("not granted");
    assert!(matches!(err, Error::RequestDenied(_)));
    // The host's own environment never leaks in.
    let o = spell.cast(CastRequest::new().arg("echo")).expect("cast");
    assert_eq!(stdout(&o), "env:(unset)\n");
}

#[test]
fn exit_codes_and_stderr() {
    let spell = guest("");
    let o = spell
        .cast(CastRequest::new().args(["exit", "3"]))
        .expect("cast");
    assert_eq!((o.outcome, o.exit_code), (Outcome::Exit, Some(3)));
    let o = spell
        .cast(CastRequest::new().args(["stderr", "oops"]))
        .expect("cast");
    assert_eq!(
        (o.outcome, o.stderr.as_slice()),
        (Outcome::Ok, &b"oops"[..])
    );
    assert_eq!(o.usage.stderr_bytes, 4);
}

#[test]
fn read_only_mount_reads_but_refuses_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.txt"), "mounted data").expect("write");
    let spell = guest(r#""mounts":[{"guest":"/data"}]"#);
    let req = || CastRequest::new().mount(dir.path(), "/data", Access::Ro);
    let o = spell
        .cast(req().args(["read", "/data/in.txt"]))
        .expect("cast");
    assert_eq!(stdout(&o), "mounted data");
    let o = spell
        .cast(req().args(["write", "/data/out.txt"]))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Exit, "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("error: open /data/out.txt"),
        "{}",
        stdout(&o)
    );
    assert!(!dir.path().join("out.txt").exists());
    // Asking for read-write on a read-only grant is refused before the cast.
    let err = spell.cast(
        CastRequest::new()
            .mount(dir.path(), "/data", Access::Rw)
            .args(["write", "/data/x"]),
    );
    assert!(matches!(err, Err(Error::RequestDenied(_))));
}

#[test]
fn read_write_mount_writes_where_granted() {
    let dir = tempfile::tempdir().expect("tmp");
    let spell = guest(r#""mounts":[{"guest":"/out","access":"rw"}]"#);
    let o = spell
        .cast(
            CastRequest::new()
                .mount(dir.path(), "/out", Access::Rw)
                .args(["write", "/out/f.txt"]),
        )
        .expect("cast");
    assert_eq!((o.outcome, stdout(&o).as_str()), (Outcome::Ok, "ok\n"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("f.txt")).expect("read"),
        "written"
    );
}

#[test]
fn nothing_escapes_a_mount() {
    let outside = tempfile::tempdir().expect("tmp");
    std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    let dir = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("link"))
        .expect("symlink");
    let spell = guest(r#""mounts":[{"guest":"/data"}]"#);
    let secret = outside.path().join("secret.txt");
    let dotdot = format!("/data/../{}", secret.display());
    let attempts = [
        "/data/link",
        "/data/../secret.txt",
        dotdot.as_str(),
        secret.to_str().expect("utf8"),
        "/etc/passwd",
    ];
    for path in attempts {
        let o = spell
            .cast(
                CastRequest::new()
                    .mount(dir.path(), "/data", Access::Ro)
                    .args(["read", path]),
            )
            .expect("cast");
        assert_eq!(o.outcome, Outcome::Exit, "{path}: {}", stdout(&o));
        assert!(
            stdout(&o).starts_with("error: open"),
            "{path}: {}",
            stdout(&o)
        );
    }
    // Without a mount there is no filesystem at all.
    let o = guest("")
        .cast(CastRequest::new().args(["read", "/etc/passwd"]))
        .expect("cast");
    assert_eq!(o.outcome, Outcome::Exit);
}

#[test]
fn ungranted_mount_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = guest("").cast(
        CastRequest::new()
            .mount(dir.path(), "/data", Access::Ro)
            .args(["read", "/data/x"]),
    );
    assert!(matches!(err, Err(Error::RequestDenied(_))));
}

#[test]
fn spinning_c_guest_is_stopped_by_fuel_and_by_time() {
    let spell = wasm_spell(
        &runtime(),
        &c_guest("guest"),
        r#""limits":{"fuel":2000000,"wall_time_ms":100}"#,
    );
    let o = spell.cast(CastRequest::new().arg("spin")).expect("cast");
    assert_eq!(o.outcome, Outcome::OutOfFuel);
    let slow = wasm_spell(
        &runtime(),
        &c_guest("guest"),
        r#""limits":{"fuel":100000000000,"wall_time_ms":100}"#,
    );
    let o = slow.cast(CastRequest::new().arg("spin")).expect("cast");
    assert_eq!(o.outcome, Outcome::Timeout);
}
