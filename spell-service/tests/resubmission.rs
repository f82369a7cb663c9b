//! A key submitted again long after its cast, against a real `nats-server -js` on 127.0.0.1:
//! once both de-duplication windows have passed, the new request reaches a worker, which
//! answers it from the store without casting or billing again; once the retention has passed
//! too, the cast is forgotten and the key names a new one.

#[path = "support/hello_service.rs"]
#[expect(
    dead_code,
    reason = "the runtime and connection options are for other tests"
)]
mod hello_service;
#[path = "support/nats_server.rs"]
#[expect(dead_code, reason = "restarting the server is for other tests")]
mod nats_server;
#[path = "support/run_worker.rs"]
mod run_worker;

use spell_core::{ErrorCode, HasCode};
use spell_service::{Billed, CastJob, ServiceConfig};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Both de-duplication windows short enough for a test to outlive them.
fn one_second_windows() -> ServiceConfig {
    ServiceConfig::default().dedup_window(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_submitted_after_both_windows_is_answered_from_the_store_and_billed_once() {
    // Before: the late request was answered from the store and billed again, a second `cast`
    // entry that the usage stream, its window passed, no longer de-duplicated.
    let s = hello_service::start(4, one_second_windows()).await;
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let job = CastJob::new(&s.digest, "t", "again").arg("once");
    let first = s.client.cast(&job, WAIT).await.expect("cast");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = s.client.submit(&job).await.expect("submit");
    assert!(!again.duplicate, "the request stream's window has passed");
    assert_eq!(
        s.client.wait(&again.cast_id, WAIT).await.expect("wait"),
        first
    );
    // The new request is the worker's to answer: wait until it has.
    let started = Instant::now();
    while !s
        .worker
        .metrics()
        .lines()
        .any(|l| l == "spell_worker_answered_from_store_total 1")
    {
        assert!(started.elapsed() < WAIT, "{}", s.worker.metrics());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    let stats = run.await.expect("task").expect("worker");
    assert_eq!((stats.casts, stats.answered_from_store), (1, 1));
    let entries = s.client.usage_entries().await.expect("usage");
    let billed: Vec<_> = entries
        .iter()
        .filter(|e| e.cast_id == job.cast_id())
        .collect();
    assert_eq!(billed.len(), 1, "{billed:#?}");
    assert_eq!(billed[0].billed, Billed::Cast);
    assert_eq!(Some(&billed[0].usage), first.usage.as_ref());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_retention_a_cast_is_forgotten_and_its_key_names_a_new_cast() {
    // Before: lifecycles and results were kept forever, and the server's index of their keys
    // grew with every cast.
    let windows = one_second_windows().retention(Duration::from_secs(2));
    let s = hello_service::start(4, windows).await;
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let job = CastJob::new(&s.digest, "t", "forgotten").arg("once");
    let cast_id = job.cast_id();
    let first = s.client.cast(&job, WAIT).await.expect("cast");
    assert!(s.client.result(&cast_id).await.expect("read").is_some());
    // Each bucket expires its entries on its own timer: the lifecycle and the result go within
    // moments of each other, in either order.
    let started = Instant::now();
    loop {
        let status = s.client.status(&cast_id).await;
        let forgotten = matches!(&status, Err(e) if e.code() == ErrorCode::ServiceUnknownCast);
        let result = s.client.result(&cast_id).await.expect("read");
        if forgotten && result.is_none() {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "still kept: {status:?} {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "gone too soon"
    );
    // The same key now names a new cast: cast, stored and billed again.
    let second = s.client.cast(&job, WAIT).await.expect("cast");
    assert_eq!(second.stdout, first.stdout);
    assert_ne!(second.usage, first.usage, "a new cast, not the stored one");
    let _ = stop.send(());
    let stats = run.await.expect("task").expect("worker");
    assert_eq!((stats.casts, stats.answered_from_store), (2, 0));
    let entries = s.client.usage_entries().await.expect("usage");
    let billed = entries
        .iter()
        .filter(|e| e.cast_id == cast_id && e.billed == Billed::Cast)
        .count();
    assert_eq!(billed, 2, "{entries:#?}");
}
