//! `spell mcp --listen ADDR`: the same tools over MCP's streamable HTTP transport at `/mcp`.
//!
//! rmcp's `StreamableHttpService` is a tower service; hyper's HTTP/1 server drives it, one task
//! per connection. rmcp's defaults guard the server: only loopback `Host` headers are accepted
//! (DNS rebinding) and request bodies are capped.

use super::server::SpellTools;
use crate::commands::mcp::Watch;
use anyhow::Context;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves until the process is stopped (SIGTERM or Ctrl-C).
pub async fn serve(addr: SocketAddr, tools: SpellTools, watch: Watch) -> anyhow::Result<i32> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    eprintln!(
        "spell mcp: serving http://{}/mcp",
        listener.local_addr().unwrap_or(addr)
    );
    tokio::spawn(watch.run());
    let service = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted.context("accepting a connection")?,
            _ = tokio::signal::ctrl_c() => return Ok(0),
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                eprintln!("spell mcp: connection: {e}");
            }
        });
    }
}
