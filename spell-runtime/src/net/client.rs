//! One HTTP/1.1 exchange on a fresh connection to addresses the guard checked.
//!
//! hyper's low-level client (`client::conn::http1`) speaks HTTP over a stream we build: TCP to
//! a checked address, rustls for `https` (Mozilla's roots from `webpki-roots`, SNI and
//! certificate checks on the URL's host), and a [`Metered`] layer between TLS and HTTP that
//! counts every plaintext byte (request and response heads and bodies, as the server's HTTP layer
//! sees them; TLS handshakes and record overhead are not counted) and refuses to move a byte past
//! the cast's budget. No pooling: each request pays a connection, and nothing outlives the call.

use super::NetError;
use super::target::Target;
use crate::limits::{Stop, Tripwire};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{
    self, ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName},
};

/// A response as read, with the body cut at the guest's buffer size.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
    /// The body did not fit; reading stopped there and the connection was dropped.
    pub(crate) truncated: bool,
}

/// Bytes moved by one request (a module's), or by all of a cast's requests (a component's), and
/// the budget they share.
pub(crate) struct WireMeter {
    moved: Mutex<Moved>,
    /// Trips the cast when the budget runs out: a component's requests run beside the guest, so
    /// nothing else would stop it.
    trip: Option<Arc<Tripwire>>,
}

#[derive(Debug, Default)]
struct Moved {
    budget: u64,
    bytes_in: u64,
    bytes_out: u64,
    exceeded: bool,
    /// The usage is settled: no further byte moves, so none goes uncounted.
    closed: bool,
}

impl Moved {
    fn remaining(&self) -> usize {
        let left = match self.closed {
            true => 0,
            false => self.budget.saturating_sub(self.bytes_in + self.bytes_out),
        };
        usize::try_from(left).unwrap_or(usize::MAX)
    }
}

impl WireMeter {
    /// A meter that lets `budget` bytes through, in and out together.
    pub(crate) fn new(budget: u64) -> Arc<WireMeter> {
        WireMeter::build(budget, None)
    }

    /// A meter that trips `tripwire` with `network_limit` when `budget` is used up.
    pub(crate) fn tripping(budget: u64, tripwire: Arc<Tripwire>) -> Arc<WireMeter> {
        WireMeter::build(budget, Some(tripwire))
    }

    fn build(budget: u64, trip: Option<Arc<Tripwire>>) -> Arc<WireMeter> {
        Arc::new(WireMeter {
            moved: Mutex::new(Moved {
                budget,
                ..Moved::default()
            }),
            trip,
        })
    }

    fn moved(&self) -> MutexGuard<'_, Moved> {
        // Only counters behind it: a panic elsewhere leaves them consistent.
        self.moved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the exchange needed more bytes than the budget allowed.
    pub(crate) fn exceeded(&self) -> bool {
        self.moved().exceeded
    }

    /// Stops every further byte and returns the bytes moved, in and out. Connections still open
    /// (a component's, which the cast's end has not dropped yet) fail from now on.
    pub(crate) fn close(&self) -> (u64, u64) {
        let mut moved = self.moved();
        moved.closed = true;
        (moved.bytes_in, moved.bytes_out)
    }

    fn refuse(&self, mut moved: MutexGuard<'_, Moved>) -> std::io::Error {
        if moved.closed {
            return std::io::Error::other("the cast has ended");
        }
        moved.exceeded = true;
        let budget = moved.budget;
        drop(moved);
        if let Some(tripwire) = &self.trip {
            // The guest sees the failed read or write; the tripwire ends the cast.
            let _ = tripwire.trip(Stop::NetworkLimit(format!("{budget} bytes per cast")));
        }
        std::io::Error::other("the cast's network byte limit is reached")
    }
}

pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Counts and caps the plaintext bytes of a connection. The meter stays locked while the inner
/// stream is polled (which never blocks), so requests sharing a meter cannot both spend the same
/// remainder, and nothing moves between [`WireMeter::close`] and the end of the cast.
pub(crate) struct Metered {
    inner: Box<dyn Stream>,
    meter: Arc<WireMeter>,
}

impl AsyncRead for Metered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let mut moved = this.meter.moved();
        let allowed = moved.remaining().min(buf.remaining());
        if allowed == 0 && buf.remaining() > 0 {
            return Poll::Ready(Err(this.meter.refuse(moved)));
        }
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(allowed));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut limited))?;
        let n = limited.filled().len();
        buf.advance(n);
        moved.bytes_in += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let mut moved = this.meter.moved();
        let allowed = moved.remaining().min(buf.len());
        if allowed == 0 && !buf.is_empty() {
            return Poll::Ready(Err(this.meter.refuse(moved)));
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..allowed]))?;
        moved.bytes_out += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The bytes hyper writes for `request`'s head and body: the request line, each header as
/// `name: value\r\n`, the blank line, the body. Used to refuse a request that cannot fit the
/// budget before connecting; [`Metered`] enforces the budget whatever hyper writes.
pub(crate) fn request_size(request: &http::Request<Full<Bytes>>, body_len: usize) -> u64 {
    let line = request.method().as_str().len()
        + 1
        + request.uri().to_string().len()
        + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    (line + headers + 2 + body_len) as u64
}

/// Sends `request` to the first of `addrs` that accepts a connection and reads the response,
/// keeping at most `body_cap` body bytes.
pub(crate) async fn exchange(
    tls: &TlsConnector,
    target: &Target,
    addrs: &[SocketAddr],
    request: http::Request<Full<Bytes>>,
    body_cap: usize,
    meter: Arc<WireMeter>,
) -> Result<Response, NetError> {
    let tcp = connect(addrs).await?;
    let stream = secure(tls, target, tcp)
        .await
        .map_err(|e| NetError::Transport(format!("TLS: {e}")))?;
    let io = metered(stream, meter);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(transport)?;
    let response = async {
        let response = sender.send_request(request).await?;
        let (parts, mut body) = response.into_parts();
        let mut kept = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let room = body_cap - kept.len();
            if data.len() > room {
                kept.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            kept.extend_from_slice(&data);
        }
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: kept,
            truncated,
        })
    };
    drive(conn, response).await.map_err(transport)
}

/// The connection's stream: `tcp` itself, or TLS over it for `https` (certificate and SNI checks
/// on the URL's host).
pub(crate) async fn secure(
    tls: &TlsConnector,
    target: &Target,
    tcp: TcpStream,
) -> std::io::Result<Box<dyn Stream>> {
    if !target.is_https() {
        return Ok(Box::new(tcp));
    }
    let name = match target.ip() {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(target.host().to_string()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("server name: {e}"),
            )
        })?,
    };
    Ok(Box::new(tls.connect(name, tcp).await?))
}

/// `stream` as hyper reads and writes it, every byte counted by `meter`.
pub(crate) fn metered(stream: Box<dyn Stream>, meter: Arc<WireMeter>) -> TokioIo<Metered> {
    TokioIo::new(Metered {
        inner: stream,
        meter,
    })
}

/// Polls the connection (which moves the bytes) alongside the exchange (which consumes them) in
/// this task, so dropping the call drops the connection: nothing is spawned.
async fn drive<T>(
    conn: impl Future<Output = hyper::Result<()>>,
    exchange: impl Future<Output = hyper::Result<T>>,
) -> hyper::Result<T> {
    let mut conn = pin!(conn);
    let mut exchange = pin!(exchange);
    let mut conn_done = false;
    std::future::poll_fn(|cx| {
        // A connection error also fails the pending exchange, which reports it.
        if !conn_done && conn.as_mut().poll(cx).is_ready() {
            conn_done = true;
        }
        exchange.as_mut().poll(cx)
    })
    .await
}

pub(crate) async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, NetError> {
    let mut failures = Vec::new();
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                // Small requests go out in one segment instead of waiting for an ACK.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    Err(NetError::Transport(format!(
        "connect: {}",
        failures.join("; ")
    )))
}

/// The runtime's TLS configuration: Mozilla's roots plus `extra_roots` (DER), with aws-lc-rs
/// (the provider spell-verify already builds) chosen explicitly, so another crate enabling
/// `ring` cannot make rustls' default ambiguous.
pub(crate) fn tls_connector(extra_roots: &[Vec<u8>]) -> Result<TlsConnector, crate::Error> {
    let config_error = |e: String| crate::Error::Config(format!("TLS: {e}"));
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|e| config_error(format!("root certificate: {e}")))?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| config_error(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// hyper's error with its causes, e.g. `connection closed before message completed`.
fn transport(e: hyper::Error) -> NetError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    NetError::Transport(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Accepts one connection, reads a request head plus `body_len` bytes, answers 204, and
    /// returns how many bytes the client sent in all.
    fn one_request_server(body_len: usize) -> (SocketAddr, std::thread::JoinHandle<usize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
            let complete = |got: &[u8]| {
                got.windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .is_some_and(|i| got.len() >= i + 4 + body_len)
            };
            while !complete(&got) {
                let n = conn.read(&mut buf).expect("read");
                assert!(n > 0, "the client closed early");
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .expect("write");
            conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            got.len()
        });
        (addr, server)
    }

    #[test]
    fn request_size_is_exactly_what_goes_out() {
        let body = Bytes::from_static(b"{\"a\":1}");
        let (addr, server) = one_request_server(body.len());
        let target =
            Target::parse(&format!("http://127.0.0.1:{}/p/q?x=1&y=%20", addr.port())).expect("url");
        let mut request = http::Request::new(Full::new(body.clone()));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = target.origin_form().parse().expect("uri");
        let headers = request.headers_mut();
        headers.insert(
            http::header::HOST,
            target.authority().parse().expect("host"),
        );
        headers.insert("x-multi", http::HeaderValue::from_static("1"));
        headers.append("x-multi", http::HeaderValue::from_static("22"));
        headers.insert(http::header::CONTENT_LENGTH, body.len().into());
        let expected = request_size(&request, body.len());
        let meter = WireMeter::new(u64::MAX);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let response = rt
            .block_on(exchange(
                &tls_connector(&[]).expect("tls"),
                &target,
                &[addr],
                request,
                16,
                meter.clone(),
            ))
            .expect("exchange");
        assert_eq!(response.status, 204);
        let (bytes_in, bytes_out) = meter.close();
        assert_eq!(bytes_out, expected);
        assert_eq!(server.join().expect("server") as u64, expected);
        assert_eq!(bytes_in, "HTTP/1.1 204 No Content\r\n\r\n".len() as u64);
    }
}
