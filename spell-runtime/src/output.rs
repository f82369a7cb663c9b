//! Captured stdout and stderr with a shared byte cap.
//!
//! The sink keeps what the guest writes until stdout plus stderr reach the cast's output limit;
//! the write that crosses it keeps its allowed prefix, trips the cast (`output_limit`) and traps
//! the guest, so a flood cannot run on after the cap. An optional callback sees every captured
//! chunk as it is written (for streaming to a terminal or a client).

use crate::limits::{Stop, Tripwire};
use crate::metering::HookError;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Which stream a chunk was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A callback that sees each captured chunk of output as the guest writes it. An `Err` does not
/// stop the cast; it becomes the outcome's `hook_error` unless an earlier failure did.
pub type OutputCallback = Arc<dyn Fn(Stream, &[u8]) -> Result<(), HookError> + Send + Sync>;

/// The byte budget stdout and stderr share, and what each captured (one allocation a cast for
/// both streams).
pub(crate) struct OutputBudget {
    cap: u64,
    used: AtomicU64,
    tripwire: Arc<Tripwire>,
    callback: Option<OutputCallback>,
    /// Stdout's bytes, then stderr's.
    captured: [Mutex<Vec<u8>>; 2],
}

impl OutputBudget {
    pub(crate) fn new(
        cap: u64,
        tripwire: Arc<Tripwire>,
        callback: Option<OutputCallback>,
    ) -> Arc<OutputBudget> {
        Arc::new(OutputBudget {
            cap,
            used: AtomicU64::new(0),
            tripwire,
            callback,
            captured: Default::default(),
        })
    }
}

/// One captured stream.
#[derive(Clone)]
pub(crate) struct OutputSink {
    stream: Stream,
    budget: Arc<OutputBudget>,
}

impl OutputSink {
    pub(crate) fn new(stream: Stream, budget: Arc<OutputBudget>) -> OutputSink {
        OutputSink { stream, budget }
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.budget.captured[self.stream as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buffer())
    }

    /// Captures what fits; `Err` once the cap is crossed.
    fn capture(&self, bytes: &[u8]) -> Result<(), Stop> {
        let len = bytes.len() as u64;
        let before = self.budget.used.fetch_add(len, Ordering::Relaxed);
        let room = self.budget.cap.saturating_sub(before).min(len) as usize;
        let kept = &bytes[..room];
        if !kept.is_empty() {
            self.buffer().extend_from_slice(kept);
            if let Some(Err(e)) = self
                .budget
                .callback
                .as_ref()
                .map(|cb| cb(self.stream, kept))
            {
                self.budget.tripwire.fail(e);
            }
        }
        if room < bytes.len() {
            Err(Stop::OutputLimit(self.budget.cap))
        } else {
            Ok(())
        }
    }
}

impl IsTerminal for OutputSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputSink {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputSink {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.capture(&bytes)
            .map_err(|stop| StreamError::Trap(self.budget.tripwire.trip(stop)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always accept a write, so the one that crosses the cap reaches `write` and ends the cast.
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for OutputSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(match self.capture(buf) {
            Ok(()) => Ok(buf.len()),
            Err(stop) => Err(std::io::Error::other(
                self.budget.tripwire.trip(stop).to_string(),
            )),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
