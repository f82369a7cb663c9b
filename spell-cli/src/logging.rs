//! Logs of `spell` on stderr (tracing-subscriber): `--log-format text|json`, filtered by
//! `RUST_LOG` (`info`, `spell_runtime=debug,async_nats=warn`, ...; default `warn`). At `info`,
//! each closing span is a line with its fields and timing: a cast's span carries its usage
//! record (fuel, CPU, memory peak, network bytes, outcome, trap, trace id).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For log pipelines: one JSON object per line (`timestamp`, `level`, `fields`, `target`,
    /// `span`, `spans`).
    Json,
}

/// Installs the process's subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE);
    // `try_init`: only fails when a subscriber is already set, which `main` does not do.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
