//! `spell --otlp-endpoint` (the `otlp` feature): a cast joined to a W3C trace is exported with
//! that trace's id to an OTLP/HTTP collector this test runs on 127.0.0.1, and the export decodes
//! as OTLP protobuf with the usage record on the cast span.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

mod support;
use support::{root, spell, text};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// One request the collector received.
struct Export {
    path: String,
    content_type: String,
    body: ExportTraceServiceRequest,
}

/// A collector: answers every OTLP/HTTP POST with an empty success and hands its request over.
fn collector() -> (String, Receiver<Export>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut reader = BufReader::new(conn);
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let path = line.split(' ').nth(1).unwrap_or_default().to_string();
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).expect("header");
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').expect("header line");
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().expect("length"),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            // An empty ExportTraceServiceResponse: everything accepted.
            let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = reader.get_mut().write_all(reply);
            let body = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP protobuf");
            let _ = tx.send(Export {
                path,
                content_type,
                body,
            });
        }
    });
    (url, rx)
}

/// Casts the hello example joined to [`TRACE`], exporting to `endpoint` (`--otlp-endpoint`, or
/// the standard variable when `by_env`); returns the cast's `--json` output.
fn cast(endpoint: &str, by_env: bool) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spell"));
    command
        .current_dir(root())
        .env(
            "SPELL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("otlp-cache"),
        )
        // The export does not depend on what the logs keep.
        .env_remove("RUST_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME");
    if by_env {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    } else {
        command
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .args(["--otlp-endpoint", endpoint]);
    }
    let o = command
        .args(["cast", "examples/hello/hello.spell", "--json"])
        .args(["--traceparent", &format!("00-{TRACE}-{CALLER_SPAN}-01")])
        .output()
        .expect("run spell");
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// The spans of every export received until the `cast` span is among them.
fn spans_until_cast(exports: &Receiver<Export>) -> (Vec<Export>, Vec<Span>) {
    let (mut received, mut spans) = (Vec::new(), Vec::new());
    while !spans.iter().any(|s: &Span| s.name == "cast") {
        // The command flushes before it exits, so the export is already here or on its way.
        let export = exports
            .recv_timeout(Duration::from_secs(10))
            .expect("no export with a cast span reached the collector");
        spans.extend(
            export
                .body
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| s.spans.iter().cloned()),
        );
        received.push(export);
    }
    (received, spans)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(attributes: &[KeyValue], key: &str) -> String {
    match attribute(attributes, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

fn int(attributes: &[KeyValue], key: &str) -> i64 {
    match attribute(attributes, key) {
        Some(any_value::Value::IntValue(i)) => *i,
        other => panic!("{key}: {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_cast_joined_to_a_trace_is_exported_with_its_trace_id_and_usage() {
    let (endpoint, exports) = collector();
    let out = cast(&endpoint, false);
    let (received, spans) = spans_until_cast(&exports);
    for export in &received {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
    }
    let resource = received[0].body.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    assert_eq!(string(&resource.attributes, "service.name"), "spell");

    let cast = spans.iter().find(|s| s.name == "cast").expect("cast span");
    // The caller's trace, under the caller's span, with the span id the runtime recorded.
    assert_eq!(hex(&cast.trace_id), TRACE);
    assert_eq!(hex(&cast.parent_span_id), CALLER_SPAN);
    assert_eq!(hex(&cast.span_id), string(&cast.attributes, "span_id"));
    // The usage record, as the cast reported it.
    let usage = &out["usage"];
    assert_eq!(string(&cast.attributes, "trace_id"), TRACE);
    assert_eq!(string(&cast.attributes, "cast_id"), usage["cast_id"]);
    assert_eq!(string(&cast.attributes, "outcome"), out["outcome"]);
    assert_eq!(string(&cast.attributes, "spell"), "hello");
    for field in [
        "fuel",
        "wall_ns",
        "cpu_ns",
        "memory_peak_bytes",
        "net_requests",
    ] {
        assert_eq!(
            Some(int(&cast.attributes, field)),
            usage[field].as_i64(),
            "{field}"
        );
    }
    assert!(cast.end_time_unix_nano >= cast.start_time_unix_nano);

    // The cast's own steps hang under it, in the same trace.
    let run = spans.iter().find(|s| s.name == "run").expect("run span");
    assert_eq!(run.trace_id, cast.trace_id);
    assert_eq!(run.parent_span_id, cast.span_id);
}

#[test]
fn the_standard_endpoint_variable_turns_the_export_on() {
    let (endpoint, exports) = collector();
    let out = cast(&endpoint, true);
    let (_, spans) = spans_until_cast(&exports);
    let cast = spans.iter().find(|s| s.name == "cast").expect("cast span");
    assert_eq!(hex(&cast.trace_id), TRACE);
    assert_eq!(string(&cast.attributes, "cast_id"), out["usage"]["cast_id"]);
}

#[test]
fn the_flag_is_offered_on_every_command() {
    for args in [
        &["--help"][..],
        &["cast", "--help"],
        &["worker", "--help"],
        &["mcp", "--help"],
    ] {
        let o = spell(args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains("--otlp-endpoint <URL>"),
            "{args:?}"
        );
    }
}
