//! Logs of `spell` on stderr (tracing-subscriber): `--log-format text|json`, filtered by
//! `RUST_LOG` (`info`, `spell_runtime=debug,async_nats=warn`, ...; default `warn`). At `info`,
//! each closing span is a line with its fields and timing: a cast's span carries its usage
//! record (fuel, CPU, memory peak, network bytes, outcome, trap, trace id).
//!
//! A command's own status lines (`spell worker`'s ready and drained lines) go through [`note`]:
//! as they always were in text, as a JSON object in the log lines' shape with `--log-format
//! json`, so every stderr line a log pipeline reads parses.
//!
//! Built with the `otlp` feature, the same spans can also go to an OpenTelemetry collector
//! ([`crate::otlp`]); that export has a filter of its own, so `RUST_LOG` only shapes the logs.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For log pipelines: one JSON object per line (`timestamp`, `level`, `fields`, `target`,
    /// `span`, `spans`).
    Json,
}

/// The format [`init`] installed, for [`note`].
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// How much a [`note`] matters.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    /// The command's progress (ready, drained).
    Info,
    /// Something went wrong and the command goes on.
    Warn,
}

/// Prints a status line on stderr whatever `RUST_LOG` says (a process manager waits for the
/// ready line): the text as it is, or with `--log-format json` an object shaped like the log
/// lines (`timestamp`, `level`, `fields.message`, `target`).
pub fn note(level: Level, message: impl std::fmt::Display) {
    match FORMAT.get() {
        Some(LogFormat::Json) => {
            let line = serde_json::json!({
                "timestamp": jiff::Timestamp::now().to_string(),
                "level": match level {
                    Level::Info => "INFO",
                    Level::Warn => "WARN",
                },
                "fields": {"message": message.to_string()},
                "target": "spell",
            });
            eprintln!("{line}");
        }
        _ => eprintln!("{message}"),
    }
}

/// What must outlive the command: the trace export, flushed by [`Telemetry::shutdown`].
#[derive(Default)]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    export: Option<crate::otlp::Export>,
}

impl Telemetry {
    /// Flushes what is still to be exported (before `std::process::exit`, which runs no
    /// destructors).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(export) = self.export {
            export.shutdown();
        }
    }
}

/// Installs the process's subscriber: the log lines, and with `otlp_endpoint` (or the standard
/// `OTEL_EXPORTER_OTLP_*ENDPOINT` variables) the trace export.
pub fn init(
    format: LogFormat,
    #[cfg(feature = "otlp")] otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE);
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().with_current_span(true).boxed(),
    };
    let registry = tracing_subscriber::registry().with(logs.with_filter(filter));
    #[cfg(feature = "otlp")]
    {
        use tracing_subscriber::filter::{LevelFilter, Targets};
        let Some((layer, export)) = crate::otlp::start(otlp_endpoint)? else {
            let _ = registry.try_init();
            return Ok(Telemetry::default());
        };
        // Spell's own spans, whatever RUST_LOG keeps of the logs.
        let spans = Targets::new()
            .with_target("spell_runtime", LevelFilter::INFO)
            .with_target("spell_service", LevelFilter::INFO)
            .with_target("spell_ledger", LevelFilter::INFO)
            .with_target("spell_verify", LevelFilter::INFO);
        // `try_init`: only fails when a subscriber is already set, which `main` does not do.
        let _ = registry.with(layer.with_filter(spans)).try_init();
        Ok(Telemetry {
            export: Some(export),
        })
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = registry.try_init();
        Ok(Telemetry::default())
    }
}
