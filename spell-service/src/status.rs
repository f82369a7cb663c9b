//! A worker's HTTP status endpoints, for Prometheus and orchestrators:
//! - `GET /metrics`: the runtime's metrics ([`spell_runtime::Runtime::metrics`]) and the
//!   worker's own counters, Prometheus text format 0.0.4;
//! - `GET /healthz`: 200 while the process serves at all (liveness);
//! - `GET /readyz`: 200 once the worker's streams and consumer exist and it is pulling, while
//!   its NATS connection is up, it is not draining, its AOT cache folder takes writes and its
//!   packages bucket answers; 503 with the reason otherwise (readiness, [`Worker::ready`]).
//!
//! A small HTTP/1.1 server on hyper (already built for the runtime's outbound requests): one
//! task per connection, nothing else on the port.

use crate::worker::Worker;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_server as hyper;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::net::TcpListener;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the status endpoints on `listener` until the future is dropped. Connections that
/// fail are dropped alone; accepting stops only with the listener's error.
pub(crate) async fn serve(worker: Worker, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let worker = worker.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let worker = worker.clone();
                async move { Ok::<_, Infallible>(respond(&worker, &req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("status connection: {e}");
            }
        });
    }
}

async fn respond(worker: &Worker, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, worker.metrics());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                PROMETHEUS_TEXT.parse().expect("static"),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "alive\n"),
        "/readyz" => match worker.ready().await {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}
