//! The worker's status endpoints over HTTP against a real `nats-server -js` on 127.0.0.1:
//! readiness follows the worker's life (503 before it pulls, 200 while it does, 503 once it has
//! drained) and its caches (the AOT cache folder, the packages bucket), liveness holds
//! throughout; a worker started while its server does not answer waits for it instead of exiting.

#[path = "support/http_get.rs"]
mod http_get;
#[path = "support/nats_server.rs"]
#[expect(dead_code, reason = "restarting the server is for other tests")]
mod nats_server;
#[path = "support/run_worker.rs"]
mod run_worker;

use nats_server::NatsServer;
use run_worker::{Run, spawn_run};
use spell_service::{NatsOptions, Worker};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// `GET path` over HTTP/1.1: status and body (off the runtime's threads: the server is on them).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get::get(&addr.to_string(), &path))
        .await
        .expect("the request's thread")
}

/// A worker on `server` with the example policy, serving its status endpoints on a free port:
/// the worker, its NATS client, the status address and the status server's task.
async fn worker_with_status(
    server: &NatsServer,
    runtime: spell_runtime::Runtime,
) -> (
    Worker,
    async_nats::Client,
    SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let client = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connect");
    let policy = spell_core::Policy::from_file(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml").as_ref(),
    )
    .expect("policy");
    let worker = Worker::builder(client.clone(), runtime, policy).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let status = tokio::spawn({
        let worker = worker.clone();
        async move { worker.serve_status(listener).await }
    });
    (worker, client, addr, status)
}

/// Waits until `/readyz` on `addr` answers 200.
async fn until_ready(addr: SocketAddr) {
    let started = Instant::now();
    while get(addr, "/readyz").await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `worker` until the returned sender fires, once its `/readyz` on `addr` answers 200.
async fn run_until_ready(
    worker: &Worker,
    addr: SocketAddr,
) -> (tokio::sync::oneshot::Sender<()>, Run) {
    let running = spawn_run(worker);
    until_ready(addr).await;
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_worker_from_start_to_drain() {
    let server = NatsServer::start();
    let runtime = spell_runtime::Runtime::new().expect("runtime");
    let (worker, _, addr, status) = worker_with_status(&server, runtime).await;

    assert_eq!(get(addr, "/healthz").await, (200, "alive\n".into()));
    let (code, why) = get(addr, "/readyz").await;
    assert_eq!(
        (code, why.as_str()),
        (503, "not pulling: starting or draining\n")
    );
    let (code, text) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| s.value.clone())
    };
    assert_eq!(
        value("spell_worker_casts_total"),
        Some(prometheus_parse::Value::Counter(0.0))
    );
    assert_eq!(
        value("spell_casts_in_flight"),
        Some(prometheus_parse::Value::Gauge(0.0)),
        "the runtime's metrics too"
    );
    assert_eq!(get(addr, "/elsewhere").await.0, 404);

    let (stop, run) = run_until_ready(&worker, addr).await;
    let _ = stop.send(());
    run.await.expect("join").expect("drained");
    assert_eq!(get(addr, "/readyz").await.0, 503, "drained");
    assert_eq!(get(addr, "/healthz").await.0, 200, "still alive");
    status.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_needs_the_aot_cache_folder_and_the_packages_bucket() {
    let server = NatsServer::start();
    let scratch = tempfile::tempdir().expect("tmp");
    let folder = scratch.path().join("aot");
    let runtime = spell_runtime::Runtime::builder()
        .cache_dir(&folder)
        .build()
        .expect("runtime");
    let (worker, client, addr, status) = worker_with_status(&server, runtime).await;
    let (stop, run) = run_until_ready(&worker, addr).await;

    // A file where the folder was: no compiled module could be kept.
    std::fs::remove_dir_all(&folder).expect("remove the folder");
    std::fs::write(&folder, b"").expect("a file in its place");
    let (code, why) = get(addr, "/readyz").await;
    assert_eq!(code, 503, "{why}");
    assert!(why.starts_with("AOT cache folder: "), "{why}");
    // Gone altogether: the check makes it again, with the key the runtime signs artifacts with.
    std::fs::remove_file(&folder).expect("remove the file");
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));
    assert_eq!(
        std::fs::read(folder.join("cache.key")).expect("key").len(),
        32
    );

    // The packages bucket gone: no spell could be fetched.
    let js = async_nats::jetstream::new(client);
    js.delete_object_store(spell_service::streams::PACKAGE_BUCKET)
        .await
        .expect("delete the bucket");
    let (code, why) = get(addr, "/readyz").await;
    assert_eq!(code, 503, "{why}");
    assert!(
        why.starts_with("packages bucket `spell_packages`: "),
        "{why}"
    );
    worker.ensure().await.expect("the bucket made again");
    assert_eq!(get(addr, "/readyz").await.0, 200);

    let _ = stop.send(());
    run.await.expect("join").expect("drained");
    status.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_its_server_does_not_answer_waits_for_it() {
    let server = NatsServer::start();
    let runtime = spell_runtime::Runtime::new().expect("runtime");
    let (worker, _, addr, status) = worker_with_status(&server, runtime).await;

    server.signal("-STOP");
    let (stop, run) = spawn_run(&worker);
    // Opening the streams has failed by now (a JetStream request times out after 5 s; this one
    // gave up after about 10 s when `run` did not retry).
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(!run.is_finished(), "run gave up: {:?}", run.await);
    let (code, why) = get(addr, "/readyz").await;
    assert_eq!(code, 503, "{why}");

    server.signal("-CONT");
    until_ready(addr).await;
    let _ = stop.send(());
    run.await.expect("join").expect("drained");
    status.abort();
}
