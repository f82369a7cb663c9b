//! What the service-mode subcommands share: how to reach the NATS server (the options the NATS
//! command-line tools take) and an async runtime to talk to it.

use spell_service::NatsOptions;
use std::path::PathBuf;

/// `--nats URL` and its credentials and TLS options, each also read from the environment
/// variable the NATS command-line tools read (`NATS_URL`, ...), which keeps a password in the
/// URL out of the process list.
#[derive(clap::Args)]
pub struct NatsArgs {
    /// The NATS server(s), e.g. nats://127.0.0.1:4222 or tls://user:pass@host:4222.
    #[arg(
        long,
        value_name = "URL",
        env = "NATS_URL",
        hide_env_values = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: String,
    /// A NATS credentials file (JWT and NKey seed).
    #[arg(long, value_name = "FILE", env = "NATS_CREDS")]
    creds: Option<PathBuf>,
    /// A file holding an NKey seed.
    #[arg(long, value_name = "FILE", env = "NATS_NKEY")]
    nkey: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the server.
    #[arg(long, value_name = "FILE", env = "NATS_CA")]
    tlsca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs --tlskey.
    #[arg(long, value_name = "FILE", env = "NATS_CERT", requires = "tlskey")]
    tlscert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS; needs --tlscert.
    #[arg(long, value_name = "FILE", env = "NATS_KEY", requires = "tlscert")]
    tlskey: Option<PathBuf>,
    /// Refuse a connection without TLS.
    #[arg(long)]
    tls: bool,
}

impl NatsArgs {
    /// The connection options.
    pub fn options(&self) -> NatsOptions {
        let mut o = NatsOptions::new(&self.nats).require_tls(self.tls);
        if let Some(p) = &self.creds {
            o = o.credentials(p);
        }
        if let Some(p) = &self.nkey {
            o = o.nkey(p);
        }
        if let Some(p) = &self.tlsca {
            o = o.root_certificates(p);
        }
        if let (Some(c), Some(k)) = (&self.tlscert, &self.tlskey) {
            o = o.client_certificate(c, k);
        }
        o
    }
}

/// Runs a future to completion on a multi-threaded tokio runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// SIGTERM (what process managers send) or Ctrl-C (SIGINT). The handlers are installed by this
/// call, not when the future is first polled: a signal that comes as soon as the caller has said
/// it is ready must not take the default action (exit without draining).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        tokio::select! {
            _ = received(term) => {}
            _ = received(interrupt) => {}
        }
    }
}

/// Waits for a signal; forever when its handler could not be installed.
async fn received(signal: std::io::Result<tokio::signal::unix::Signal>) {
    match signal {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
