//! `spell cast` of a C guest that uses `guest/include/spell_guest.h` to reach an HTTP server this
//! test starts on 127.0.0.1: built with clang-14, packed with `spell pack`, cast under a policy.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

mod support;
use support::{root, spell, text};

/// Bytes a served connection read and wrote.
struct Seen {
    read: u64,
    written: u64,
}

/// Serves `200 hello` to each connection; returns its port and what each connection moved.
fn serve() -> (u16, Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let (mut data, mut buf) = (Vec::new(), [0u8; 4096]);
            while !data.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
            let written = if conn.write_all(reply).is_ok() {
                reply.len() as u64
            } else {
                0
            };
            let _ = conn.shutdown(Shutdown::Write);
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                data.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send(Seen {
                read: data.len() as u64,
                written,
            });
        }
    });
    (port, rx)
}

/// Builds `guest/examples/fetch.c` and packs it as `dir/fetch.spell`, asking for `network`.
fn pack_fetch(dir: &Path, network: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let status = Command::new("clang-14")
        .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-I"])
        .arg(root().join("guest/include"))
        .arg(root().join("guest/examples/fetch.c"))
        .arg("-o")
        .arg(src.join("module.wasm"))
        .status()
        .expect("clang-14 not found: run scripts/install-deps.sh");
    assert!(status.success(), "clang-14 failed on fetch.c");
    let manifest = format!(
        r#"{{"name":"fetch","version":"1.0.0","license":"MIT","capabilities":{{"network":["{network}"]}}}}"#
    );
    std::fs::write(src.join("spell.json"), manifest).expect("manifest");
    let out = dir.join("fetch.spell");
    let o = spell(&[
        "pack",
        src.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

#[test]
fn c_guest_fetches_through_spell_cast_and_usage_matches_the_server() {
    let (port, seen) = serve();
    let dir = tempfile::tempdir().expect("tmp");
    let pattern = format!("http://127.0.0.1:{port}");
    let package = pack_fetch(dir.path(), &pattern);
    let policy = dir.path().join("policy.toml");
    let with_address = format!(
        "allow_unsigned = true\n[capabilities]\nnetwork = [\"{pattern}\"]\n[network]\nallow_addresses = [\"127.0.0.1/32\"]\n"
    );
    std::fs::write(&policy, with_address).expect("policy");
    let url = format!("{pattern}/greeting");
    let (package, policy) = (
        package.to_str().expect("utf8"),
        policy.to_str().expect("utf8"),
    );

    let o = spell(&[
        "cast", package, "--policy", policy, "--json", "--", "-X", "POST", "-d", "hi", &url,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["outcome"], "ok");
    let stdout = v["stdout"].as_str().expect("stdout");
    assert!(
        stdout.starts_with(&format!(
            "> POST {url}\n< rc=0 status=200 headers=18 body=5\ncontent-length: 5\nhello"
        )),
        "{stdout}"
    );
    let s = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("the server saw the request");
    assert_eq!(v["usage"]["net_requests"], 1);
    assert_eq!(v["usage"]["net_bytes_out"], s.read);
    assert_eq!(v["usage"]["net_bytes_in"], s.written);
}

#[test]
fn loopback_needs_the_address_in_the_policy_even_when_the_pattern_is_granted() {
    let (port, seen) = serve();
    let dir = tempfile::tempdir().expect("tmp");
    let pattern = format!("http://127.0.0.1:{port}");
    let package = pack_fetch(dir.path(), &pattern);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("allow_unsigned = true\n[capabilities]\nnetwork = [\"{pattern}\"]\n"),
    )
    .expect("policy");
    let (package, policy) = (
        package.to_str().expect("utf8"),
        policy.to_str().expect("utf8"),
    );
    let url = format!("{pattern}/");
    // With the pattern-only policy, and without a policy (the manifest is trusted, the guard is not lifted).
    for args in [
        vec!["cast", package, "--policy", policy, "--", &url],
        vec!["cast", package, "--", &url],
    ] {
        let o = spell(&args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "fetch exits 1 on an error code: {}",
            text(&o.stderr)
        );
        assert!(
            text(&o.stdout).contains("< rc=802 status=0"),
            "{}",
            text(&o.stdout)
        );
        assert!(
            text(&o.stdout).contains("127.0.0.1 (loopback)"),
            "{}",
            text(&o.stdout)
        );
    }
    assert!(
        seen.recv_timeout(Duration::from_millis(100)).is_err(),
        "the server was reached"
    );
}
