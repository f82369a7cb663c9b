//! A spinner on stderr while `spell` does long work a person waits for (verifying a large SBOM,
//! compiling a large module). Nothing when stderr is not a terminal (piped, a log file) or
//! with `--json`, so scripts see only what they asked for.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Runs `work`, with a spinner saying `message` unless `quiet` or stderr is no terminal.
pub fn spin<T>(message: &'static str, quiet: bool, work: impl FnOnce() -> T) -> T {
    if quiet || !std::io::stderr().is_terminal() {
        return work();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    let out = work();
    bar.finish_and_clear();
    out
}
