//! Blocking casts that Ctrl-C can stop.
//!
//! Python runs signal handlers on the main thread only, and only while it runs Python code: a
//! cast blocking the main thread with the GIL released would hold `KeyboardInterrupt` back
//! until the cast ends (in a notebook, up to the wall-time limit). So a blocking cast polls the
//! runtime's async cast on this thread's executor and, every [`SIGNAL_CHECK`], attaches briefly
//! to run pending signal handlers. When one raises, the cast is cancelled and the exception is
//! raised once the cast has ended, its usage recorded like any other.

use pyo3::prelude::*;
use spell_runtime::{CancelHandle, CastOutcome, CastRequest, Error, Spell};
use std::time::Duration;

/// How often a blocking cast lets Python handle signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

thread_local! {
    static EXECUTOR: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
}

/// Casts and waits, cancelling the cast if a signal handler raises; returns the cast's result
/// and what the handler raised. Call detached from the interpreter.
pub(crate) fn cast(
    spell: &Spell,
    request: CastRequest,
    cancel: &CancelHandle,
) -> (Result<CastOutcome, Error>, Option<PyErr>) {
    // Inside an executor already (a host function casting another spell): the runtime's own
    // blocking cast handles that, without signal checks.
    if tokio::runtime::Handle::try_current().is_ok() {
        return (spell.cast(request), None);
    }
    EXECUTOR.with(|executor| match executor {
        None => (spell.cast(request), None),
        Some(executor) => executor.block_on(async {
            let mut cast = Box::pin(spell.cast_async(request));
            let mut raised = None;
            loop {
                tokio::select! {
                    result = &mut cast => return (result, raised),
                    () = tokio::time::sleep(SIGNAL_CHECK), if raised.is_none() => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            cancel.cancel();
                            raised = Some(e);
                        }
                    }
                }
            }
        }),
    })
}
