//! The MCP server: `tools/list` from the catalog, `tools/call` as a metered, policy-bound cast.
//!
//! rmcp runs each request on its own task, so calls run concurrently; the runtime's
//! `max_concurrent_casts` bounds the casts (a call beyond it waits up to the queue timeout, then
//! fails as an error result with `E-RUN-001`). A client's `notifications/cancelled` cancels the
//! call's cast through its `CancelHandle`: the cast ends `cancelled` and is still metered. A call
//! that asked for progress (`_meta.progressToken`) gets a progress notification every
//! `progress_every` while its cast runs: milliseconds elapsed of the wall-time limit.

use super::call;
use super::catalog::Catalog;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Value, json};
use spell_core::ErrorCode;
use spell_runtime::{CancelHandle, CastRequest, MeteringHook, UsageRecord};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// What every session shares: the current catalog, where usage goes, and the connected clients.
pub struct Shared {
    pub catalog: RwLock<Arc<Catalog>>,
    /// Every client that finished its handshake, told when the tool list changes.
    pub peers: Mutex<Vec<Peer<RoleServer>>>,
    /// The meter each cast reports to (the ledger's, with `--ledger`).
    pub meter: Option<Arc<dyn MeteringHook>>,
    /// `--usage-log`: one JSON usage record per line.
    pub usage_log: Option<Mutex<std::fs::File>>,
    pub progress_every: Duration,
}

impl Shared {
    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        // A poisoned lock still holds a whole catalog: swaps are single assignments.
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `next` the catalog; when the listing changed, tells every connected client and
    /// forgets those that are gone.
    pub async fn replace(&self, next: Catalog, listing_changed: bool) {
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        if !listing_changed {
            return;
        }
        eprintln!("spell mcp: the tool list changed");
        let peers = std::mem::take(&mut *self.peers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut alive = Vec::with_capacity(peers.len());
        for peer in peers {
            if peer.notify_tool_list_changed().await.is_ok() {
                alive.push(peer);
            }
        }
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(alive);
    }

    fn log_usage(&self, usage: &UsageRecord) {
        let Some(log) = &self.usage_log else {
            return;
        };
        let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
        let line = serde_json::to_string(usage).unwrap_or_default();
        if let Err(e) = writeln!(file, "{line}") {
            eprintln!("spell mcp: usage log: {e}");
        }
    }
}

/// One MCP session's handler (cheap to clone; all state is shared).
#[derive(Clone)]
pub struct SpellTools {
    pub shared: Arc<Shared>,
}

impl ServerHandler for SpellTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("spell", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Each tool is a verified WebAssembly spell cast in a sandbox under the host's policy. \
             A tool's _meta.spell names its digest, signer and granted capabilities; each result's \
             _meta.spell.usage is what the call consumed.",
        )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.shared
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.shared.catalog().listed.as_ref().clone(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(entry) = self
            .shared
            .catalog()
            .tools
            .get(request.name.as_ref())
            .cloned()
        else {
            let code = ErrorCode::ToolUnknown;
            let message = format!("no tool named `{}`", request.name);
            let data = json!({"code": code.code(), "name": code.name(), "message": message});
            return Err(ErrorData::invalid_params(message, Some(data)));
        };
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let stdin = match call::stdin_for(&entry, arguments) {
            Ok(stdin) => stdin,
            Err(refused) => return Ok(refused.into()),
        };
        let cancel = CancelHandle::new();
        let mut cast = CastRequest::new().stdin(stdin).cancel(cancel.clone());
        if let Some(meter) = &self.shared.meter {
            cast = cast.meter(meter.clone());
        }
        let cast = entry.spell.cast_async(cast);
        tokio::pin!(cast);
        let start = Instant::now();
        let total = entry.spell.grant().limits.wall_time_ms as f64;
        let mut progress = context.meta.get_progress_token().map(|token| {
            let every = self.shared.progress_every;
            (
                token,
                tokio::time::interval_at((start + every).into(), every),
            )
        });
        let mut cancelled = false;
        // One task drives the cast, the client's cancellation and the progress ticks.
        let outcome = loop {
            tokio::select! {
                outcome = &mut cast => break outcome,
                _ = context.ct.cancelled(), if !cancelled => {
                    cancelled = true;
                    cancel.cancel();
                }
                Some(token) = next_tick(&mut progress) => {
                    let elapsed = start.elapsed().as_millis() as f64;
                    let mut p = ProgressNotificationParam::new(token, elapsed);
                    p.total = Some(total);
                    p.message = Some(format!("casting: {elapsed:.0} ms of {total:.0} ms"));
                    if context.peer.notify_progress(p).await.is_err() {
                        progress = None;
                    }
                }
            }
        };
        let result = match outcome {
            Ok(o) => {
                self.shared.log_usage(&o.usage);
                call::result(&entry, &o)
            }
            // Refused before it started (`busy`, a revoked spell): nothing ran, nothing metered.
            Err(e) => call::refused(spell_core::HasCode::code(&e), &e.to_string()),
        };
        Ok(result.into())
    }
}

/// The progress token when the next tick is due; never, without progress.
async fn next_tick(
    progress: &mut Option<(ProgressToken, tokio::time::Interval)>,
) -> Option<ProgressToken> {
    match progress {
        Some((token, ticks)) => {
            ticks.tick().await;
            Some(token.clone())
        }
        None => std::future::pending().await,
    }
}
