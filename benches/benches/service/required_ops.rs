//! The server operations issue 13 requires of a cast, made with nothing of Spell's: what any
//! worker that keeps those guarantees costs the same server. The client creates the cast's
//! lifecycle (`queued`, in a KV bucket) and publishes the request, de-duplicated by its id, to a
//! work-queue stream; the worker moves the lifecycle to `running` by compare-and-set (the queued
//! revision comes in a header, so it reads nothing first), casts in process, creates the result
//! in a KV bucket under the cast id, publishes the usage entry (de-duplicated by the cast id) and
//! moves the lifecycle to its final state together, then acks. Seven server writes a cast against
//! the bare queue's three; Spell adds the lifecycle read that keeps a redelivery from casting
//! again and the server's republishing of what the buckets store to the waiting client, who here
//! hears the worker's result write on a core subscription instead (not knowing whether the bucket
//! took it).

use super::raw_jetstream::{Waiting, route, serve};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv, message::PublishMessage, stream};
use spell_runtime::{CastRequest, Spell};
use std::time::Duration;
use tokio::sync::oneshot;

const STATE: &str = "floor_state";
const RESULTS: &str = "floor_results";
/// The request header that carries the queued lifecycle's revision to the worker.
const REVISION: &str = "Floor-Revision";

/// The request, usage and bucket streams (file storage), made if missing; ids are
/// de-duplicated and casts kept for `kept`, as Spell's are.
async fn ensure(js: &jetstream::Context, kept: Duration) -> (stream::Stream, kv::Store, kv::Store) {
    let requests = js
        .get_or_create_stream(stream::Config {
            name: "FLOOR_CAST".into(),
            subjects: vec!["floor.cast.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            duplicate_window: kept,
            ..Default::default()
        })
        .await
        .expect("stream");
    js.get_or_create_stream(stream::Config {
        name: "FLOOR_USAGE".into(),
        subjects: vec!["floor.usage.>".into()],
        duplicate_window: kept,
        ..Default::default()
    })
    .await
    .expect("stream");
    let bucket = |bucket: &str| {
        js.create_key_value(kv::Config {
            bucket: bucket.into(),
            history: 1,
            max_age: kept,
            ..Default::default()
        })
    };
    let state = bucket(STATE).await.expect("bucket");
    let results = bucket(RESULTS).await.expect("bucket");
    (requests, state, results)
}

/// Casts `spell` for the requests of its stream, `concurrency` at once, until its task is
/// dropped.
pub async fn worker(url: String, spell: Spell, concurrency: usize, kept: Duration) {
    let js = jetstream::new(async_nats::connect(&url).await.expect("connect"));
    let (requests, state, results) = ensure(&js, kept).await;
    serve(&requests, "floor", concurrency, |message| {
        let (js, state, results, spell) =
            (js.clone(), state.clone(), results.clone(), spell.clone());
        async move {
            let id = message
                .subject
                .trim_start_matches("floor.cast.")
                .to_string();
            let queued: u64 = message
                .headers
                .as_ref()
                .and_then(|h| h.get(REVISION))
                .and_then(|v| v.as_str().parse().ok())
                .expect("queued revision");
            let running = state
                .update(&id, "running".into(), queued)
                .await
                .expect("running");
            let arg = String::from_utf8_lossy(&message.payload).into_owned();
            let outcome = spell
                .cast_async(CastRequest::new().arg(arg))
                .await
                .expect("cast");
            results
                .create(&id, outcome.stdout.into())
                .await
                .expect("result stored");
            let usage = PublishMessage::build()
                .payload(format!("{{\"cast\":\"{id}\",\"fuel\":1}}").into())
                .message_id(&id);
            let usage = js
                .send_publish("floor.usage.bench", usage)
                .await
                .expect("usage publish");
            let (usage, done) = tokio::join!(
                usage.into_future(),
                state.update(&id, "succeeded".into(), running)
            );
            usage.expect("usage stored");
            done.expect("succeeded");
            message.ack().await.expect("ack");
        }
    })
    .await;
}

/// Submits requests and awaits their results.
#[derive(Clone)]
pub struct Client {
    js: jetstream::Context,
    state: kv::Store,
    waiting: Waiting,
}

impl Client {
    pub async fn connect(url: &str, kept: Duration) -> Client {
        let client = async_nats::connect(url).await.expect("connect");
        let waiting = route(&client, format!("$KV.{RESULTS}.")).await;
        let js = jetstream::new(client);
        let (_, state, _) = ensure(&js, kept).await;
        Client { js, state, waiting }
    }

    /// Casts through the queue: the result's bytes.
    pub async fn cast(&self, id: &str, arg: &str) -> Vec<u8> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("lock").insert(id.into(), tx);
        let queued = self
            .state
            .create(id, "queued".into())
            .await
            .expect("queued");
        let mut headers = HeaderMap::new();
        headers.insert(REVISION, queued.to_string().as_str());
        let publish = PublishMessage::build()
            .payload(arg.to_string().into())
            .headers(headers)
            .message_id(id);
        self.js
            .send_publish(format!("floor.cast.{id}"), publish)
            .await
            .expect("request publish")
            .await
            .expect("request stored");
        rx.await.expect("result")
    }
}
