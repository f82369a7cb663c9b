//! `spell`: pack, inspect, verify, sign and cast spells.
//!
//! Exit codes: the guest's own exit code for `spell cast` without `--json` (like `wasmtime
//! run`); otherwise 0 on success, 1 when Spell refused (the error code is printed), 2 for usage
//! errors, 3 when a cast ended by a limit, trap or cancellation.

mod commands;
mod echo;
mod logging;
mod mcp;
#[cfg(feature = "otlp")]
mod otlp;
mod progress;
mod report;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "spell",
    version,
    about = "Load verified WebAssembly spells and cast them in a metered sandbox"
)]
struct Cli {
    /// Log lines on stderr as `text` or `json`; which ones, by `RUST_LOG` (default `warn`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: logging::LogFormat,
    /// Export spans (casts with their usage, loads, outbound requests) to this OpenTelemetry
    /// collector over OTLP/HTTP: its base URL, like OTEL_EXPORTER_OTLP_ENDPOINT (which is read
    /// when this is not given), e.g. http://127.0.0.1:4318.
    #[cfg(feature = "otlp")]
    #[arg(long, global = true, value_name = "URL")]
    otlp_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack a folder (spell.json, module.wasm, optional sbom.cdx.json) into a .spell file.
    Pack(commands::pack::Args),
    /// Show what a .spell file contains.
    Inspect(commands::inspect::Args),
    /// Cast a spell (or, with --unverified, a bare .wasm) in the sandbox.
    Cast(commands::cast::Args),
    /// Verify a spell against a policy: signature, SBOM rules and capability grant.
    Verify(commands::verify::Args),
    /// Re-verify packages at rest against a policy and its OSV database: what would be refused.
    Audit(commands::audit::Args),
    /// Verify any file against a Sigstore bundle, like `cosign verify-blob`.
    VerifyBlob(commands::verify_blob::Args),
    /// Sign a spell offline with a local key.
    Sign(commands::sign::Args),
    /// Create a local signing key and the trusted root that verifies its signatures.
    Keygen(commands::keygen::Args),
    /// Work with CycloneDX SBOMs.
    #[command(subcommand)]
    Sbom(commands::sbom::Command),
    /// The usage ledger: accounts, prices, verification, reports and export.
    #[command(subcommand)]
    Ledger(commands::ledger::Command),
    /// The cache of compiled modules `spell cast` keeps.
    #[command(subcommand)]
    Cache(commands::cache::Command),
    /// Service mode: store a package in the NATS object store by its digest.
    Publish(commands::publish::Args),
    /// Service mode: submit a cast to the workers (idempotent by --key).
    Submit(commands::submit::Args),
    /// Service mode: show a cast's lifecycle.
    Status(commands::status::Args),
    /// Service mode: cast submitted spells until SIGTERM, then drain.
    Worker(commands::worker::Args),
    /// Serve verified spells as Model Context Protocol tools (stdio, or HTTP with --listen).
    Mcp(commands::mcp::Args),
}

fn main() {
    let cli = Cli::parse();
    let telemetry = match logging::init(
        cli.log_format,
        #[cfg(feature = "otlp")]
        cli.otlp_endpoint.as_deref(),
    ) {
        Ok(t) => t,
        Err(err) => std::process::exit(report::print_error(&err)),
    };
    let result = match cli.command {
        Command::Pack(a) => commands::pack::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Cast(a) => commands::cast::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Audit(a) => commands::audit::run(a),
        Command::VerifyBlob(a) => commands::verify_blob::run(a),
        Command::Sign(a) => commands::sign::run(a),
        Command::Keygen(a) => commands::keygen::run(a),
        Command::Sbom(c) => commands::sbom::run(c),
        Command::Ledger(c) => commands::ledger::run(c),
        Command::Cache(c) => commands::cache::run(c),
        Command::Publish(a) => commands::publish::run(a),
        Command::Submit(a) => commands::submit::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::Worker(a) => commands::worker::run(a),
        Command::Mcp(a) => commands::mcp::run(a),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) => report::print_error(&err),
    };
    telemetry.shutdown();
    std::process::exit(code)
}
