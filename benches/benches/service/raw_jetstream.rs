//! The floor under any JetStream design of a cast service, on the same server: a request
//! published to a work-queue stream (de-duplicated by its id), pulled in batches by a durable
//! consumer, cast in process, its result published to a stream of its own, then the request
//! acked; the client hears of the result on a core subscription. Both writes are acknowledged by
//! the server before the next step, as Spell's are. That is three server operations a cast; Spell
//! adds the lifecycle (queued, running, final: compare-and-set each), the usage entry and the
//! result record that make a redelivered request idempotent and its usage billed exactly once.

use async_nats::jetstream::{self, consumer, message::PublishMessage, stream};
use futures_util::StreamExt;
use spell_runtime::{CastRequest, Spell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};

pub type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// The request and result streams (file storage, the server's default), made if missing.
/// Results are kept and request ids de-duplicated for `kept`, as Spell keeps its casts (zero:
/// the server's defaults, results forever and ids for two minutes).
async fn ensure(js: &jetstream::Context, kept: Duration) -> stream::Stream {
    js.get_or_create_stream(stream::Config {
        name: "RAW_RESULTS".into(),
        subjects: vec!["raw.res.>".into()],
        max_age: kept,
        ..Default::default()
    })
    .await
    .expect("stream");
    js.get_or_create_stream(stream::Config {
        name: "RAW_REQUESTS".into(),
        subjects: vec!["raw.req.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: kept,
        ..Default::default()
    })
    .await
    .expect("stream")
}

/// Runs `handle` on each request of `requests`, delivered by its durable consumer `durable`:
/// `concurrency` at once, unacked and fetched as many at a time, each on a task of its own.
pub async fn serve<F, Fut>(requests: &stream::Stream, durable: &str, concurrency: usize, handle: F)
where
    F: Fn(jetstream::Message) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let consumer = requests
        .get_or_create_consumer(
            durable,
            consumer::pull::Config {
                durable_name: Some(durable.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                max_ack_pending: concurrency as i64,
                ..Default::default()
            },
        )
        .await
        .expect("consumer");
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(concurrency)
        .messages()
        .await
        .expect("pull");
    let slots = Arc::new(Semaphore::new(concurrency));
    while let Some(Ok(message)) = messages.next().await {
        let permit = slots.clone().acquire_owned().await.expect("slots");
        let handled = handle(message);
        tokio::spawn(async move {
            handled.await;
            drop(permit);
        });
    }
}

/// Hands each message heard on `prefix>` to whoever waits for the id after `prefix`.
pub async fn route(client: &async_nats::Client, prefix: String) -> Waiting {
    let mut results = client
        .subscribe(format!("{prefix}>"))
        .await
        .expect("subscribe");
    let waiting = Waiting::default();
    let routed = waiting.clone();
    tokio::spawn(async move {
        while let Some(result) = results.next().await {
            let id = result.subject.trim_start_matches(prefix.as_str());
            if let Some(tx) = routed.lock().expect("lock").remove(id) {
                let _ = tx.send(result.payload.to_vec());
            }
        }
    });
    waiting
}

/// Casts `spell` for the requests of its stream, `concurrency` at once, until its task is
/// dropped.
pub async fn worker(url: String, spell: Spell, concurrency: usize, kept: Duration) {
    let js = jetstream::new(async_nats::connect(&url).await.expect("connect"));
    let requests = ensure(&js, kept).await;
    serve(&requests, "raw", concurrency, |message| {
        let (js, spell) = (js.clone(), spell.clone());
        async move {
            let id = message.subject.trim_start_matches("raw.req.").to_string();
            let arg = String::from_utf8_lossy(&message.payload).into_owned();
            let outcome = spell
                .cast_async(CastRequest::new().arg(arg))
                .await
                .expect("cast");
            js.publish(format!("raw.res.{id}"), outcome.stdout.into())
                .await
                .expect("result publish")
                .await
                .expect("result stored");
            message.ack().await.expect("ack");
        }
    })
    .await;
}

/// Submits requests and awaits their results.
#[derive(Clone)]
pub struct Client {
    js: jetstream::Context,
    waiting: Waiting,
}

impl Client {
    pub async fn connect(url: &str, kept: Duration) -> Client {
        let client = async_nats::connect(url).await.expect("connect");
        let waiting = route(&client, "raw.res.".into()).await;
        let js = jetstream::new(client);
        ensure(&js, kept).await;
        Client { js, waiting }
    }

    /// Casts through the queue: the result's bytes.
    pub async fn cast(&self, id: &str, arg: &str) -> Vec<u8> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("lock").insert(id.into(), tx);
        let publish = PublishMessage::build()
            .payload(arg.to_string().into())
            .message_id(id);
        self.js
            .send_publish(format!("raw.req.{id}"), publish)
            .await
            .expect("request publish")
            .await
            .expect("request stored");
        rx.await.expect("result")
    }
}
