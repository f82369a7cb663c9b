//! The `spell::http_request` import against real HTTP servers this test starts on 127.0.0.1.
//!
//! The guest is `guest/examples/fetch.c` (a small curl over `spell_guest.h`), built with
//! clang-14 once per run; ABI edge cases use inline WAT. Nothing here reaches an address outside
//! 127.0.0.0/8: refused destinations are refused before any connection, and names other than
//! `localhost` are resolved by [`FakeDns`] on 127.0.0.1.

#[path = "support/private_ca.rs"]
mod private_ca;
use private_ca::PrivateCa;

#[path = "all/guests.rs"]
#[allow(
    dead_code,
    reason = "the guest builders the `all` tests share; these use a few"
)]
mod guests;

use guests::runtime;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use spell_core::{ErrorCode, HasCode, Package, Policy};
use spell_runtime::{
    CastOutcome, CastRequest, EventKind, Outcome, Runtime, Spell, UsageLog, UsageRecord, Val,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

// ---------------------------------------------------------------------------------------------
// Test servers

/// What a test server answers to every request.
#[derive(Clone)]
enum Reply {
    /// 200 with this body.
    Body(&'static str),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with a body of this many bytes, written until the client goes away.
    Big(usize),
    /// Waits this long before answering 200.
    Slow(Duration),
    /// Sends [`STALLED_HEAD`] and then nothing for this long.
    Stall(Duration),
    /// Answers 200 at once, before reading anything (a TLS client gets plaintext back).
    Eager,
    /// Writes these bytes as the response, whatever they are.
    Raw(Arc<Vec<u8>>),
}

/// The start of a response that never completes.
const STALLED_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial";

/// One connection as the server saw it.
#[derive(Debug)]
struct Seen {
    head: String,
    body: Vec<u8>,
    bytes_read: u64,
    bytes_written: u64,
}

impl Seen {
    /// The request line, and each of `headers` somewhere in the head.
    fn assert_head(&self, request_line: &str, headers: &[String]) {
        assert!(self.head.starts_with(request_line), "{}", self.head);
        for header in headers {
            assert!(
                self.head.contains(header),
                "{header:?} missing from {}",
                self.head
            );
        }
    }

    /// The cast was billed the bytes this connection moved: out what the server read, in what
    /// it wrote.
    fn assert_billed(&self, usage: &UsageRecord) {
        assert_eq!(
            (usage.net_bytes_out, usage.net_bytes_in),
            (self.bytes_read, self.bytes_written),
            "bytes out and in = bytes the server read and wrote"
        );
    }
}

struct Server {
    port: u16,
    seen: Receiver<Seen>,
    /// `https` when TLS ends here.
    scheme: &'static str,
}

impl Server {
    fn start(reply: Reply) -> Server {
        Server::listen(reply, None)
    }

    /// An HTTPS server (TLS ends here; `Seen` counts the HTTP bytes inside it).
    fn start_tls(reply: Reply, tls: &TestCa) -> Server {
        Server::listen(reply, Some(tls.server_config()))
    }

    fn listen(reply: Reply, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, seen) = channel();
        let scheme = if tls.is_some() { "https" } else { "http" };
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (reply, tx): (Reply, Sender<Seen>) = (reply.clone(), tx.clone());
                let tls = tls.clone();
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(10)))
                        .expect("timeout");
                    let seen = match tls {
                        None => serve(conn, &reply),
                        Some(config) => {
                            let session = rustls::ServerConnection::new(config).expect("tls");
                            serve(rustls::StreamOwned::new(session, conn), &reply)
                        }
                    };
                    let _ = tx.send(seen);
                });
            }
        });
        Server { port, seen, scheme }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.pattern())
    }

    fn pattern(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The next finished connection.
    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(10))
            .expect("the server saw no connection")
    }

    /// Asserts that no connection arrived.
    fn assert_untouched(&self) {
        assert!(
            self.seen.recv_timeout(Duration::from_millis(100)).is_err(),
            "the server was reached"
        );
    }
}

/// A server connection: plain TCP or TLS over it.
trait Conn: Read + Write {
    /// Ends the server's side of the conversation.
    fn close_write(&mut self);
}

impl Conn for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close_write(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// A private CA and a certificate for 127.0.0.1 it signed.
struct TestCa {
    root: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let ca = PrivateCa::new();
        let (leaf, key) = ca.sign("127.0.0.1");
        TestCa {
            root: ca.root.der().to_vec(),
            chain: vec![leaf.der().clone(), ca.root.der().clone()],
            key: key.serialize_der(),
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::try_from(self.key.clone()).expect("key der");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .expect("server config");
        Arc::new(config)
    }
}

fn serve(mut conn: impl Conn, reply: &Reply) -> Seen {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 << 10];
    if let Reply::Eager = reply {
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    }
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break data.len(),
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = data[head_end..].to_vec();
    let mut written = 0u64;
    let mut send = |bytes: &[u8]| match conn.write_all(bytes) {
        Ok(()) => {
            written += bytes.len() as u64;
            true
        }
        Err(_) => false,
    };
    match reply {
        Reply::Body(b) => {
            send(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{b}",
                    b.len()
                )
                .as_bytes(),
            );
        }
        Reply::Redirect(to) => {
            send(
                format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n")
                    .as_bytes(),
            );
        }
        Reply::Big(n) => {
            let chunk = vec![b'x'; 16 << 10];
            let mut left = *n;
            let mut ok = send(format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n").as_bytes());
            while ok && left > 0 {
                let k = left.min(chunk.len());
                ok = send(&chunk[..k]);
                left -= k;
            }
        }
        Reply::Slow(wait) => {
            std::thread::sleep(*wait);
            send(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate");
        }
        Reply::Stall(wait) => {
            send(STALLED_HEAD.as_bytes());
            std::thread::sleep(*wait);
        }
        Reply::Eager => {}
        Reply::Raw(bytes) => {
            send(bytes);
        }
    }
    conn.close_write();
    // Whatever else the client sends before closing counts too.
    let mut extra = 0;
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        extra += n;
    }
    Seen {
        head,
        body,
        bytes_read: (data.len() + extra) as u64,
        bytes_written: written,
    }
}

/// A DNS server on 127.0.0.1 (UDP, a random port) for names under `spell.test`: `A 127.0.0.1`
/// for `ok.spell.test` (and no AAAA), never an answer for names starting with `silent`, NXDOMAIN
/// for the rest. Records every query's name.
struct FakeDns {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let (queries, stop) = (Arc::default(), Arc::new(AtomicBool::new(false)));
        let (seen, stopped): (Arc<Mutex<Vec<String>>>, _) = (Arc::clone(&queries), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, reply)) = answer(&buf[..n]) else {
                    continue;
                };
                seen.lock().expect("queries").push(name);
                let Some(reply) = reply else {
                    continue;
                };
                let _ = socket.send_to(&reply, from);
            }
        });
        FakeDns {
            addr,
            queries,
            stop,
        }
    }

    /// A runtime whose spells resolve names here.
    fn runtime(&self) -> Runtime {
        Runtime::builder()
            .max_concurrent_casts(4)
            .dns_servers(vec![self.addr])
            .build()
            .expect("runtime")
    }

    /// How many queries for `name` arrived so far.
    fn queries_for(&self, name: &str) -> usize {
        let queries = self.queries.lock().expect("queries");
        queries.iter().filter(|q| *q == name).count()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A query's name (lowercase, no final dot) and the answer to it: none for names starting with
/// `silent`, `A 127.0.0.1` for `ok.spell.test` (no other type), NXDOMAIN for the rest.
fn answer(packet: &[u8]) -> Option<(String, Option<Vec<u8>>)> {
    let query = Message::from_vec(packet).ok()?;
    let question = query.queries.first()?;
    let name = question.name().to_lowercase().to_ascii();
    let name = name.trim_end_matches('.').to_owned();
    if name.starts_with("silent") {
        return Some((name, None));
    }
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    if name != "ok.spell.test" {
        reply.metadata.response_code = ResponseCode::NXDomain;
    } else if question.query_type() == RecordType::A {
        let a = RData::A(A(Ipv4Addr::LOCALHOST));
        reply.add_answer(Record::from_rdata(question.name().clone(), 60, a));
    }
    reply.add_query(question.clone());
    Some((name, reply.to_vec().ok()))
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

/// Runs `body` alone in a child process (this test binary running only `test`), so that thread
/// counts and the time to exit are its own; returns how long the child took, exit included.
fn alone(test: &str, body: impl FnOnce()) -> Duration {
    const CHILD: &str = "SPELL_NETWORK_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        body();
        return Duration::ZERO;
    }
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("run the test alone");
    let took = started.elapsed();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{test} alone: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

// ---------------------------------------------------------------------------------------------
// Guests and spells

/// `guest/examples/fetch.c`, built once per process.
fn fetch_wasm() -> Vec<u8> {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        // One file per process: a test run `alone` builds it in a child at the same time.
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("network-fetch-{}.wasm", std::process::id()));
        let status = Command::new("clang-14")
            .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-I"])
            .arg(repo.join("guest/include"))
            .arg(repo.join("guest/examples/fetch.c"))
            .arg("-o")
            .arg(&out)
            .status()
            .expect("clang-14 not found: run scripts/install-deps.sh");
        assert!(status.success(), "clang-14 failed on fetch.c");
        let wasm = std::fs::read(&out).expect("read fetch.wasm");
        let _ = std::fs::remove_file(&out);
        wasm
    })
    .clone()
}

/// Loads `wasm` asking for `network` (and `limits`, JSON members) under a policy that allows
/// `network` and has `policy_extra` appended.
fn load(
    wasm: &[u8],
    network: &[String],
    limits: &str,
    policy_extra: &str,
) -> Result<Spell, spell_runtime::Error> {
    load_in(&runtime(), wasm, network, limits, policy_extra)
}

fn load_in(
    runtime: &Runtime,
    wasm: &[u8],
    network: &[String],
    limits: &str,
    policy_extra: &str,
) -> Result<Spell, spell_runtime::Error> {
    let manifest = format!(
        r#"{{"name":"fetch","version":"1.0.0","license":"MIT","capabilities":{{"network":{}}},"limits":{{{limits}}}}}"#,
        serde_json::to_string(network).expect("json")
    );
    let package = Package::pack(manifest.as_bytes(), wasm, None, None).expect("pack");
    let policy = format!(
        "allow_unsigned = true\n[capabilities]\nnetwork = {}\n{policy_extra}",
        serde_json::to_string(network).expect("json")
    );
    runtime.load(&package, &Policy::from_toml(&policy).expect("policy"))
}

const LOOPBACK_ALLOWED: &str = "[network]\nallow_addresses = [\"127.0.0.1/32\"]";

/// The fetch guest under a grant of `network`, loopback allowed.
fn fetch(network: &[String], limits: &str) -> Spell {
    load(&fetch_wasm(), network, limits, LOOPBACK_ALLOWED).expect("load")
}

fn cast(spell: &Spell, args: &[&str]) -> (CastOutcome, Arc<UsageLog>) {
    let log = Arc::new(UsageLog::new());
    let outcome = spell
        .cast(
            CastRequest::new()
                .args(args.iter().copied())
                .meter(log.clone()),
        )
        .expect("cast");
    (outcome, log)
}

/// One request as fetch printed it.
#[derive(Debug)]
struct Fetched {
    rc: i32,
    status: u32,
    headers: String,
    body: String,
}

fn fetched(stdout: &[u8]) -> Vec<Fetched> {
    let text = String::from_utf8_lossy(stdout);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(at) = rest.find("< rc=") {
        let line_end = rest[at..].find('\n').map_or(rest.len(), |i| at + i);
        let line = &rest[at..line_end];
        let num = |f: &str| {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix(f))
                .and_then(|v| v.parse::<i64>().ok())
                .expect(f)
        };
        let headers_end = line_end + 1 + num("headers=") as usize;
        let body_end = headers_end + num("body=") as usize;
        out.push(Fetched {
            rc: num("rc=") as i32,
            status: num("status=") as u32,
            headers: rest[line_end + 1..headers_end].to_string(),
            body: rest[headers_end..body_end].to_string(),
        });
        rest = &rest[body_end..];
    }
    out
}

fn code(c: ErrorCode) -> i32 {
    i32::from(c.as_u16())
}

fn violations(log: &UsageLog) -> Vec<String> {
    log.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::PolicyViolation { capability, detail } if capability == "network" => {
                Some(detail)
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Behavior

#[test]
fn allowed_request_succeeds_and_usage_matches_what_the_server_saw() {
    let server = Server::start(Reply::Body("hello"));
    let spell = fetch(&[server.pattern()], "");
    let (outcome, log) = cast(
        &spell,
        &[
            "-X",
            "POST",
            "-H",
            "X-Test: 1",
            "-d",
            "payload",
            &server.url("/echo?x=1"),
        ],
    );
    let seen = server.next();
    let got = fetched(&outcome.stdout);
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        (got[0].rc, got[0].status, got[0].body.as_str()),
        (0, 200, "hello")
    );
    assert_eq!(
        got[0].headers,
        "content-type: text/plain\ncontent-length: 5\n"
    );
    seen.assert_head(
        "POST /echo?x=1 HTTP/1.1\r\n",
        &[
            format!("host: 127.0.0.1:{}\r\n", server.port),
            "x-test: 1\r\n".into(),
            "connection: close\r\n".into(),
            "content-length: 7\r\n".into(),
        ],
    );
    assert_eq!(seen.body, b"payload");
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    seen.assert_billed(usage);
    assert!(violations(&log).is_empty());
}

#[test]
fn host_not_granted_is_refused_before_connecting_and_reported() {
    let granted = Server::start(Reply::Body("granted"));
    let other = Server::start(Reply::Body("other"));
    let spell = fetch(&[granted.pattern()], "");
    let https = format!("https://127.0.0.1:{}/", granted.port);
    let (outcome, log) = cast(&spell, &[&other.url("/"), "http://example.com/", &https]);
    let got = fetched(&outcome.stdout);
    assert_eq!(got.len(), 3);
    for g in &got {
        assert_eq!(
            (g.rc, g.status),
            (code(ErrorCode::NetNotGranted), 0),
            "{g:?}"
        );
        assert_eq!(g.body, "not granted to this spell");
    }
    other.assert_untouched();
    granted.assert_untouched();
    assert_eq!(log.records()[0].net_requests, 0);
    let v = violations(&log);
    assert_eq!(v.len(), 3);
    assert_eq!(
        v[0],
        format!("GET {}: not granted to this spell", other.url("/"))
    );
    assert!(v[1].starts_with("GET http://example.com/"));
}

#[test]
fn loopback_is_refused_when_the_policy_grants_the_pattern_but_not_the_address() {
    let server = Server::start(Reply::Body("hello"));
    let named = format!("http://localhost:{}", server.port);
    let spell = load(&fetch_wasm(), &[server.pattern(), named.clone()], "", "").expect("load");
    let (outcome, log) = cast(&spell, &[&server.url("/"), &format!("{named}/")]);
    let got = fetched(&outcome.stdout);
    for g in &got {
        assert_eq!(g.rc, code(ErrorCode::NetAddressBlocked), "{g:?}");
        assert!(g.body.contains("loopback"), "{}", g.body);
    }
    assert_eq!(
        got[0].body,
        "127.0.0.1 resolves only to refused addresses: 127.0.0.1 (loopback)"
    );
    server.assert_untouched();
    assert_eq!(
        log.records()[0].net_requests,
        2,
        "requests the guard refused count: they were resolved"
    );
    assert_eq!(violations(&log).len(), 2);

    // The same grant plus the address: a name resolving to ::1 and 127.0.0.1 connects to the latter.
    let spell = fetch(std::slice::from_ref(&named), "");
    let (outcome, _) = cast(&spell, &[&format!("{named}/")]);
    assert_eq!(
        fetched(&outcome.stdout)[0].rc,
        0,
        "{}",
        String::from_utf8_lossy(&outcome.stdout)
    );
    assert!(
        server
            .next()
            .head
            .contains(&format!("host: localhost:{}\r\n", server.port))
    );
}

#[test]
fn redirects_are_not_followed_and_the_next_hop_is_checked_again() {
    let target = Server::start(Reply::Body("secret"));
    let redirector = Server::start(Reply::Redirect(target.url("/")));
    let spell = fetch(&[redirector.pattern()], "");
    let (outcome, log) = cast(&spell, &["-L", &redirector.url("/go")]);
    let got = fetched(&outcome.stdout);
    assert_eq!((got[0].rc, got[0].status), (0, 302));
    assert_eq!(
        (got[1].rc, got[1].status),
        (code(ErrorCode::NetNotGranted), 0),
        "the guest's own follow-up is refused"
    );
    redirector.next();
    target.assert_untouched();
    assert_eq!(
        violations(&log),
        [format!(
            "GET {}: not granted to this spell",
            target.url("/")
        )]
    );
}

#[test]
fn response_larger_than_the_buffer_is_cut_and_the_cast_goes_on() {
    let server = Server::start(Reply::Big(64 << 20));
    let spell = fetch(&[server.pattern()], "");
    let (outcome, log) = cast(&spell, &["-c", "1024", &server.url("/big")]);
    let got = fetched(&outcome.stdout);
    assert_eq!(
        (got[0].rc, got[0].status, got[0].body.len()),
        (code(ErrorCode::NetLimit), 200, 1024)
    );
    assert_eq!(
        (outcome.outcome, outcome.exit_code),
        (Outcome::Exit, Some(1)),
        "fetch exits 1 on any error code"
    );
    let usage = &log.records()[0];
    assert!(
        usage.net_bytes_in < 1 << 20,
        "reading stopped early: {} bytes in",
        usage.net_bytes_in
    );
    assert!(
        server.next().bytes_written < 64 << 20,
        "the server could not send it all"
    );
}

#[test]
fn byte_limit_ends_the_cast_exactly_at_the_cap() {
    let server = Server::start(Reply::Big(1 << 20));
    let spell = fetch(&[server.pattern()], r#""net_bytes": 65536"#);
    let (outcome, log) = cast(&spell, &["-c", "2097152", &server.url("/big")]);
    assert_eq!(outcome.outcome, Outcome::NetworkLimit, "{outcome:?}");
    assert!(
        outcome
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("65536 bytes per cast"),
        "{:?}",
        outcome.detail
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_bytes_in + usage.net_bytes_out, 65536);
    assert_eq!(usage.outcome, Outcome::NetworkLimit);
    // The limit stops the guest inside a host call, where its fuel count is exact: the C
    // start-up and argument parsing alone burn thousands of units.
    assert!(usage.fuel.is_some_and(|f| f > 1_000), "{:?}", usage.fuel);
    assert!(log.events().iter().any(|e| matches!(
        e.kind,
        EventKind::LimitHit {
            outcome: Outcome::NetworkLimit,
            ..
        }
    )));
}

#[test]
fn byte_limit_is_obeyed_at_exactly_the_cap_and_violated_one_below() {
    let server = Server::start(Reply::Body("hello"));
    let url = server.url("/");
    let (_, log) = cast(&fetch(&[server.pattern()], ""), &[&url]);
    let used = log.records()[0].net_bytes_in + log.records()[0].net_bytes_out;
    let with_cap = |cap: u64| {
        cast(
            &fetch(&[server.pattern()], &format!(r#""net_bytes": {cap}"#)),
            &[&url],
        )
        .0
    };
    let at_cap = with_cap(used);
    assert_eq!(
        (
            at_cap.outcome,
            at_cap.usage.net_bytes_in + at_cap.usage.net_bytes_out
        ),
        (Outcome::Ok, used),
        "{at_cap:?}"
    );
    let below = with_cap(used - 1);
    assert_eq!(
        (
            below.outcome,
            below.usage.net_bytes_in + below.usage.net_bytes_out
        ),
        (Outcome::NetworkLimit, used - 1)
    );
}

#[test]
fn request_over_the_byte_limit_is_never_sent() {
    let server = Server::start(Reply::Body("hello"));
    let spell = fetch(&[server.pattern()], r#""net_bytes": 1000"#);
    let body = "a".repeat(2000);
    let (outcome, log) = cast(&spell, &["-X", "PUT", "-d", &body, &server.url("/")]);
    assert_eq!(outcome.outcome, Outcome::NetworkLimit);
    server.assert_untouched();
    let usage = &log.records()[0];
    assert_eq!(
        (usage.net_requests, usage.net_bytes_in, usage.net_bytes_out),
        (0, 0, 0)
    );
}

#[test]
fn request_count_limit_refuses_further_requests() {
    let server = Server::start(Reply::Body("ok"));
    let spell = fetch(&[server.pattern()], r#""net_requests": 2"#);
    let url = server.url("/");
    let (outcome, log) = cast(&spell, &[&url, &url, &url]);
    let rcs: Vec<i32> = fetched(&outcome.stdout).iter().map(|f| f.rc).collect();
    assert_eq!(rcs, [0, 0, code(ErrorCode::NetLimit)]);
    let (a, b) = (server.next(), server.next());
    server.assert_untouched();
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 2);
    assert_eq!(usage.net_bytes_out, a.bytes_read + b.bytes_read);
    assert_eq!(usage.net_bytes_in, a.bytes_written + b.bytes_written);
    assert_eq!(
        violations(&log),
        [format!(
            "GET {url}: the cast's limit of 2 requests is reached"
        )]
    );
}

#[test]
fn every_lookup_counts_against_the_request_cap() {
    let dns = FakeDns::start();
    let server = Server::start(Reply::Body("ok"));
    let pattern = format!("http://*.spell.test:{}", server.port);
    let spell = load_in(
        &dns.runtime(),
        &fetch_wasm(),
        &[pattern],
        r#""net_requests": 3"#,
        LOOPBACK_ALLOWED,
    )
    .expect("load");
    let url = |host: &str| format!("http://{host}.spell.test:{}/", server.port);
    let (outcome, log) = cast(
        &spell,
        &[
            &url("ok"),
            &url("nx-1"),
            &url("nx-2"),
            &url("nx-3"),
            &url("ok"),
        ],
    );
    let got = fetched(&outcome.stdout);
    let rcs: Vec<i32> = got.iter().map(|f| f.rc).collect();
    let (transport, limit) = (code(ErrorCode::NetTransport), code(ErrorCode::NetLimit));
    assert_eq!(rcs, [0, transport, transport, limit, limit], "{got:?}");
    assert!(
        got[1].body.starts_with("resolving nx-1.spell.test: "),
        "{}",
        got[1].body
    );
    server.next();
    server.assert_untouched();
    assert_eq!(
        log.records()[0].net_requests,
        3,
        "lookups that failed count as requests"
    );
    assert_eq!(
        dns.queries_for("nx-3.spell.test"),
        0,
        "no lookup past the cap"
    );
    assert_eq!(violations(&log).len(), 2);
}

#[test]
fn abandoned_lookups_leave_no_threads_and_the_cast_ends_on_time() {
    const N: usize = 40;
    let took = alone(
        "abandoned_lookups_leave_no_threads_and_the_cast_ends_on_time",
        || {
            let dns = FakeDns::start();
            let spell = load_in(
                &dns.runtime(),
                &fetch_wasm(),
                &["http://*.spell.test".into()],
                r#""net_requests": 64, "wall_time_ms": 20000"#,
                LOOPBACK_ALLOWED,
            )
            .expect("load");
            let mut args = vec!["-t", "50"];
            args.extend(std::iter::repeat_n("http://silent.spell.test/", N));
            cast(&spell, &args[..3]);
            let baseline = threads();
            let started = Instant::now();
            let (outcome, log) = cast(&spell, &args);
            let elapsed = started.elapsed();
            let rcs: Vec<i32> = fetched(&outcome.stdout).iter().map(|f| f.rc).collect();
            assert_eq!(rcs, vec![code(ErrorCode::NetTimeout); N]);
            assert_eq!(log.records()[0].net_requests, N as u64);
            assert!(
                elapsed < Duration::from_millis(50 * N as u64 + 1500),
                "{N} requests of 50 ms took {elapsed:?}"
            );
            assert!(
                threads() <= baseline,
                "{} threads after the cast, {baseline} before",
                threads()
            );
            assert!(
                dns.queries_for("silent.spell.test") >= N,
                "each request looked up"
            );
        },
    );
    assert!(
        took < Duration::from_secs(15),
        "the process took {took:?} to run the test and exit"
    );
}

#[test]
fn a_lookup_cut_by_a_timeout_or_the_cast_deadline_sends_no_more_queries() {
    let dns = FakeDns::start();
    let runtime = dns.runtime();
    let spell = |limits| {
        load_in(
            &runtime,
            &fetch_wasm(),
            &["http://*.spell.test".into()],
            limits,
            LOOPBACK_ALLOWED,
        )
        .expect("load")
    };
    let (by_request, _) = cast(&spell(""), &["-t", "300", "http://silent-1.spell.test/"]);
    assert_eq!(
        fetched(&by_request.stdout)[0].rc,
        code(ErrorCode::NetTimeout)
    );
    let (by_cast, _) = cast(
        &spell(r#""wall_time_ms": 300"#),
        &["http://silent-2.spell.test/"],
    );
    assert_eq!(by_cast.outcome, Outcome::Timeout, "{by_cast:?}");
    std::thread::sleep(Duration::from_millis(100));
    let sent = [
        dns.queries_for("silent-1.spell.test"),
        dns.queries_for("silent-2.spell.test"),
    ];
    assert!(sent.iter().all(|n| *n > 0), "{sent:?}");
    // Past the resolver's retry interval (333 ms) and query timeout (2 s): a lookup still
    // running would have asked again.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        [
            dns.queries_for("silent-1.spell.test"),
            dns.queries_for("silent-2.spell.test"),
        ],
        sent,
        "queries after the request ended"
    );
}

#[test]
fn slow_server_is_stopped_by_the_request_timeout() {
    let server = Server::start(Reply::Slow(Duration::from_secs(5)));
    let spell = fetch(&[server.pattern()], "");
    let started = Instant::now();
    let (outcome, _) = cast(&spell, &["-t", "200", &server.url("/slow")]);
    let got = fetched(&outcome.stdout);
    assert_eq!(
        (got[0].rc, got[0].body.as_str()),
        (code(ErrorCode::NetTimeout), "timed out after 200 ms")
    );
    assert_eq!(
        outcome.exit_code,
        Some(1),
        "the cast went on after the timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn cast_deadline_ends_a_hanging_request_and_its_bytes_are_counted() {
    let server = Server::start(Reply::Stall(Duration::from_secs(3)));
    let spell = fetch(&[server.pattern()], r#""wall_time_ms": 400"#);
    let started = Instant::now();
    let (outcome, log) = cast(&spell, &[&server.url("/stall")]);
    assert_eq!(outcome.outcome, Outcome::Timeout, "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    assert_eq!(
        usage.net_bytes_in,
        STALLED_HEAD.len() as u64,
        "the partial response is billed"
    );
    assert!(usage.net_bytes_out > 0);
}

#[test]
fn host_owned_headers_are_malformed_requests() {
    let server = Server::start(Reply::Body("hello"));
    let spell = fetch(&[server.pattern()], "");
    let (outcome, _) = cast(&spell, &["-H", "Host: internal.example", &server.url("/")]);
    let got = fetched(&outcome.stdout);
    assert_eq!(got[0].rc, code(ErrorCode::NetRequestInvalid));
    assert_eq!(
        got[0].body,
        "malformed request: header `host` is set by the host"
    );
    server.assert_untouched();
}

#[test]
fn https_to_a_plaintext_server_fails_in_tls() {
    let server = Server::start(Reply::Eager);
    let pattern = format!("https://127.0.0.1:{}", server.port);
    let spell = fetch(std::slice::from_ref(&pattern), "");
    let (outcome, log) = cast(&spell, &[&format!("{pattern}/")]);
    let got = fetched(&outcome.stdout);
    assert_eq!(got[0].rc, code(ErrorCode::NetTransport), "{got:?}");
    assert!(got[0].body.starts_with("TLS: "), "{}", got[0].body);
    let usage = &log.records()[0];
    assert_eq!(
        (usage.net_requests, usage.net_bytes_out),
        (1, 0),
        "TLS handshakes are not HTTP bytes"
    );
}

#[test]
fn https_to_a_server_of_a_trusted_private_ca_succeeds_and_is_metered_inside_tls() {
    let ca = TestCa::new();
    let server = Server::start_tls(Reply::Body("secure"), &ca);
    let runtime = Runtime::builder()
        .tls_root_certificate(ca.root.clone())
        .build()
        .expect("runtime");
    let spell = load_in(
        &runtime,
        &fetch_wasm(),
        &[server.pattern()],
        "",
        LOOPBACK_ALLOWED,
    )
    .expect("load");
    let (outcome, log) = cast(&spell, &[&server.url("/tls")]);
    let seen = server.next();
    let got = fetched(&outcome.stdout);
    assert_eq!(
        (got[0].rc, got[0].status, got[0].body.as_str()),
        (0, 200, "secure"),
        "{got:?}"
    );
    assert!(
        seen.head.starts_with("GET /tls HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    // HTTP bytes inside TLS, as the server read and wrote them.
    seen.assert_billed(usage);
}

#[test]
fn https_to_a_server_of_an_unknown_ca_fails_its_certificate() {
    let ca = TestCa::new();
    let server = Server::start_tls(Reply::Body("secure"), &ca);
    let spell = fetch(&[server.pattern()], "");
    let (outcome, _) = cast(&spell, &[&server.url("/")]);
    let got = fetched(&outcome.stdout);
    assert_eq!(got[0].rc, code(ErrorCode::NetTransport), "{got:?}");
    assert!(
        got[0].body.starts_with("TLS: ") && got[0].body.contains("UnknownIssuer"),
        "{}",
        got[0].body
    );
}

#[test]
fn a_root_certificate_rustls_cannot_use_is_a_configuration_error() {
    let err = Runtime::builder()
        .tls_root_certificate(b"not a certificate".to_vec())
        .build()
        .expect_err("garbage root");
    assert_eq!(err.code(), ErrorCode::RuntimeConfig, "{err}");
}

// ---------------------------------------------------------------------------------------------
// ABI and loading

/// A guest calling the import with `request` and `response` pointers, returning its result.
fn abi_guest(request: u32, response: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (import "spell" "http_request" (func $req (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start"))
          (func (export "run") (result i32) (call $req (i32.const {request}) (i32.const {response}))))"#
    ))
    .expect("wat")
}

#[test]
fn the_import_needs_a_network_grant() {
    let err = load(&abi_guest(0, 64), &[], "", "").expect_err("no grant");
    assert_eq!(err.code(), ErrorCode::ImportNotGranted);
    assert!(err.to_string().contains("spell::http_request"), "{err}");
    assert!(load(&abi_guest(0, 64), &["https://example.com".into()], "", "").is_ok());
    let unknown = wat::parse_str(
        r#"(module (import "spell" "open_socket" (func)) (func (export "_start")))"#,
    )
    .expect("wat");
    let err = load(&unknown, &["https://example.com".into()], "", "").expect_err("unknown import");
    assert!(err.to_string().contains("spell::open_socket"), "{err}");
}

#[test]
fn out_of_bounds_structs_are_malformed_requests() {
    let run = |request, response| {
        let spell = load(
            &abi_guest(request, response),
            &["https://example.com".into()],
            "",
            "",
        )
        .expect("load");
        let outcome = spell.cast(CastRequest::new().export("run")).expect("cast");
        assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
        outcome.returned
    };
    let malformed = vec![Val::I32(code(ErrorCode::NetRequestInvalid))];
    assert_eq!(
        run(65_530, 0),
        malformed,
        "request struct past the end of memory"
    );
    assert_eq!(
        run(0, 65_530),
        malformed,
        "response struct past the end of memory"
    );
    assert_eq!(
        run(u32::MAX - 3, 0),
        malformed,
        "pointer arithmetic does not wrap"
    );
    // An all-zero request is a GET of an empty URL: malformed, and the reason lands in the
    // (empty) body buffer without writing out of bounds.
    assert_eq!(run(0, 64), malformed);
}

/// Per-request cost through a guest against a raw request from the host, both to the same local
/// server. `cargo test --release -p spell-runtime --test network -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn overhead_per_request() {
    const N: usize = 64; // the built-in request limit
    let server = Server::start(Reply::Body("hello"));
    let url = server.url("/");
    let spell = fetch(&[server.pattern()], "");
    let args: Vec<&str> = std::iter::repeat_n(url.as_str(), N).collect();
    cast(&spell, &args[..1]);
    let t = Instant::now();
    let (outcome, _) = cast(&spell, &args);
    let guest = t.elapsed();
    assert_eq!(
        fetched(&outcome.stdout)
            .iter()
            .filter(|f| f.rc == 0)
            .count(),
        N
    );
    let t = Instant::now();
    for _ in 0..N {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        s.write_all(
            format!(
                "GET / HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n\r\n",
                server.port
            )
            .as_bytes(),
        )
        .expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
    }
    let direct = t.elapsed();
    println!(
        "{N} requests: through a guest {:?} ({:?}/request), direct from the host {:?} ({:?}/request)",
        guest,
        guest / N as u32,
        direct,
        direct / N as u32
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile requests and responses: these held before; they stay in the suite so they keep holding.

#[test]
fn hostile_encodings_of_internal_addresses_are_refused_without_a_connection() {
    let server = Server::start(Reply::Body("hello"));
    let port = server.port;
    // Every spelling of 127.0.0.1 that WHATWG parsing accepts, granted by its normalized
    // pattern but not by the policy's addresses: the guard refuses each before connecting.
    let loopback: Vec<String> = [
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0x7f.0.0.1",
        "127.000.000.001",
    ]
    .iter()
    .map(|h| format!("http://{h}:{port}/"))
    .collect();
    let spell = load(&fetch_wasm(), &[server.pattern()], "", "").expect("load");
    let args: Vec<&str> = loopback.iter().map(String::as_str).collect();
    let (outcome, _) = cast(&spell, &args);
    let got = fetched(&outcome.stdout);
    assert_eq!(got.len(), loopback.len());
    for (g, url) in got.iter().zip(&loopback) {
        assert_eq!(g.rc, code(ErrorCode::NetAddressBlocked), "{url}: {g:?}");
    }
    server.assert_untouched();
    // The cloud metadata address in its spellings, and IPv6 forms of loopback: refused by the
    // guard or not granted, never connected to.
    let metadata = [
        "http://169.254.169.254/",
        "http://2852039166/",
        "http://0xa9.0xfe.0xa9.0xfe/",
    ];
    let spell = load(
        &fetch_wasm(),
        &["http://169.254.169.254".to_string()],
        "",
        "",
    )
    .expect("load");
    let (outcome, _) = cast(&spell, &metadata);
    for g in fetched(&outcome.stdout) {
        assert_eq!(g.rc, code(ErrorCode::NetAddressBlocked), "{g:?}");
        assert!(g.body.contains("cloud metadata"), "{}", g.body);
    }
    let v6 = [
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
    ];
    let spell = load(&fetch_wasm(), &[server.pattern()], "", "").expect("load");
    let (outcome, _) = cast(&spell, &v6.iter().map(String::as_str).collect::<Vec<_>>());
    for g in fetched(&outcome.stdout) {
        assert!(
            [
                code(ErrorCode::NetNotGranted),
                code(ErrorCode::NetAddressBlocked)
            ]
            .contains(&g.rc),
            "{g:?}"
        );
    }
    server.assert_untouched();
}

#[test]
fn hostile_header_and_method_injection_are_malformed_requests() {
    let server = Server::start(Reply::Body("hello"));
    let spell = fetch(&[server.pattern()], "");
    let smuggle = "X-A: b\rGET /smuggled HTTP/1.1";
    let (outcome, _) = cast(&spell, &["-H", smuggle, &server.url("/")]);
    assert_eq!(
        fetched(&outcome.stdout)[0].rc,
        code(ErrorCode::NetRequestInvalid)
    );
    let (outcome, _) = cast(
        &spell,
        &[
            "-X",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET",
            &server.url("/"),
        ],
    );
    assert_eq!(
        fetched(&outcome.stdout)[0].rc,
        code(ErrorCode::NetRequestInvalid)
    );
    server.assert_untouched();
}

#[test]
fn hostile_header_and_chunk_bombs_fail_the_request_not_the_host() {
    let mut header_bomb = b"HTTP/1.1 200 OK\r\nx-bomb: ".to_vec();
    header_bomb.extend(std::iter::repeat_n(b'a', 1 << 20));
    header_bomb.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    let many_headers: String = (0..10_000).map(|i| format!("x-{i}: y\r\n")).collect();
    let bombs = [
        header_bomb,
        format!("HTTP/1.1 200 OK\r\n{many_headers}content-length: 0\r\n\r\n").into_bytes(),
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nx".to_vec(),
        b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\nshort".to_vec(),
    ];
    for bomb in bombs {
        let server = Server::start(Reply::Raw(Arc::new(bomb)));
        let spell = fetch(&[server.pattern()], "");
        let (outcome, log) = cast(&spell, &["-c", "4096", &server.url("/")]);
        let got = fetched(&outcome.stdout);
        assert_eq!(got.len(), 1, "{}", String::from_utf8_lossy(&outcome.stdout));
        assert_ne!(
            got[0].rc, 0,
            "a bomb is never a good response: {:?}",
            got[0]
        );
        assert!(
            matches!(outcome.outcome, Outcome::Exit | Outcome::NetworkLimit),
            "{:?}",
            outcome.outcome
        );
        let usage = &log.records()[0];
        assert!(usage.net_bytes_in > 0 && usage.net_bytes_in <= spell.grant().limits.net_bytes);
        let _ = server.next();
    }
}

// ---------------------------------------------------------------------------------------------
// Trace context

type Fieldset = std::collections::HashMap<String, String>;

/// The spans a test subscriber saw, in order, with their fields as text; span ids are reused
/// once a span closes, so `live` maps an id to its latest span.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Captured>>);

/// Every span in order, and the latest span of each live id.
type Captured = (
    Vec<(String, Fieldset)>,
    std::collections::HashMap<u64, usize>,
);

struct Fields<'a>(&'a mut std::collections::HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let (all, live) = &mut *self.0.lock().expect("spans");
        let mut fields = Default::default();
        attrs.record(&mut Fields(&mut fields));
        live.insert(id.into_u64(), all.len());
        all.push((attrs.metadata().name().to_string(), fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let (all, live) = &mut *self.0.lock().expect("spans");
        values.record(&mut Fields(&mut all[live[&id.into_u64()]].1));
    }
}

impl Spans {
    /// The process's collector, installed once: a cast's spans may be entered on any thread
    /// (a thread-scoped collector missed the request span now and then).
    fn global() -> Spans {
        static GLOBAL: std::sync::OnceLock<Spans> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                use tracing_subscriber::layer::SubscriberExt;
                let spans = Spans::default();
                let subscriber = tracing_subscriber::registry().with(spans.clone());
                tracing::subscriber::set_global_default(subscriber).expect("one collector");
                spans
            })
            .clone()
    }

    fn named(&self, name: &str) -> Vec<Fieldset> {
        let spans = self.0.lock().expect("spans");
        spans
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[test]
fn a_cast_joins_its_callers_trace_and_its_requests_carry_a_child_traceparent() {
    let server = Server::start(Reply::Body("traced"));
    let spell = fetch(&[server.pattern()], "");
    let log = Arc::new(UsageLog::new());
    let spans = Spans::global();
    let outcome = spell
        .cast(
            CastRequest::new()
                // The guest's own traceparent is replaced by the host's.
                .args([
                    "-H",
                    "traceparent: 00-11111111111111111111111111111111-2222222222222222-01",
                ])
                .arg(server.url("/"))
                .traceparent(format!("00-{TRACE_ID}-{PARENT}-01"))
                .tracestate("congo=t61rcWkgMzE")
                .meter(log.clone()),
        )
        .expect("cast");
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(outcome.usage.trace_id.as_deref(), Some(TRACE_ID));
    assert_eq!(log.records()[0].trace_id.as_deref(), Some(TRACE_ID));

    let seen = server.next();
    let sent = header(&seen.head, "traceparent").expect("a traceparent header");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE_ID, "01"));
    assert_ne!(parts[2], PARENT, "a span of its own");
    assert_eq!(header(&seen.head, "tracestate"), Some("congo=t61rcWkgMzE"));
    assert_eq!(seen.head.matches("traceparent").count(), 1, "{}", seen.head);

    let casts = spans.named("cast");
    let cast = casts
        .iter()
        // Other tests of this binary cast at the same time, some without a trace.
        .find(|c| c.get("trace_id").is_some_and(|t| t == TRACE_ID))
        .expect("the cast span");
    assert_eq!(cast["trace_id"], TRACE_ID);
    assert_eq!(cast["parent_span_id"], PARENT);
    assert_eq!(cast["cast_id"], outcome.usage.cast_id);
    assert_eq!(cast["outcome"], "ok");
    assert_eq!(cast["fuel"], outcome.usage.fuel.expect("fuel").to_string());
    assert_eq!(
        cast["net_bytes_out"],
        outcome.usage.net_bytes_out.to_string()
    );
    let requests = spans.named("http_request");
    let request = requests
        .iter()
        .find(|r| r.get("span_id").is_some_and(|s| s == parts[2]))
        .expect("the request's span is the header's");
    assert_eq!(request["http.response.status_code"], "200");
    assert_eq!(request["server.address"], "127.0.0.1");
    // (`queue` only when a cast waited for a slot.)
    for step in ["instantiate", "run", "settle"] {
        assert!(!spans.named(step).is_empty(), "{step}");
    }
}

#[test]
fn the_policy_can_keep_trace_context_from_the_hosts_spells_call() {
    let server = Server::start(Reply::Body("untraced"));
    let spell = load(
        &fetch_wasm(),
        &[server.pattern()],
        "",
        &format!("{LOOPBACK_ALLOWED}\npropagate_trace_context = false"),
    )
    .expect("load");
    let outcome = spell
        .cast(
            CastRequest::new()
                .arg(server.url("/"))
                .traceparent(format!("00-{TRACE_ID}-{PARENT}-01")),
        )
        .expect("cast");
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        outcome.usage.trace_id.as_deref(),
        Some(TRACE_ID),
        "still recorded"
    );
    let seen = server.next();
    assert_eq!(header(&seen.head, "traceparent"), None, "{}", seen.head);
}

#[test]
fn a_malformed_traceparent_refuses_the_cast() {
    let spell = fetch(&["http://127.0.0.1:9".to_string()], "");
    let err = spell
        .cast(CastRequest::new().traceparent("00-not-a-trace-01"))
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::CastRequestDenied);
}

// ---------------------------------------------------------------------------------------------
// Components: wasi:http through the same capability

/// What a [`client_component`] asks for.
struct Ask<'a> {
    https: bool,
    authority: &'a str,
    path: &'a str,
    /// POSTed when not empty, else a GET.
    body: &'a str,
    /// How many times it makes the request.
    times: u32,
    /// The `request-options` timeouts it sets: first byte, between bytes.
    timeouts: (Option<Duration>, Option<Duration>),
}

impl<'a> Ask<'a> {
    fn get(authority: &'a str, path: &'a str) -> Ask<'a> {
        Ask {
            https: false,
            authority,
            path,
            body: "",
            times: 1,
            timeouts: (None, None),
        }
    }
}

/// A `wasi:cli/command` component that makes `ask.times` wasi:http requests and prints, for
/// each, `status N` and the body, or `error N` (the wasi:http `error-code` case) — hand-written
/// WAT against the canonical ABI of `tests/wit`, made a component with the preview-1 adapter
/// (its `fd_write` prints).
fn client_component(ask: &Ask<'_>) -> Vec<u8> {
    let defs = format!(
        r#"
  (memory (export "memory") 17)
  (data (i32.const 1024) "status ")
  (data (i32.const 1040) "error ")
  (data (i32.const 1056) "\n")
  (data (i32.const 1064) "read-error\n")
  (data (i32.const 2048) "{authority}")
  (data (i32.const 3072) "{path}")
  (data (i32.const 4096) "{body}")
  (func $line (param $n i32)
    (local $p i32)
    (local.set $p (i32.const 544))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (local.get $n)))
    (call $print (local.get $p) (i32.sub (i32.const 544) (local.get $p)))
    (call $print (i32.const 1056) (i32.const 1)))
  ;; One request. Return areas at 16 (8-aligned): `handle` puts its result's case at 16 and the
  ;; future or error-code at 24; `get` its option at 16, result at 24, inner result at 32, the
  ;; response or error-code at 40; the others their case at 16 and handle or list at 20.
  (func $fetch
    (local $req i32) (local $body i32) (local $out i32) (local $future i32) (local $pollable i32)
    (local $in i32) (local $options i32)
    (local.set $req (call $request (call $fields)))
    (drop (call $set_method (local.get $req) (i32.const {method}) (i32.const 0) (i32.const 0)))
    (drop (call $set_scheme (local.get $req) (i32.const 1) (i32.const {scheme}) (i32.const 0) (i32.const 0)))
    (drop (call $set_authority (local.get $req) (i32.const 1) (i32.const 2048) (i32.const {authority_len})))
    (drop (call $set_path (local.get $req) (i32.const 1) (i32.const 3072) (i32.const {path_len})))
    (call $request_body (local.get $req) (i32.const 16))
    (local.set $body (i32.load (i32.const 20)))
    ;; Options always, each timeout `some` (nanoseconds) or `none`.
    (local.set $options (call $options))
    (drop (call $set_first_byte (local.get $options) (i32.const {first_byte_set}) (i64.const {first_byte_ns})))
    (drop (call $set_between_bytes (local.get $options) (i32.const {between_set}) (i64.const {between_ns})))
    (call $handle (local.get $req) (i32.const 1) (local.get $options) (i32.const 16))
    (if (i32.load8_u (i32.const 16)) (then
      (call $print (i32.const 1040) (i32.const 6))
      (call $line (i32.load8_u (i32.const 24)))
      (return)))
    (local.set $future (i32.load (i32.const 24)))
    (if (i32.const {body_len}) (then
      (call $body_write (local.get $body) (i32.const 16))
      (local.set $out (i32.load (i32.const 20)))
      (call $write (local.get $out) (i32.const 4096) (i32.const {body_len}) (i32.const 16))
      (call $drop_output (local.get $out))))
    (call $body_finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 16))
    (local.set $pollable (call $subscribe (local.get $future)))
    (call $block (local.get $pollable))
    (call $drop_pollable (local.get $pollable))
    (call $get (local.get $future) (i32.const 16))
    (if (i32.load8_u (i32.const 32)) (then
      (call $print (i32.const 1040) (i32.const 6))
      (call $line (i32.load8_u (i32.const 40)))
      (return)))
    (call $print (i32.const 1024) (i32.const 7))
    (call $line (call $status (i32.load (i32.const 40))))
    (call $consume (i32.load (i32.const 40)) (i32.const 16))
    (call $stream (i32.load (i32.const 20)) (i32.const 16))
    (local.set $in (i32.load (i32.const 20)))
    (loop $chunks
      (global.set $heap (i32.const 65536))
      (call $read (local.get $in) (i64.const 4096) (i32.const 16))
      (if (i32.eqz (i32.load8_u (i32.const 16))) (then
        (call $print (i32.load (i32.const 20)) (i32.load (i32.const 24)))
        (br $chunks))))
    ;; `closed` ends a body; `last-operation-failed` is a failure.
    (if (i32.eqz (i32.load8_u (i32.const 20))) (then
      (call $print (i32.const 1064) (i32.const 11)))))
  (func (export "_start")
    (local $n i32)
    (loop $again
      (call $fetch)
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const {times})))))"#,
        authority = ask.authority,
        path = ask.path,
        body = ask.body,
        authority_len = ask.authority.len(),
        path_len = ask.path.len(),
        body_len = ask.body.len(),
        // `method`: get is case 0, post case 2; `scheme`: HTTP 0, HTTPS 1.
        method = if ask.body.is_empty() { 0 } else { 2 },
        scheme = u8::from(ask.https),
        times = ask.times,
        first_byte_set = u8::from(ask.timeouts.0.is_some()),
        first_byte_ns = ask.timeouts.0.unwrap_or_default().as_nanos(),
        between_set = u8::from(ask.timeouts.1.is_some()),
        between_ns = ask.timeouts.1.unwrap_or_default().as_nanos(),
    );
    guests::p2_component("http-client", CLIENT_IMPORTS, &defs)
}

/// What [`client_component`] imports of `wasi:http` and `wasi:io`.
const CLIENT_IMPORTS: &str = r#"  (import "wasi:http/types@0.2.12" "[constructor]fields" (func $fields (result i32)))
  (import "wasi:http/types@0.2.12" "[constructor]outgoing-request" (func $request (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-request.set-method" (func $set_method (param i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-request.set-scheme" (func $set_scheme (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-request.set-authority" (func $set_authority (param i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-request.set-path-with-query" (func $set_path (param i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-request.body" (func $request_body (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[static]outgoing-body.finish" (func $body_finish (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[constructor]request-options" (func $options (result i32)))
  (import "wasi:http/types@0.2.12" "[method]request-options.set-first-byte-timeout" (func $set_first_byte (param i32 i32 i64) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]request-options.set-between-bytes-timeout" (func $set_between_bytes (param i32 i32 i64) (result i32)))
  (import "wasi:http/outgoing-handler@0.2.12" "handle" (func $handle (param i32 i32 i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]future-incoming-response.subscribe" (func $subscribe (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]future-incoming-response.get" (func $get (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]incoming-response.status" (func $status (param i32) (result i32)))
  (import "wasi:http/types@0.2.12" "[method]incoming-response.consume" (func $consume (param i32 i32)))
  (import "wasi:http/types@0.2.12" "[method]incoming-body.stream" (func $stream (param i32 i32)))
  (import "wasi:io/poll@0.2.12" "[method]pollable.block" (func $block (param i32)))
  (import "wasi:io/poll@0.2.12" "[resource-drop]pollable" (func $drop_pollable (param i32)))
  (import "wasi:io/streams@0.2.12" "[method]input-stream.blocking-read" (func $read (param i32 i64 i32)))
  (import "wasi:io/streams@0.2.12" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.12" "[resource-drop]output-stream" (func $drop_output (param i32)))"#;

/// wasi:http `error-code` cases the client prints.
const DESTINATION_IP_PROHIBITED: u8 = 4;
const CONNECTION_READ_TIMEOUT: u8 = 9;
const CONNECTION_LIMIT_REACHED: u8 = 11;
const TLS_CERTIFICATE_ERROR: u8 = 13;
const HTTP_REQUEST_DENIED: u8 = 15;

fn component_fetch(ask: &Ask<'_>, network: &[String], limits: &str) -> Spell {
    load(&client_component(ask), network, limits, LOOPBACK_ALLOWED).expect("load")
}

#[test]
fn a_component_request_succeeds_and_usage_matches_what_the_server_saw() {
    let server = Server::start(Reply::Body("hello"));
    let authority = format!("127.0.0.1:{}", server.port);
    let ask = Ask {
        body: "payload",
        ..Ask::get(&authority, "/echo?x=1")
    };
    let spell = component_fetch(&ask, &[server.pattern()], "");
    let (outcome, log) = cast(&spell, &[]);
    let seen = server.next();
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        "status 200\nhello"
    );
    // No `content-length` from the guest: its body streams, chunked.
    seen.assert_head(
        "POST /echo?x=1 HTTP/1.1\r\n",
        &[
            format!("host: {authority}\r\n"),
            "connection: close\r\n".into(),
            "transfer-encoding: chunked\r\n".into(),
        ],
    );
    assert_eq!(seen.body, b"7\r\npayload\r\n0\r\n\r\n");
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    seen.assert_billed(usage);
    assert!(violations(&log).is_empty());
}

#[test]
fn a_component_is_refused_hosts_and_addresses_the_grant_does_not_allow() {
    let granted = Server::start(Reply::Body("granted"));
    let other = Server::start(Reply::Body("other"));
    let other_authority = format!("127.0.0.1:{}", other.port);
    let spell = component_fetch(&Ask::get(&other_authority, "/"), &[granted.pattern()], "");
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("error {HTTP_REQUEST_DENIED}\n")
    );
    assert_eq!(log.records()[0].net_requests, 0);
    assert_eq!(
        violations(&log),
        [format!(
            "GET http://{other_authority}/: not granted to this spell"
        )]
    );
    other.assert_untouched();

    // Granted by pattern, but loopback is not among the policy's allowed addresses.
    let authority = format!("127.0.0.1:{}", granted.port);
    let wasm = client_component(&Ask::get(&authority, "/"));
    let spell = load(&wasm, &[granted.pattern()], "", "").expect("load");
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("error {DESTINATION_IP_PROHIBITED}\n")
    );
    let usage = &log.records()[0];
    assert_eq!((usage.net_requests, usage.net_bytes_out), (1, 0));
    let refused = violations(&log);
    assert!(
        refused.len() == 1 && refused[0].contains("127.0.0.1 (loopback)"),
        "{refused:?}"
    );
    granted.assert_untouched();
}

#[test]
fn a_component_needs_a_network_grant_to_import_wasi_http() {
    let wasm = client_component(&Ask::get("127.0.0.1:9", "/"));
    let err = load(&wasm, &[], "", "").expect_err("no grant");
    assert_eq!(err.code(), ErrorCode::ImportNotGranted);
    for import in [
        "wasi:http/types@0.2.12",
        "wasi:http/outgoing-handler@0.2.12",
    ] {
        assert!(err.to_string().contains(import), "{import}: {err}");
    }
}

#[test]
fn a_component_gets_redirects_as_they_are() {
    let server = Server::start(Reply::Redirect("http://169.254.169.254/".into()));
    let authority = format!("127.0.0.1:{}", server.port);
    let spell = component_fetch(&Ask::get(&authority, "/"), &[server.pattern()], "");
    let (outcome, log) = cast(&spell, &[]);
    assert!(
        String::from_utf8_lossy(&outcome.stdout).starts_with("status 302\n"),
        "{outcome:?}"
    );
    assert_eq!(log.records()[0].net_requests, 1);
    server.next();
    server.assert_untouched();
}

#[test]
fn a_components_requests_count_against_the_request_cap() {
    let server = Server::start(Reply::Body("ok"));
    let authority = format!("127.0.0.1:{}", server.port);
    let ask = Ask {
        times: 3,
        ..Ask::get(&authority, "/")
    };
    let spell = component_fetch(&ask, &[server.pattern()], r#""net_requests": 2"#);
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("status 200\nokstatus 200\nokerror {CONNECTION_LIMIT_REACHED}\n")
    );
    let (a, b) = (server.next(), server.next());
    server.assert_untouched();
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 2);
    assert_eq!(usage.net_bytes_out, a.bytes_read + b.bytes_read);
    assert_eq!(usage.net_bytes_in, a.bytes_written + b.bytes_written);
    assert_eq!(
        violations(&log),
        [format!(
            "GET http://{authority}/: the cast's limit of 2 requests is reached"
        )]
    );
}

#[test]
fn a_component_is_stopped_exactly_at_the_byte_cap() {
    let server = Server::start(Reply::Big(1 << 20));
    let authority = format!("127.0.0.1:{}", server.port);
    let spell = component_fetch(
        &Ask::get(&authority, "/big"),
        &[server.pattern()],
        r#""net_bytes": 65536"#,
    );
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(outcome.outcome, Outcome::NetworkLimit, "{outcome:?}");
    assert!(
        outcome.stdout.len() < 65536,
        "{} bytes printed",
        outcome.stdout.len()
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_bytes_in + usage.net_bytes_out, 65536);
    assert_eq!(usage.outcome, Outcome::NetworkLimit);
    assert!(log.events().iter().any(|e| matches!(
        e.kind,
        EventKind::LimitHit {
            outcome: Outcome::NetworkLimit,
            ..
        }
    )));
}

#[test]
fn a_components_hanging_request_ends_at_the_cast_deadline_and_its_bytes_are_counted() {
    let server = Server::start(Reply::Stall(Duration::from_secs(3)));
    let authority = format!("127.0.0.1:{}", server.port);
    let spell = component_fetch(
        &Ask::get(&authority, "/stall"),
        &[server.pattern()],
        r#""wall_time_ms": 400"#,
    );
    let started = Instant::now();
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(outcome.outcome, Outcome::Timeout, "{outcome:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    assert_eq!(usage.net_bytes_in, STALLED_HEAD.len() as u64);
    assert!(usage.net_bytes_out > 0);
}

#[test]
fn a_component_reaches_https_servers_the_runtime_trusts_and_no_others() {
    let ca = TestCa::new();
    let server = Server::start_tls(Reply::Body("secure"), &ca);
    let authority = format!("127.0.0.1:{}", server.port);
    let ask = Ask {
        https: true,
        ..Ask::get(&authority, "/tls")
    };
    let wasm = client_component(&ask);
    let runtime = Runtime::builder()
        .tls_root_certificate(ca.root.clone())
        .build()
        .expect("runtime");
    let spell = load_in(&runtime, &wasm, &[server.pattern()], "", LOOPBACK_ALLOWED).expect("load");
    let (outcome, log) = cast(&spell, &[]);
    let seen = server.next();
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        "status 200\nsecure"
    );
    let usage = &log.records()[0];
    // HTTP bytes inside TLS, as the server read and wrote them.
    seen.assert_billed(usage);

    // The default runtime does not know the private CA.
    let spell = component_fetch(&ask, &[server.pattern()], "");
    let (outcome, _) = cast(&spell, &[]);
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("error {TLS_CERTIFICATE_ERROR}\n")
    );
}

#[test]
fn a_components_requests_carry_the_casts_trace_context_and_spans() {
    let server = Server::start(Reply::Body("traced"));
    let authority = format!("127.0.0.1:{}", server.port);
    let spell = component_fetch(&Ask::get(&authority, "/"), &[server.pattern()], "");
    // A trace of its own: the module test above finds its cast span by its trace id.
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let spans = Spans::global();
    let outcome = spell
        .cast(CastRequest::new().traceparent(format!("00-{trace_id}-{PARENT}-01")))
        .expect("cast");
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        "status 200\ntraced"
    );
    let seen = server.next();
    let sent = header(&seen.head, "traceparent").expect("a traceparent header");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("00", trace_id, "01"),
        "{sent}"
    );
    assert_ne!(parts[2], PARENT, "a span of its own");
    let requests = spans.named("http_request");
    let request = requests
        .iter()
        .find(|r| r.get("span_id").is_some_and(|s| s == parts[2]))
        .expect("the request's span is the header's");
    assert_eq!(request["http.response.status_code"], "200");
    assert_eq!(request["http.request.method"], "GET");
    assert_eq!(request["server.address"], "127.0.0.1");
}

#[test]
fn a_components_request_options_bound_its_waits_and_the_cast_goes_on() {
    let ms = Duration::from_millis;
    // No first byte within 200 ms.
    let slow = Server::start(Reply::Slow(Duration::from_secs(3)));
    let authority = format!("127.0.0.1:{}", slow.port);
    let ask = Ask {
        timeouts: (Some(ms(200)), None),
        ..Ask::get(&authority, "/slow")
    };
    let spell = component_fetch(&ask, &[slow.pattern()], "");
    let started = Instant::now();
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("error {CONNECTION_READ_TIMEOUT}\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(log.records()[0].net_requests, 1);

    // The head, part of the body, then nothing for longer than 200 ms.
    let stall = Server::start(Reply::Stall(Duration::from_secs(3)));
    let authority = format!("127.0.0.1:{}", stall.port);
    let ask = Ask {
        timeouts: (None, Some(ms(200))),
        ..Ask::get(&authority, "/stall")
    };
    let spell = component_fetch(&ask, &[stall.pattern()], "");
    let started = Instant::now();
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        "status 200\npartialread-error\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(log.records()[0].net_bytes_in, STALLED_HEAD.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// Preview 3 components: wasi:http@0.3 through the same capability

/// A WASI preview 3 command (`guests::p3_command`) that GETs `http://{authority}{path}` with
/// `wasi:http/client@0.3.0#send` (lowered async: it waits on the subtask) and prints `status N`,
/// or `error N` (the `error-code` case).
fn p3_client(authority: &str, path: &str) -> Vec<u8> {
    let imports = r#"
  (import "wasi:http/types@0.3.0" "[constructor]fields" (func $fields (result i32)))
  (import "wasi:http/types@0.3.0" "[future-new-1][static]request.new" (func $trailers_new (result i64)))
  (import "wasi:http/types@0.3.0" "[async-lower][future-write-1][static]request.new" (func $trailers_write (param i32 i32) (result i32)))
  (import "wasi:http/types@0.3.0" "[static]request.new" (func $request_new (param i32 i32 i32 i32 i32 i32 i32)))
  (import "wasi:http/types@0.3.0" "[method]request.set-scheme" (func $set_scheme (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.3.0" "[method]request.set-authority" (func $set_authority (param i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.3.0" "[method]request.set-path-with-query" (func $set_path (param i32 i32 i32 i32) (result i32)))
  (import "wasi:http/types@0.3.0" "[method]response.get-status-code" (func $status (param i32) (result i32)))
  (import "wasi:http/types@0.3.0" "[resource-drop]response" (func $drop_response (param i32)))
  (import "wasi:http/client@0.3.0" "[async-lower]send" (func $send (param i32 i32) (result i32)))"#;
    let defs = format!(
        r#"
  (data (i32.const 1100) "{authority}")
  (data (i32.const 1200) "{path}")
  (data (i32.const 1300) "status ")
  (data (i32.const 1310) "error ")"#
    );
    let run = format!(
        r#"
    (local $request i32) (local $trailers i64)
    (local.set $trailers (call $trailers_new))
    ;; No body, no options; the result is left at 256 (request, its transmit future).
    (call $request_new (call $fields) (i32.const 0) (i32.const 0)
      (i32.wrap_i64 (local.get $trailers)) (i32.const 0) (i32.const 0) (i32.const 256))
    (local.set $request (i32.load (i32.const 256)))
    ;; No trailers: `ok(none)`, zeroed memory at 512.
    (drop (call $trailers_write
      (i32.wrap_i64 (i64.shr_u (local.get $trailers) (i64.const 32))) (i32.const 512)))
    (drop (call $set_scheme (local.get $request) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $set_authority (local.get $request) (i32.const 1) (i32.const 1100) (i32.const {})))
    (drop (call $set_path (local.get $request) (i32.const 1) (i32.const 1200) (i32.const {})))
    ;; `result<response, error-code>` at 320, its payload at 328; state 2 is returned.
    (call $complete (call $send (local.get $request) (i32.const 320)))
    (if (i32.eqz (i32.load8_u (i32.const 320)))
      (then
        (call $print (i32.const 1300) (i32.const 7))
        (call $print_u32 (call $status (i32.load (i32.const 328))))
        (call $drop_response (i32.load (i32.const 328))))
      (else
        (call $print (i32.const 1310) (i32.const 6))
        (call $print_u32 (i32.load8_u (i32.const 328)))))"#,
        authority.len(),
        path.len()
    );
    guests::p3_command("http-client", imports, &defs, &run)
}

/// A runtime that casts WASI preview 3.
fn p3_runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::builder().wasi_p3(true).build().expect("runtime"))
        .clone()
}

/// The [`p3_client`] of `http://{authority}{path}` under a grant of `network`, loopback allowed.
fn p3_fetch(authority: &str, path: &str, network: &[String]) -> Spell {
    let wasm = p3_client(authority, path);
    load_in(&p3_runtime(), &wasm, network, "", LOOPBACK_ALLOWED).expect("load")
}

#[test]
fn a_preview_3_components_requests_go_through_the_same_capability() {
    let server = Server::start(Reply::Body("hello"));
    let authority = format!("127.0.0.1:{}", server.port);
    let spell = p3_fetch(&authority, "/p3?x=1", &[server.pattern()]);
    let (outcome, log) = cast(&spell, &[]);
    let seen = server.next();
    assert_eq!(outcome.outcome, Outcome::Ok, "{outcome:?}");
    assert_eq!(String::from_utf8_lossy(&outcome.stdout), "status 200");
    seen.assert_head(
        "GET /p3?x=1 HTTP/1.1\r\n",
        &[
            format!("host: {authority}\r\n"),
            "connection: close\r\n".into(),
        ],
    );
    let usage = &log.records()[0];
    assert_eq!(usage.net_requests, 1);
    seen.assert_billed(usage);

    // Not granted: refused before any connection, as for preview 2 and modules.
    let other = Server::start(Reply::Body("other"));
    let other_authority = format!("127.0.0.1:{}", other.port);
    let spell = p3_fetch(&other_authority, "/", &[server.pattern()]);
    let (outcome, log) = cast(&spell, &[]);
    assert_eq!(
        String::from_utf8_lossy(&outcome.stdout),
        format!("error {HTTP_REQUEST_DENIED}")
    );
    assert_eq!(log.records()[0].net_requests, 0);
    assert_eq!(violations(&log).len(), 1);
    other.assert_untouched();

    // And without a network grant it does not load, its imports named.
    let wasm = p3_client(&other_authority, "/");
    let err = load_in(&p3_runtime(), &wasm, &[], "", "").expect_err("no grant");
    assert_eq!(err.code(), ErrorCode::ImportNotGranted);
    for import in ["wasi:http/types@0.3.0", "wasi:http/client@0.3.0"] {
        assert!(err.to_string().contains(import), "{import}: {err}");
    }
}
