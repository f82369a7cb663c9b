//! Components' `wasi:http/outgoing-handler`: wasmtime-wasi-http implements the interface (its
//! resources, streams and pollables), and [`HttpHooks`] is its sender, so a component's requests
//! go through the same checks, client and meter as the `spell::http_request` import's.
//!
//! What is the same as for modules ([`super`]): the WHATWG-normalized URL, the grant patterns,
//! the request count (each request that passed the grant and count checks counts, before its
//! lookup), DNS through the runtime's resolver and the SSRF guard on every resolved address, a
//! connection only to a checked address (pinned), the runtime's TLS roots, `connection: close`
//! and one connection per request, redirects returned rather than followed, trace context when
//! the policy propagates it, and refusals reported as `network` policy violations.
//!
//! What differs, because wasi:http streams: all of a cast's requests share one [`WireMeter`],
//! and a read or write past the cast's byte budget fails and trips the cast (`network_limit`),
//! which then ends at once, whether the guest is reading that body, polling or computing. Bodies
//! are not cut at a buffer: the guest reads them as streams. Failures reach the guest as
//! wasi:http `error-code`s: `HTTP-request-denied` (not granted), `connection-limit-reached` (the
//! request cap), `destination-IP-prohibited` (the guard), `HTTP-request-URI-invalid`,
//! `DNS-timeout`/`DNS-error`, `connection-refused`/`-timeout`/`-read-timeout` and the TLS ones.
//! Timeouts are the guest's `request-options` (connect, first byte, between bytes); none set,
//! the cast's deadline bounds the request. `host`, `connection`, `transfer-encoding`, `te`,
//! `trailer`, `upgrade` and the proxy headers are the host's: a guest setting them is refused
//! by wasi:http (`forbidden`).

use super::client::{self, WireMeter};
use super::target::Target;
use super::{NetError, NetGrant, NetScope, guard};
use crate::cast::NetUsage;
use crate::limits::Tripwire;
use crate::trace;
use bytes::Bytes;
use http::header::{HOST, HeaderValue, TE, TRAILER};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tokio_rustls::rustls;
use tracing::Instrument;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// What the sender hands wasi:http: the response (its body streams) and the connection's I/O,
/// which wasi:http drives while the guest reads the body.
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

/// The sender of one component cast.
pub(crate) struct HttpHooks {
    scope: NetScope,
    tripwire: Arc<Tripwire>,
    requests: u64,
    /// The cast's byte budget, shared by its requests; made on the first one.
    meter: Option<Arc<WireMeter>>,
}

impl HttpHooks {
    pub(crate) fn new(scope: NetScope, tripwire: Arc<Tripwire>) -> HttpHooks {
        HttpHooks {
            scope,
            tripwire,
            requests: 0,
            meter: None,
        }
    }

    /// Adds the cast's requests and bytes to `usage`. No byte moves after this, so none is left
    /// out of the record by a connection the cast's end has not dropped yet.
    pub(crate) fn settle(&self, usage: &mut NetUsage) {
        usage.requests += self.requests;
        if let Some(meter) = &self.meter {
            let (bytes_in, bytes_out) = meter.close();
            usage.bytes_in += bytes_in;
            usage.bytes_out += bytes_out;
        }
    }

    /// The checks made before anything is sent, in the module import's order: URL, grant,
    /// request count. The request is counted once it passes them.
    fn admit(&mut self, uri: &http::Uri, what: &str) -> Result<Target, Error> {
        let refuse = |e: NetError, code: Error| {
            self.tripwire.violation("network", format!("{what}: {e}"));
            code
        };
        let target = Target::parse(&uri.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
        if !target.granted_by(&self.scope.grant.patterns) {
            return Err(refuse(NetError::NotGranted, Error::HttpRequestDenied));
        }
        if self.requests >= self.scope.max_requests {
            let e = NetError::RequestLimit(self.scope.max_requests);
            return Err(refuse(e, Error::ConnectionLimitReached));
        }
        self.requests += 1;
        Ok(target)
    }
}

impl WasiHttpHooks for HttpHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(|name| DEFAULT_FORBIDDEN_HEADERS.contains(name) || name == TE || name == TRAILER)
    }

    /// The `host` header is the normalized URL's, set by [`own_headers`].
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let what = format!("{} {}", request.method(), request.uri());
        let target = match self.admit(request.uri(), &what) {
            Ok(target) => target,
            Err(e) => return Box::new(std::future::ready(Err(e))),
        };
        let span_id = trace::span_id();
        let span = tracing::info_span!(
            "http_request",
            span_id = span_id.as_str(),
            http.request.method = request.method().as_str(),
            server.address = target.host(),
            http.response.status_code = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        if let Err(e) = own_headers(&mut request, &target, self.scope.propagated(&span_id)) {
            return Box::new(std::future::ready(Err(e)));
        }
        let meter = self
            .meter
            .get_or_insert_with(|| WireMeter::tripping(self.scope.max_bytes, self.tripwire.clone()))
            .clone();
        let exchange = Exchange {
            grant: self.scope.grant.clone(),
            tripwire: self.tripwire.clone(),
            target,
            options: options.unwrap_or_default(),
            what,
        };
        Box::new(
            async move {
                let sent = exchange.send(request, meter).await;
                let span = tracing::Span::current();
                match &sent {
                    Ok((response, _)) => {
                        span.record("http.response.status_code", response.status().as_u16())
                    }
                    Err(e) => span.record("error", tracing::field::debug(e)),
                };
                sent
            }
            .instrument(span),
        )
    }
}

/// The host's headers and the request target: `host` from the normalized URL, `connection:
/// close`, the trace context when propagated (replacing the guest's), and the origin-form URI
/// HTTP/1.1 sends.
fn own_headers(
    request: &mut http::Request<WasiBody>,
    target: &Target,
    trace: Option<(HeaderValue, Option<HeaderValue>)>,
) -> Result<(), Error> {
    let headers = request.headers_mut();
    let host =
        HeaderValue::from_str(&target.authority()).map_err(|_| Error::HttpRequestUriInvalid)?;
    headers.insert(HOST, host);
    super::close_and_trace(headers, trace);
    *request.uri_mut() = target
        .origin_form()
        .parse()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    Ok(())
}

/// One admitted request on its way.
struct Exchange {
    grant: Arc<NetGrant>,
    tripwire: Arc<Tripwire>,
    target: Target,
    options: RequestOptions,
    /// Method and URL, for violations.
    what: String,
}

impl Exchange {
    async fn send(self, request: http::Request<WasiBody>, meter: Arc<WireMeter>) -> Sent {
        let connect_by = self.options.connect_timeout.map(|d| Instant::now() + d);
        let lookup = guard::resolve(&self.grant.dns, &self.target, &self.grant.allow_addresses);
        let addrs = match by(connect_by, lookup).await {
            None => return Err(Error::DnsTimeout),
            Some(Err(e @ NetError::AddressBlocked { .. })) => {
                self.tripwire
                    .violation("network", format!("{}: {e}", self.what));
                return Err(Error::DestinationIpProhibited);
            }
            Some(Err(e)) => {
                return Err(Error::DnsError {
                    rcode: Some(e.to_string()),
                    info_code: None,
                });
            }
            Some(Ok(addrs)) => addrs,
        };
        let tcp = match by(connect_by, client::connect(&addrs)).await {
            None => return Err(Error::ConnectionTimeout),
            Some(Err(_)) => return Err(Error::ConnectionRefused),
            Some(Ok(tcp)) => tcp,
        };
        let stream = match by(
            connect_by,
            client::secure(&self.grant.tls, &self.target, tcp),
        )
        .await
        {
            None => return Err(Error::ConnectionTimeout),
            Some(Err(e)) => return Err(tls_error(&e)),
            Some(Ok(stream)) => stream,
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, WasiBody>(client::metered(stream, meter))
                .await?;
        let first_byte_by = self.options.first_byte_timeout.map(|d| Instant::now() + d);
        let mut response = std::pin::pin!(by(first_byte_by, sender.send_request(request)));
        // The connection moves the bytes the exchange waits for: polled beside it until the
        // response head arrives, then handed to wasi:http, which drives it while the body is read.
        let mut conn = Some(conn);
        let response = poll_fn(|cx| {
            if let Poll::Ready(r) = response.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            if let Some(Poll::Ready(done)) = conn.as_mut().map(|c| Pin::new(c).poll(cx)) {
                conn = None;
                // A failed connection also fails the exchange; a finished one has answered.
                if let Err(e) = done {
                    return Poll::Ready(Some(Err(e)));
                }
                return response.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await
        .ok_or(Error::ConnectionReadTimeout)??;
        let gap = self.options.between_bytes_timeout;
        let response = response.map(|body| match gap {
            Some(gap) => BetweenBytes::new(body, gap).boxed_unsync(),
            None => body.map_err(Error::from).boxed_unsync(),
        });
        let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
            match conn {
                Some(conn) => conn.await.map_err(Error::from),
                None => Ok(()),
            }
        });
        Ok((response, io))
    }
}

/// `future` until `deadline` if there is one (`None` when it passed first).
async fn by<T>(deadline: Option<Instant>, future: impl Future<Output = T>) -> Option<T> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, future).await.ok(),
        None => Some(future.await),
    }
}

/// A TLS failure as wasi:http names it.
fn tls_error(e: &std::io::Error) -> Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// A response body that fails with `connection-read-timeout` when no frame arrives for `gap`.
struct BetweenBytes {
    body: hyper::body::Incoming,
    gap: Duration,
    timer: Pin<Box<Sleep>>,
}

impl BetweenBytes {
    fn new(body: hyper::body::Incoming, gap: Duration) -> BetweenBytes {
        BetweenBytes {
            body,
            gap,
            timer: Box::pin(tokio::time::sleep(gap)),
        }
    }
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            let next = Instant::now() + this.gap;
            this.timer.as_mut().reset(next);
            return Poll::Ready(frame.map(|f| f.map_err(Error::from)));
        }
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
