//! A worker (not yet running) and a client on a fresh `nats-server -js`, with the hello example
//! published.

use crate::nats_server::NatsServer;
use spell_service::{Client, NatsOptions, ServiceConfig, Worker};

pub struct HelloService {
    /// Stopped when dropped.
    pub _server: NatsServer,
    pub options: NatsOptions,
    pub runtime: spell_runtime::Runtime,
    pub worker: Worker,
    pub client: Client,
    /// The hello spell's digest, hex.
    pub digest: String,
}

/// Starts a server, builds a worker of `concurrency` casts under `examples/policy.toml` that
/// makes the streams with `config`, connects a client and publishes `examples/hello`.
pub async fn start(concurrency: usize, config: ServiceConfig) -> HelloService {
    let server = NatsServer::start();
    let options = NatsOptions::new(server.url());
    let policy = spell_core::Policy::from_file(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml").as_ref(),
    )
    .expect("policy");
    let runtime = spell_runtime::Runtime::new().expect("runtime");
    let worker = Worker::builder(
        options.connect().await.expect("connect"),
        runtime.clone(),
        policy,
    )
    .concurrency(concurrency)
    .config(config)
    .build();
    worker.ensure().await.expect("streams");
    let client = Client::connect(&options).await.expect("client");
    let package = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/hello/hello.spell"
    ))
    .expect("package");
    let (digest, _) = client.publish(&package).await.expect("publish");
    HelloService {
        _server: server,
        options,
        runtime,
        worker,
        client,
        digest: digest.to_hex(),
    }
}
