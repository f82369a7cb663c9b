//! How a waiting client gets a cast's result, against a real `nats-server -js` on 127.0.0.1: it
//! hears the cast's result as the server republishes it once stored, reads nothing back and asks
//! the server for no consumer, and the cast's status is final from then on; when duplicate
//! deliveries of one cast race, or anyone puts a result on the bucket's subject that the bucket
//! refuses, it takes the result that was stored; and it still gets its result, by reading, from
//! a result bucket that does not republish (made by an older worker), which a worker then sets
//! to republish (and the lifecycle bucket to republish no more); a finished cast whose result
//! has expired is reported so (`E-SVC-011`) rather than waited for.

#[path = "support/hello_service.rs"]
#[expect(dead_code, reason = "the runtime is for other tests")]
mod hello_service;
#[path = "support/nats_server.rs"]
#[expect(dead_code, reason = "restarting the server is for other tests")]
mod nats_server;
#[path = "support/run_worker.rs"]
mod run_worker;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures_util::StreamExt;
use spell_core::{ErrorCode, HasCode};
use spell_service::{Billed, CastJob};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_client_takes_its_result_as_it_is_stored_and_reads_nothing_back() {
    // Before: each wait ended with a read of the result bucket, a server round trip after the
    // final state arrived.
    let s = hello_service::start(8, Default::default()).await;
    // Every read of the result bucket, direct or through the stream API, as the server gets it.
    let spy = s.options.connect().await.expect("spy");
    let mut reads = futures_util::stream::select(
        spy.subscribe("$JS.API.DIRECT.GET.KV_spell_results.>")
            .await
            .expect("subscribe"),
        spy.subscribe("$JS.API.STREAM.MSG.GET.KV_spell_results")
            .await
            .expect("subscribe"),
    );
    spy.flush().await.expect("flush");
    let seen = Arc::new(AtomicUsize::new(0));
    let counting = tokio::spawn({
        let seen = seen.clone();
        async move {
            while reads.next().await.is_some() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let mut results = Vec::new();
    for i in 0..20 {
        let job = CastJob::new(&s.digest, "t", format!("k{i}")).arg(format!("n{i}"));
        let result = s.client.cast(&job, WAIT).await.expect("cast");
        assert_eq!(result.stdout, format!("Hello, n{i}!\n").as_bytes());
        results.push(result);
    }
    // The spy sees its own round trip after every read the casts made.
    spy.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 0, "results read back");
    // Before: every client watched the whole lifecycle bucket through a consumer of its own,
    // and so heard of every cast anyone submitted.
    let js = jetstream::new(spy.clone());
    for bucket in ["KV_spell_state", "KV_spell_results"] {
        let mut stream = js.get_stream(bucket).await.expect("bucket");
        let info = stream.info().await.expect("info");
        assert_eq!(info.state.consumer_count, 0, "{bucket}");
    }

    // What each cast returned is what is stored; and the spy does see reads.
    for result in &results {
        let stored = s.client.result(&result.cast_id).await.expect("read");
        assert_eq!(stored.as_ref(), Some(result));
    }
    spy.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.load(Ordering::SeqCst), results.len(), "reads seen");

    // A late waiter, whose result was stored before it watched, reads it back.
    let late = s
        .client
        .wait(&results[0].cast_id, WAIT)
        .await
        .expect("wait");
    assert_eq!(late, results[0]);
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
    counting.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deliveries_of_one_cast_give_every_waiter_the_stored_result_and_bill_it_once() {
    // A publisher may put one cast's request on the queue twice under different message ids (and
    // different arguments): both deliveries may cast and try to store their result; one is
    // stored, and only it goes by on the result subject.
    let s = hello_service::start(8, Default::default()).await;
    let js = jetstream::new(s.options.connect().await.expect("connect"));
    let (stop, run) = run_worker::spawn_run(&s.worker);
    for i in 0..10 {
        let job = CastJob::new(&s.digest, "t", format!("race{i}")).arg("first");
        let twin = job.clone().args(["second"]);
        let twin_json = twin.to_json().expect("valid");
        let duplicate = async {
            js.send_publish(
                "spell.cast.t",
                PublishMessage::build()
                    .payload(twin_json.into())
                    .message_id(format!("twin-{i}")),
            )
            .await
            .expect("publish")
            .await
            .expect("ack")
        };
        let (result, _) = tokio::join!(s.client.cast(&job, WAIT), duplicate);
        let result = result.expect("cast");
        // Final as soon as the result is stored, the worker's move to it on its way or not.
        let status = s.client.status(&job.cast_id()).await.expect("status");
        assert_eq!(
            (status.state, status.result_digest),
            (result.state, Some(result.digest())),
            "race {i}"
        );
        let stored = s.client.result(&job.cast_id()).await.expect("read");
        assert_eq!(Some(&result), stored.as_ref(), "race {i}");
    }
    // Both deliveries of every race are done once the worker drains.
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
    let entries = s.client.usage_entries().await.expect("usage");
    for i in 0..10 {
        let id = CastJob::new(&s.digest, "t", format!("race{i}")).cast_id();
        let cast: Vec<_> = entries
            .iter()
            .filter(|e| e.cast_id == id && e.billed == Billed::Cast)
            .collect();
        assert_eq!(cast.len(), 1, "race {i}: {entries:#?}");
        // The other delivery either found the cast done (nothing to bill) or cast too and lost
        // the race to store its result: billed as that failed attempt.
        assert!(
            entries
                .iter()
                .filter(|e| e.cast_id == id && e.billed == Billed::FailedAttempt)
                .all(|e| e.reason.as_deref() == Some("superseded")),
            "race {i}: {entries:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_only_went_by_is_never_taken_for_the_stored_one() {
    // Anyone who may publish on a result's subject can put a message past a waiting client
    // that the bucket refuses to store: it must not become the cast's result.
    let s = hello_service::start(8, Default::default()).await;
    let job = CastJob::new(&s.digest, "t", "forged").arg("real");
    let cast_id = job.cast_id();
    let waiting = tokio::spawn({
        let (client, job) = (s.client.clone(), job.clone());
        async move { client.cast(&job, WAIT).await }
    });
    // Submitted (so watched), and no worker yet.
    let started = std::time::Instant::now();
    while s.client.status(&cast_id).await.is_err() {
        assert!(started.elapsed() < WAIT, "never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let forger = s.options.connect().await.expect("forger");
    let forged = serde_json::json!({
        "cast_id": cast_id, "tenant": "t", "spell": s.digest, "state": "succeeded",
        "stdout": "SGVsbG8sIGZvcmdlZCEK", "attempts": 1, "worker": s.worker.id(),
    });
    let mut headers = async_nats::HeaderMap::new();
    // Refused by the bucket (no such last revision), yet routed to every subscriber.
    headers.insert("Nats-Expected-Last-Subject-Sequence", "999999");
    let refused = forger
        .request_with_headers(
            format!("$KV.spell_results.{cast_id}"),
            headers,
            serde_json::to_vec(&forged).expect("json").into(),
        )
        .await
        .expect("reply");
    assert!(
        String::from_utf8_lossy(&refused.payload).contains("wrong last sequence"),
        "{refused:?}"
    );
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let result = waiting.await.expect("task").expect("cast");
    assert_eq!(result.stdout, b"Hello, real!\n");
    assert_eq!(
        s.client.result(&cast_id).await.expect("read").as_ref(),
        Some(&result)
    );
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_bucket_without_republishing_still_answers_and_a_worker_makes_it_republish() {
    let s = hello_service::start(4, Default::default()).await;
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let js = jetstream::new(s.options.connect().await.expect("connect"));
    let republish = |bucket: &'static str| {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream(bucket).await.expect("bucket");
            stream.info().await.expect("info").config.republish.clone()
        }
    };
    let set = |bucket: &'static str, republish: Option<stream::Republish>| {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream(bucket).await.expect("bucket");
            let config = stream::Config {
                republish,
                ..stream.info().await.expect("info").config.clone()
            };
            js.update_stream(config).await.expect("update");
        }
    };
    // Once the worker has made (and reconciled) its streams, as older workers made them: the
    // result bucket not republishing, the lifecycle bucket republishing its moves.
    let started = std::time::Instant::now();
    while s.worker.ready().await.is_err() {
        assert!(started.elapsed() < WAIT, "worker never ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let moves = stream::Republish {
        source: "$KV.spell_state.>".into(),
        destination: "spell.stored.>".into(),
        headers_only: false,
    };
    set("KV_spell_results", None).await;
    set("KV_spell_state", Some(moves)).await;
    assert_eq!(republish("KV_spell_results").await, None);
    // No result goes by: the wait reads it after its first second of silence.
    let job = CastJob::new(&s.digest, "t", "unrepublished").arg("old");
    let result = s.client.cast(&job, WAIT).await.expect("cast");
    assert_eq!(result.stdout, b"Hello, old!\n");

    s.worker.ensure().await.expect("ensure");
    let results = republish("KV_spell_results").await.expect("republishes");
    assert_eq!(
        (
            results.source.as_str(),
            results.destination.as_str(),
            results.headers_only
        ),
        ("$KV.spell_results.>", "spell.stored.>", false)
    );
    assert_eq!(republish("KV_spell_state").await, None, "moves republished");
    // A republishing of the operator's own on the lifecycle bucket is left as it is.
    let own = stream::Republish {
        source: "$KV.spell_state.>".into(),
        destination: "audit.lifecycle.>".into(),
        headers_only: true,
    };
    set("KV_spell_state", Some(own.clone())).await;
    s.worker.ensure().await.expect("ensure");
    assert_eq!(republish("KV_spell_state").await, Some(own));

    let job = CastJob::new(&s.digest, "t", "republished").arg("new");
    let result = s.client.cast(&job, WAIT).await.expect("cast");
    assert_eq!(result.stdout, b"Hello, new!\n");
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_cast_whose_result_has_expired_is_reported_so_not_waited_for() {
    // Before: `wait` waited out its whole timeout (E-SVC-007) for a result that was gone, and
    // `cast` reported a transport error that invited a retry.
    let s = hello_service::start(4, Default::default()).await;
    let (stop, run) = run_worker::spawn_run(&s.worker);
    let job = CastJob::new(&s.digest, "t", "expired").arg("gone");
    let cast_id = job.cast_id();
    s.client.cast(&job, WAIT).await.expect("cast");
    let started = std::time::Instant::now();
    while s
        .client
        .status(&cast_id)
        .await
        .expect("status")
        .finished_at_ms
        .is_none()
    {
        assert!(started.elapsed() < WAIT, "never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What the result bucket's maximum age does, a moment before the lifecycle's.
    let js = jetstream::new(s.options.connect().await.expect("connect"));
    let results = js.get_key_value("spell_results").await.expect("bucket");
    results.delete(&cast_id).await.expect("delete");

    let waited = s.client.wait(&cast_id, WAIT).await.expect_err("no result");
    assert_eq!(waited.code(), ErrorCode::ServiceResultExpired, "{waited}");
    let again = s.client.cast(&job, WAIT).await.expect_err("no result");
    assert_eq!(again.code(), ErrorCode::ServiceResultExpired, "{again}");
    assert!(
        s.client
            .status(&cast_id)
            .await
            .expect("status")
            .state
            .is_final()
    );
    let _ = stop.send(());
    run.await.expect("task").expect("worker");
}
