//! Spells' DNS: one asynchronous stub resolver per [`crate::Runtime`] (hickory), on a thread of
//! its own.
//!
//! `getaddrinfo` (tokio's `lookup_host`) blocks a thread of tokio's blocking pool until the
//! system resolver gives up, whether or not anyone still waits for the answer: lookups cut by a
//! request timeout piled up as threads that outlived their casts and filled the pool other casts'
//! file I/O needs. Here a lookup is a task on the resolver's own executor; dropping the future
//! [`Dns::lookup`] returns (the request's timeout, the cast's deadline or cancellation) aborts the
//! task, and with it the queries it was sending. A lookup also ends by itself: every query has
//! [`QUERY_TIMEOUT`], a failed query is tried [`ATTEMPTS`] times more, and the whole lookup gets
//! [`LOOKUP_LIMIT`].
//!
//! The resolver's connections and background tasks live on the `spell-dns` thread rather than on
//! the casts' per-thread executors, so a lookup never waits on another thread's executor being
//! polled. Its cache is shared by the runtime's casts. The thread starts with the first lookup:
//! the network is denied unless a policy grants it, and a runtime whose spells never resolve a
//! name (a one-cast CLI run, most plugin hosts) keeps no idle thread for it.

use super::NetError;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest wait for one query's answer (lowered further by the system's `options timeout:`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Further tries of a failed query (lowered further by the system's `options attempts:`).
const ATTEMPTS: usize = 1;
/// Longest a lookup runs, all its queries (A and AAAA, search domains, retries) together.
const LOOKUP_LIMIT: Duration = Duration::from_secs(5);

/// The runtime's resolver, started by its first lookup.
pub(crate) struct Dns {
    servers: Vec<SocketAddr>,
    /// The resolver, or why it could not start (each lookup then fails with that reason).
    started: OnceLock<Result<Started, String>>,
}

/// A running resolver and the executor its lookups run on.
struct Started {
    resolver: TokioResolver,
    executor: tokio::runtime::Handle,
    /// Dropped with the runtime: the `spell-dns` thread then ends, aborting what is left.
    _stop: oneshot::Sender<()>,
}

impl Dns {
    /// A resolver that will ask `servers` (UDP, then TCP for truncated answers), or the system's
    /// name servers (`/etc/resolv.conf`) when `servers` is empty; `/etc/hosts` is read either way.
    pub(crate) fn new(servers: &[SocketAddr]) -> Dns {
        Dns {
            servers: servers.to_vec(),
            started: OnceLock::new(),
        }
    }

    /// The addresses `host` (a name, not an IP literal) resolves to. Dropping the returned future
    /// cancels the lookup.
    pub(crate) async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, NetError> {
        let failed = |why: String| NetError::Transport(format!("resolving {host}: {why}"));
        let started = self
            .started
            .get_or_init(|| {
                Started::new(&self.servers)
                    .map_err(|e| format!("could not start the DNS resolver: {e}"))
            })
            .as_ref()
            .map_err(|why| failed(why.clone()))?;
        let resolver = started.resolver.clone();
        let name = host.to_string();
        let mut task = AbortOnDrop(started.executor.spawn(async move {
            tokio::time::timeout(LOOKUP_LIMIT, resolver.lookup_ip(name)).await
        }));
        match (&mut task.0).await {
            Ok(Ok(Ok(found))) => Ok(found.iter().collect()),
            Ok(Ok(Err(e))) => Err(failed(e.to_string())),
            Ok(Err(_)) => Err(failed(format!(
                "no answer within {} s",
                LOOKUP_LIMIT.as_secs()
            ))),
            Err(e) => Err(failed(format!("the resolver stopped: {e}"))),
        }
    }
}

impl Started {
    fn new(servers: &[SocketAddr]) -> std::io::Result<Started> {
        // The executor is made and dropped on its own thread only: this runs inside a cast's
        // executor, where dropping a runtime panics (its shutdown blocks), as it would on any
        // error below had it been made here. Dropping `stop` ends the thread.
        let (stop, stopped) = oneshot::channel::<()>();
        let (made, handle) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("spell-dns".into())
            .spawn(move || {
                let executor = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let executor = match executor {
                    Ok(executor) => executor,
                    Err(e) => return drop(made.send(Err(e))),
                };
                let _ = made.send(Ok(executor.handle().clone()));
                executor.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        let handle = handle
            .recv()
            .map_err(|_| std::io::Error::other("the resolver's thread ended"))??;
        let resolver = {
            let _in_executor = handle.enter();
            resolver(servers)?
        };
        Ok(Started {
            resolver,
            executor: handle,
            _stop: stop,
        })
    }
}

fn resolver(servers: &[SocketAddr]) -> std::io::Result<TokioResolver> {
    let with = |servers: Vec<NameServerConfig>| {
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let mut builder = match servers {
        [] => TokioResolver::builder_tokio().unwrap_or_else(|e| {
            // Like a host without name servers: only /etc/hosts names resolve.
            tracing::warn!(
                "spells' DNS: no usable /etc/resolv.conf ({e}); names resolve only from /etc/hosts"
            );
            with(Vec::new())
        }),
        _ => with(
            servers
                .iter()
                .map(|a| {
                    let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                    (udp.port, tcp.port) = (a.port(), a.port());
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect(),
        ),
    };
    let options = builder.options_mut();
    options.timeout = options.timeout.min(QUERY_TIMEOUT);
    options.attempts = options.attempts.min(ATTEMPTS);
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    builder
        .build()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
