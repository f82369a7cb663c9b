//! Outbound HTTP for spells: the `spell::http_request` host import, and the sender behind
//! components' `wasi:http` ([`wasi_http`]), which shares its checks, client and meter.
//!
//! A spell gets no network unless its grant names host patterns (`capabilities.network`, the
//! manifest's request intersected with the policy). The host makes each request on the guest's
//! behalf, so every byte is counted, capped and billed, and nothing reaches a host or address the
//! policy did not name. C guests use `guest/include/spell_guest.h`; the ABI:
//!
//! ```text
//! (import "spell" "http_request" (func (param $request i32) (param $response i32) (result i32)))
//! ```
//!
//! `$request` points at a `spell_http_request_t` (method, URL, header block, body, timeout),
//! `$response` at a `spell_http_response_t` (buffers for headers and body; the host fills in
//! the status and lengths). Layouts are in [`abi`]. The result is 0 when a response arrived (any
//! HTTP status), else the number of an `E-NET` catalog code
//! ([`spell_core::ErrorCode::as_u16`]): 801 not granted, 802 address refused (SSRF guard), 803 a
//! limit (the cast's request count, or a response larger than the guest's buffers: then status
//! and lengths are set and the buffers hold what fit), 804 timeout, 805 malformed request, 806
//! connection, TLS or HTTP failure. On codes other than 0 and 803 the status is 0 and the body
//! buffer holds the reason as text. If the response struct itself is out of bounds the result is
//! 805 and nothing is written.
//!
//! Semantics:
//! - **Order of checks**: URL (WHATWG-normalized) → grant pattern → request count → byte budget
//!   (the request's head and body) → the request is counted → DNS ([`dns`]; IP literals skip
//!   it) and the SSRF guard ([`guard`]) → connect to a checked address only (pinned: no second
//!   lookup). Refusals (not granted, address refused, request limit) are reported to the
//!   observer hook as `PolicyViolation { capability: "network" }` with the method, URL and reason.
//! - **Limits**: `net_requests` counts every request that passed the grant, count and byte
//!   checks, whether it then failed at DNS, was refused by the SSRF guard, timed out or
//!   connected: each lookup of a guest-chosen name is counted before it starts, so the cap bounds
//!   lookups too. Beyond the cap a request fails with 803 and the cast goes on. A cast runs at
//!   most one lookup at a time (the guest waits for each request), and a lookup ends with its
//!   request: the request's timeout or the cast's deadline or cancellation cancels it, and on its
//!   own it gives up after a few seconds ([`dns`]). `net_bytes` caps plaintext bytes in plus out
//!   (heads and bodies; [`client`]); a request that would pass it, before or while sending or
//!   receiving, ends the cast with outcome `network_limit`. The bytes moved up to that point are
//!   in the usage record, as are those of a request cut short by the cast's deadline or
//!   cancellation.
//! - **Time**: a request runs until the guest's `timeout_ms` (then 804, the cast goes on) or the
//!   cast's wall-time deadline, whichever is first; at the deadline the cast ends as `timeout`.
//!   The import is async (`func_wrap_async` on tokio): a request never blocks the executor, and
//!   the cast's deadline and cancel handle drop it wherever it is.
//! - **Redirects are not followed.** A 3xx response is returned as it is; a guest that follows
//!   `location` makes a new request, checked like any other.
//! - **Host-owned headers**: `host`, `content-length`, `transfer-encoding`, `connection`, `te`,
//!   `trailer` and `upgrade` are set by the host (each request uses its own connection and
//!   `connection: close`); a guest sending them gets 805.

mod abi;
mod client;
mod dns;
mod guard;
mod target;
mod wasi_http;

use crate::cast::{CastState, NetUsage};
use crate::host::{HostCall, HostError, HostFault};
use crate::limits::Stop;
use crate::trace::{self, TraceContext};
use abi::{GuestRequest, ResponseBuffers};
use bytes::Bytes;
use client::{Response, WireMeter};
use http::Method;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderValue};
use http_body_util::Full;
use spell_core::{AddressRange, EffectiveLimits, ErrorCode, HasCode, HostPattern};
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::Target;
use tokio_rustls::TlsConnector;
use tracing::Instrument;

pub(crate) use client::tls_connector;
pub(crate) use dns::Dns;
pub(crate) use wasi_http::HttpHooks;
use wasmtime::{Caller, Linker};

/// The import module of Spell's own host functions.
pub(crate) const MODULE: &str = "spell";
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// The functions of [`MODULE`].
pub(crate) const IMPORTS: [&str; 1] = ["http_request"];

/// Why a request failed while the cast goes on; the guest gets the code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetError {
    #[error("not granted to this spell")]
    NotGranted,
    #[error("{host} resolves only to refused addresses: {refused}")]
    AddressBlocked { host: String, refused: String },
    #[error("the cast's limit of {0} requests is reached")]
    RequestLimit(u64),
    #[error("timed out after {0} ms")]
    Timeout(u32),
    #[error("malformed request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Transport(String),
}

impl HasCode for NetError {
    fn code(&self) -> ErrorCode {
        match self {
            NetError::NotGranted => ErrorCode::NetNotGranted,
            NetError::AddressBlocked { .. } => ErrorCode::NetAddressBlocked,
            NetError::RequestLimit(_) => ErrorCode::NetLimit,
            NetError::Timeout(_) => ErrorCode::NetTimeout,
            NetError::Invalid(_) => ErrorCode::NetRequestInvalid,
            NetError::Transport(_) => ErrorCode::NetTransport,
        }
    }
}

/// What a spell may reach, fixed at load: its granted patterns and the policy's SSRF
/// exceptions, and the runtime's TLS trust and resolver.
pub(crate) struct NetGrant {
    pub(crate) patterns: Vec<HostPattern>,
    pub(crate) allow_addresses: Vec<AddressRange>,
    pub(crate) tls: TlsConnector,
    pub(crate) dns: Arc<Dns>,
    /// The policy's `[network] propagate_trace_context`.
    pub(crate) propagate_trace: bool,
}

/// What one cast may reach and spend.
#[derive(Clone)]
pub(crate) struct NetScope {
    grant: Arc<NetGrant>,
    max_requests: u64,
    max_bytes: u64,
    deadline: Instant,
    wall_time_ms: u64,
    /// The trace the cast joined, whose context requests carry when the policy lets them.
    trace: Option<Arc<TraceContext>>,
}

impl NetScope {
    pub(crate) fn new(
        grant: Arc<NetGrant>,
        limits: &EffectiveLimits,
        deadline: Instant,
        trace: Option<Arc<TraceContext>>,
    ) -> NetScope {
        NetScope {
            grant,
            max_requests: limits.net_requests,
            max_bytes: limits.net_bytes,
            deadline,
            wall_time_ms: limits.wall_time_ms,
            trace,
        }
    }

    /// The trace context a request with span id `span_id` sends, if any.
    fn propagated(&self, span_id: &str) -> Option<(HeaderValue, Option<HeaderValue>)> {
        let trace = self.trace.as_ref().filter(|_| self.grant.propagate_trace)?;
        // Both were checked to be printable ASCII when the cast started.
        let parent = HeaderValue::from_str(&trace.child(span_id)).ok()?;
        let state = trace.state().and_then(|s| HeaderValue::from_str(s).ok());
        Some((parent, state))
    }

    /// When a request must end, and whether that is the cast's own deadline.
    fn request_deadline(&self, timeout_ms: u32) -> (Instant, bool) {
        match timeout_ms {
            0 => (self.deadline, true),
            ms => {
                let own = Instant::now() + Duration::from_millis(ms.into());
                if own < self.deadline {
                    (own, false)
                } else {
                    (self.deadline, true)
                }
            }
        }
    }
}

/// Defines the `spell` imports on the runtime's linker. [`crate::Runtime`] lets a module import
/// them only when its grant has network patterns.
pub(crate) fn add_to_linker(linker: &mut Linker<CastState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "http_request",
        |caller: Caller<'_, CastState>, (request, response): (u32, u32)| {
            Box::new(http_request(HostCall::new(caller), request, response))
        },
    )?;
    Ok(())
}

/// How a request ended when it did not deliver a response.
enum Failure {
    /// The request fails with a code; the cast goes on.
    Request(NetError),
    /// A limit ends the cast.
    Cast(Stop),
}

async fn http_request(
    mut call: HostCall<'_>,
    request: u32,
    response: u32,
) -> wasmtime::Result<i32> {
    let buffers = match ResponseBuffers::read(&mut call, response) {
        Ok(b) => b,
        Err(e) => return Ok(code_of(&e)),
    };
    let span_id = trace::span_id();
    let span = tracing::info_span!(
        "http_request",
        span_id = span_id.as_str(),
        http.request.method = tracing::field::Empty,
        server.address = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        error = tracing::field::Empty,
    );
    let result = match GuestRequest::read(&mut call, request) {
        Ok(request) => {
            // The host and method, not the URL: its path and query may carry secrets.
            span.record("http.request.method", request.method.as_str());
            perform(&mut call, request, buffers.body_cap(), &span_id)
                .instrument(span.clone())
                .await
        }
        Err(e) => Err(Failure::Request(e)),
    };
    match &result {
        Ok(r) => span.record("http.response.status_code", r.status),
        Err(Failure::Request(e)) => span.record("error", tracing::field::display(e)),
        Err(Failure::Cast(stop)) => span.record("error", tracing::field::display(stop)),
    };
    match result {
        Ok(response) => match buffers.deliver(&mut call, &response).map_err(fault)? {
            true => Ok(0),
            false => Ok(i32::from(ErrorCode::NetLimit.as_u16())),
        },
        Err(Failure::Request(e)) => {
            buffers.fail(&mut call, &e.to_string()).map_err(fault)?;
            Ok(code_of(&e))
        }
        Err(Failure::Cast(stop)) => Err(call.state().tripwire.trip(stop)),
    }
}

async fn perform(
    call: &mut HostCall<'_>,
    request: GuestRequest,
    body_cap: usize,
    span_id: &str,
) -> Result<Response, Failure> {
    let state = call.state();
    let scope = state.net_scope.clone();
    let tripwire = state.tripwire.clone();
    let what = format!("{} {}", request.method, request.url);
    let refuse = |e: NetError| {
        tripwire.violation("network", format!("{what}: {e}"));
        Failure::Request(e)
    };
    let target = Target::parse(&request.url).map_err(Failure::Request)?;
    tracing::Span::current().record("server.address", target.host());
    if !target.granted_by(&scope.grant.patterns) {
        return Err(refuse(NetError::NotGranted));
    }
    if state.net.requests >= scope.max_requests {
        return Err(refuse(NetError::RequestLimit(scope.max_requests)));
    }
    let (deadline, cast_deadline) = scope.request_deadline(request.timeout_ms);
    let timed_out = |timeout_ms| match cast_deadline {
        true => Failure::Cast(Stop::Timeout(scope.wall_time_ms)),
        false => Failure::Request(NetError::Timeout(timeout_ms)),
    };
    let deadline = tokio::time::Instant::from_std(deadline);
    let timeout_ms = request.timeout_ms;
    let body_len = request.body.len();
    let request = build(&target, request, scope.propagated(span_id))?;
    let net = &mut state.net;
    let budget = scope.max_bytes.saturating_sub(net.bytes_in + net.bytes_out);
    let size = client::request_size(&request, body_len);
    if size > budget {
        let detail = format!(
            "{what} would send {size} bytes with {budget} of the cast's {} left",
            scope.max_bytes
        );
        return Err(Failure::Cast(Stop::NetworkLimit(detail)));
    }
    // Counted before the lookup: a request that fails at DNS or the guard still counts.
    net.requests += 1;
    // Timing out drops the lookup, which cancels it.
    let addrs = match tokio::time::timeout_at(
        deadline,
        guard::resolve(&scope.grant.dns, &target, &scope.grant.allow_addresses),
    )
    .await
    {
        Err(_) => return Err(timed_out(timeout_ms)),
        Ok(Err(e @ NetError::AddressBlocked { .. })) => return Err(refuse(e)),
        Ok(Err(e)) => return Err(Failure::Request(e)),
        Ok(Ok(addrs)) => addrs,
    };
    let net = &mut call.state().net;
    let meter = WireMeter::new(budget);
    let result = {
        let _settle = Settle {
            usage: net,
            meter: meter.clone(),
        };
        tokio::time::timeout_at(
            deadline,
            client::exchange(
                &scope.grant.tls,
                &target,
                &addrs,
                request,
                body_cap,
                meter.clone(),
            ),
        )
        .await
    };
    match result {
        Ok(Ok(response)) => Ok(response),
        _ if meter.exceeded() => {
            let detail = format!("{} bytes per cast, during {what}", scope.max_bytes);
            Err(Failure::Cast(Stop::NetworkLimit(detail)))
        }
        Ok(Err(e)) => Err(Failure::Request(e)),
        Err(_) => Err(timed_out(timeout_ms)),
    }
}

/// The HTTP request: the guest's method, headers and body, plus the headers the host owns.
/// With `trace`, the `traceparent` (and `tracestate`) replace any the guest set: the host's
/// context is the one the trace is built from.
fn build(
    target: &Target,
    request: GuestRequest,
    trace: Option<(HeaderValue, Option<HeaderValue>)>,
) -> Result<http::Request<Full<Bytes>>, Failure> {
    let invalid = |what: &str| {
        Failure::Request(NetError::Invalid(format!(
            "{what} of `{}`",
            target.as_str()
        )))
    };
    let mut headers = HeaderMap::with_capacity(request.headers.len() + 3);
    headers.insert(
        HOST,
        HeaderValue::from_str(&target.authority()).map_err(|_| invalid("host"))?,
    );
    headers.extend(request.headers);
    close_and_trace(&mut headers, trace);
    if !request.body.is_empty()
        || matches!(request.method, Method::POST | Method::PUT | Method::PATCH)
    {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(request.body.len()));
    }
    let mut out = http::Request::new(Full::new(request.body));
    *out.method_mut() = request.method;
    *out.uri_mut() = target.origin_form().parse().map_err(|_| invalid("path"))?;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The headers the host owns beside `host`, for modules' and components' requests alike:
/// `connection: close` (one connection per request), and with `trace` the `traceparent` (and
/// `tracestate`), replacing any the guest set.
fn close_and_trace(headers: &mut HeaderMap, trace: Option<(HeaderValue, Option<HeaderValue>)>) {
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    if let Some((parent, state)) = trace {
        headers.insert(TRACEPARENT, parent);
        match state {
            Some(state) => headers.insert(TRACESTATE, state),
            None => headers.remove(TRACESTATE),
        };
    }
}

/// Adds a request's bytes to the cast's usage when the request ends, also when the cast's
/// deadline or cancellation drops the call mid-request.
struct Settle<'a> {
    usage: &'a mut NetUsage,
    meter: Arc<WireMeter>,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let (bytes_in, bytes_out) = self.meter.close();
        self.usage.bytes_in += bytes_in;
        self.usage.bytes_out += bytes_out;
    }
}

fn code_of(e: &NetError) -> i32 {
    i32::from(e.code().as_u16())
}

fn fault(e: HostError) -> wasmtime::Error {
    wasmtime::Error::new(HostFault {
        function: format!("{MODULE}::http_request"),
        message: e.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `guest/include/spell_guest.h` names every `E-NET` code with the catalog's number, and the
    /// struct sizes it asserts are the ones the host reads.
    #[test]
    fn guest_header_matches_the_catalog_and_the_layouts() {
        let header = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../guest/include/spell_guest.h"
        ))
        .expect("header");
        let mut named = Vec::new();
        for line in header.lines() {
            let Some(rest) = line.strip_prefix("#define SPELL_E_") else {
                continue;
            };
            let (name, value) = rest.split_once(' ').expect("#define NAME VALUE");
            let code = ErrorCode::parse(&name.to_ascii_lowercase())
                .unwrap_or_else(|| panic!("{name} is not in the catalog"));
            assert_eq!(
                value.trim().parse::<u16>().ok(),
                Some(code.as_u16()),
                "{name}"
            );
            named.push(code);
        }
        let net: Vec<ErrorCode> = ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| c.name().starts_with("net_"))
            .collect();
        assert_eq!(named, net, "every E-NET code, in catalog order");
        assert!(header.contains(&format!(
            "sizeof(spell_http_request_t) == {}",
            abi::REQUEST_SIZE
        )));
        assert!(header.contains(&format!(
            "sizeof(spell_http_response_t) == {}",
            abi::RESPONSE_SIZE
        )));
        assert!(header.contains("#define SPELL_NET_OK 0"));
    }
}
