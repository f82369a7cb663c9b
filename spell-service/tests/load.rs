//! A worker's first batch of requests for a spell it has not loaded, against a real
//! `nats-server -js` on 127.0.0.1: the package is fetched, verified and compiled once, the other
//! requests of the batch wait for that load instead of each doing their own.

#[path = "support/hello_service.rs"]
#[expect(dead_code, reason = "the connection options are for other tests")]
mod hello_service;
#[path = "support/nats_server.rs"]
#[expect(dead_code, reason = "restarting the server is for other tests")]
mod nats_server;
#[path = "support/run_worker.rs"]
mod run_worker;

use spell_service::CastJob;
use std::time::Duration;

const BATCH: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_batch_for_a_new_spell_fetches_verifies_and_compiles_it_once() {
    // Before: each request of the batch fetched the package, verified it and compiled it.
    let hello_service::HelloService {
        _server,
        runtime,
        worker,
        client,
        digest,
        ..
    } = hello_service::start(BATCH, Default::default()).await;
    // All queued before the worker pulls: its first batch holds them all.
    let mut cast_ids = Vec::new();
    for i in 0..BATCH {
        let job = CastJob::new(&digest, "t", format!("k{i}")).arg("batch");
        cast_ids.push(client.submit(&job).await.expect("submit").cast_id);
    }
    let (stop, run) = run_worker::spawn_run(&worker);
    for id in &cast_ids {
        let result = client
            .wait(id, Duration::from_secs(60))
            .await
            .expect("result");
        assert_eq!(result.stdout, b"Hello, batch!\n");
    }
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
    assert_eq!(runtime.stats().compiled, 1);
    // Every load the runtime made looked its verification up: one lookup, one load.
    let metrics = runtime.metrics();
    let counter = |name: &str| {
        metrics.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    assert_eq!(
        (
            counter("spell_verdict_cache_misses_total"),
            counter("spell_verdict_cache_hits_total")
        ),
        (Some(1), Some(0)),
        "the runtime's loads of the package"
    );
}
