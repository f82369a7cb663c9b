//! OpenTelemetry trace export over OTLP/HTTP (protobuf), the `otlp` feature: `--otlp-endpoint
//! URL` or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! (plus the SDK's other `OTEL_*` settings: headers, timeout, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`).
//!
//! The spans Spell's libraries open at `info` (load, verify, compile, cast, queue, instantiate,
//! run, settle, http_request; the cast span with its usage record) are exported whatever
//! `RUST_LOG` says about log lines.
//!
//! Why not `tracing-opentelemetry`: it gives every span ids of its own, while the runtime already
//! decides them. A cast that joins a W3C trace records the caller's `trace_id` and
//! `parent_span_id` and its own `span_id` on its span, and each outbound request sends a child
//! `traceparent` naming its `http_request` span's `span_id`. [`SpanExport`] exports spans with
//! exactly those ids, so the cast hangs under the caller's span and the services the spell
//! called hang under the request spans that called them. The trace id is only known once the
//! cast span is open (it is recorded on it), which is too late for `tracing-opentelemetry`'s
//! `set_parent`. The SDK's batch processor and the OTLP exporter do the rest.
//!
//! The exporter's HTTP client is hyper on a small tokio runtime of its own (the build already
//! has hyper and rustls for the runtime's network), instead of reqwest.

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One export's longest wait for the collector (connect, send, answer), unless
/// `OTEL_EXPORTER_OTLP_TIMEOUT` asks for less.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read (it is a small protobuf message or an error text).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Where spans go: `--otlp-endpoint`, else the standard variables; `None` when neither is set.
fn configured(flag: Option<&str>) -> Option<String> {
    let from_env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match flag {
        // The collector's base URL, like OTEL_EXPORTER_OTLP_ENDPOINT: the signal's path follows.
        Some(base) => Some(format!("{}/v1/traces", base.trim_end_matches('/'))),
        None if from_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || from_env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() =>
        {
            // The exporter resolves them itself, by the spec's rules.
            Some(String::new())
        }
        None => None,
    }
}

/// A running export: the layer that feeds it and the handle that flushes it at exit.
pub struct Export {
    processor: Arc<BatchSpanProcessor>,
    // The exporter's connections run here; dropped after the processor's last flush.
    runtime: tokio::runtime::Runtime,
}

/// Starts exporting when an endpoint is configured: the layer to add to the subscriber, and the
/// [`Export`] to [`Export::shutdown`] before the process exits.
pub fn start(flag: Option<&str>) -> anyhow::Result<Option<(SpanExport, Export)>> {
    let Some(endpoint) = configured(flag) else {
        return Ok(None);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("spell-otlp")
        .enable_all()
        .build()
        .context("starting the OTLP exporter's runtime")?;
    let client = Client {
        runtime: runtime.handle().clone(),
        tls: tls_connector()?,
    };
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(client);
    if !endpoint.is_empty() {
        exporter = exporter.with_endpoint(endpoint);
    }
    let exporter = exporter.build().context("configuring the OTLP exporter")?;
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("spell");
    }
    processor.set_resource(&resource.build());
    let processor = Arc::new(processor);
    let layer = SpanExport {
        processor: processor.clone(),
        scope: InstrumentationScope::builder("spell")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    };
    Ok(Some((layer, Export { processor, runtime })))
}

impl Export {
    /// Sends what is still queued (waiting for the collector up to the export timeout), then
    /// stops the exporter. A failed export is reported on stderr; it does not fail the command.
    pub fn shutdown(self) {
        if let Err(e) = self.processor.shutdown() {
            crate::logging::note(
                crate::logging::Level::Warn,
                format!("spell: OTLP export: {e}"),
            );
        }
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// The `tracing` layer that turns closed spans into OTLP spans (see the module docs for ids).
pub struct SpanExport {
    processor: Arc<BatchSpanProcessor>,
    scope: InstrumentationScope,
}

/// What a span collects while it is open.
struct Pending {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    status: Status,
}

impl<S> Layer<S> for SpanExport
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        // A child inherits its parent's trace; a root starts one, which a `trace_id` field on
        // it (a cast joining its caller's trace) replaces.
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<Pending>()
                .map(|d| (d.trace_id, d.span_id))
        });
        let mut pending = Pending {
            trace_id: parent.map_or_else(|| TraceId::from(random_nonzero_u128()), |p| p.0),
            span_id: SpanId::from(random_nonzero_u64()),
            parent_span_id: parent.map_or(SpanId::INVALID, |p| p.1),
            parent_is_remote: false,
            start: SystemTime::now(),
            attributes: Vec::with_capacity(attrs.fields().len()),
            events: Vec::new(),
            status: Status::Unset,
        };
        attrs.record(&mut Fields(&mut pending));
        span.extensions_mut().insert(pending);
    }

    fn on_record(&self, id: &tracing::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(pending) = span.extensions_mut().get_mut::<Pending>()
        {
            values.record(&mut Fields(pending));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = EventFields::default();
        event.record(&mut fields);
        if let Some(pending) = span.extensions_mut().get_mut::<Pending>() {
            let name = fields
                .message
                .unwrap_or_else(|| event.metadata().name().to_string());
            pending
                .events
                .push(Event::new(name, SystemTime::now(), fields.attributes, 0));
        }
    }

    fn on_close(&self, id: tracing::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(p) = span.extensions_mut().remove::<Pending>() else {
            return;
        };
        let name = span.metadata().name();
        let mut events = SpanEvents::default();
        events.events = p.events;
        self.processor.on_end(SpanData {
            span_context: SpanContext::new(
                p.trace_id,
                p.span_id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: p.parent_span_id,
            parent_span_is_remote: p.parent_is_remote,
            // The one span that calls out of the process; the others run inside it.
            span_kind: match name {
                "http_request" => SpanKind::Client,
                _ => SpanKind::Internal,
            },
            name: Cow::Borrowed(name),
            start_time: p.start,
            end_time: SystemTime::now(),
            attributes: p.attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: p.status,
            instrumentation_scope: self.scope.clone(),
        });
    }
}

/// A span's fields as OTLP attributes; the runtime's id fields also set the span's ids, and
/// `error` or an `outcome` other than `ok`/`exit` make its status an error.
struct Fields<'a>(&'a mut Pending);

impl Fields<'_> {
    fn string(&mut self, name: &'static str, value: String) {
        let p = &mut *self.0;
        match name {
            "trace_id" => {
                if let Some(id) = parse_nonzero(&value, 32, TraceId::from_hex, TraceId::INVALID) {
                    p.trace_id = id;
                }
            }
            "span_id" => {
                if let Some(id) = parse_nonzero(&value, 16, SpanId::from_hex, SpanId::INVALID) {
                    p.span_id = id;
                }
            }
            "parent_span_id" => {
                if let Some(id) = parse_nonzero(&value, 16, SpanId::from_hex, SpanId::INVALID) {
                    p.parent_span_id = id;
                    p.parent_is_remote = true;
                }
            }
            "error" => p.status = Status::error(value.clone()),
            "outcome" if value != "ok" && value != "exit" => {
                p.status = Status::error(format!("outcome: {value}"));
            }
            _ => {}
        }
        p.attributes.push(KeyValue::new(name, value));
    }
}

fn parse_nonzero<T: PartialEq>(
    hex: &str,
    len: usize,
    parse: impl Fn(&str) -> Result<T, std::num::ParseIntError>,
    invalid: T,
) -> Option<T> {
    (hex.len() == len)
        .then(|| parse(hex).ok())
        .flatten()
        .filter(|id| *id != invalid)
}

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.string(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.string(field.name(), format!("{value:?}"));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0
            .attributes
            .push(KeyValue::new(field.name(), saturating_i64(value)));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.attributes.push(KeyValue::new(field.name(), value));
    }
}

/// An event's message (the OTLP event name) and its other fields.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl tracing::field::Visit for EventFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_string()),
            name => self.attributes.push(KeyValue::new(name, value.to_string())),
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            name => self
                .attributes
                .push(KeyValue::new(name, format!("{value:?}"))),
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.attributes
            .push(KeyValue::new(field.name(), saturating_i64(value)));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }
}

/// OTLP integers are signed; no usage figure gets near 2^63, but none may wrap.
fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn random_nonzero_u128() -> u128 {
    rand::random::<u128>().max(1)
}

fn random_nonzero_u64() -> u64 {
    rand::random::<u64>().max(1)
}

/// The exporter's HTTP client: one HTTP/1.1 request per export on a fresh connection (a batch
/// every few seconds at most), plain or TLS. The SDK's batch processor polls exports on a
/// thread of its own without a tokio runtime, so the request runs on [`Export`]'s runtime and
/// the processor awaits its join handle.
struct Client {
    runtime: tokio::runtime::Handle,
    tls: TlsConnector,
}

// The SDK asks its HTTP clients for `Debug`; the TLS connector has none.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("spell OTLP client (hyper, HTTP/1.1)")
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let tls = self.tls.clone();
        let endpoint = request.uri().to_string();
        let exchange = async move {
            tokio::time::timeout(EXPORT_TIMEOUT, post(&tls, request))
                .await
                .map_err(|_| HttpError::from(format!("no answer within {EXPORT_TIMEOUT:?}")))?
        };
        let result = self.runtime.spawn(exchange).await?;
        if let Err(e) = &result {
            // The SDK drops a failed batch without a word (its own logs are off): say it once
            // per batch, as a log line (never an exported span: this layer only takes spans).
            tracing::warn!("OTLP export to {endpoint} failed: {e}");
        }
        result
    }
}

async fn post(tls: &TlsConnector, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    let (mut parts, body) = request.into_parts();
    let https = match parts.uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        other => return Err(format!("unsupported OTLP endpoint scheme {other:?}").into()),
    };
    let host = parts
        .uri
        .host()
        .ok_or("the OTLP endpoint has no host")?
        .to_string();
    let port = parts.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = parts
        .uri
        .authority()
        .ok_or("the OTLP endpoint has no host")?
        .as_str()
        .to_string();
    // HTTP/1.1 to the origin: the path in the request line, the authority in Host.
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()?;
    parts
        .headers
        .entry(http::header::HOST)
        .or_insert(authority.parse()?);
    let request = http::Request::from_parts(parts, Full::new(body));
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
    let _ = tcp.set_nodelay(true);
    let response = if https {
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
        let stream = tls.connect(name, tcp).await?;
        exchange(hyper_util::rt::TokioIo::new(stream), request).await?
    } else {
        exchange(hyper_util::rt::TokioIo::new(tcp), request).await?
    };
    Ok(response)
}

async fn exchange<T>(
    io: T,
    request: http::Request<Full<Bytes>>,
) -> Result<Response<Bytes>, HttpError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    // The connection ends with this exchange (the request is the only one sent on it).
    tokio::spawn(conn);
    let (parts, body) = sender.send_request(request).await?.into_parts();
    let body = Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// Mozilla's roots on the aws-lc-rs provider the rest of the build uses (named explicitly, so
/// another crate enabling `ring` cannot make rustls' default ambiguous).
fn tls_connector() -> anyhow::Result<TlsConnector> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("the OTLP exporter's TLS configuration")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_a_base_url_and_the_signal_path_follows() {
        assert_eq!(
            configured(Some("http://127.0.0.1:4318/")).as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
    }

    #[test]
    fn only_well_formed_nonzero_ids_replace_the_drawn_ones() {
        let p = |s| parse_nonzero(s, 16, SpanId::from_hex, SpanId::INVALID);
        assert_eq!(
            p("b7ad6b7169203331"),
            Some(SpanId::from(0xb7ad6b7169203331))
        );
        assert_eq!(p("0000000000000000"), None);
        assert_eq!(p("b7ad6b716920333"), None);
        assert_eq!(p("b7ad6b716920333x"), None);
    }
}
