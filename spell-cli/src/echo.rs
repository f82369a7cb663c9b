//! Echoes a cast's output to this process's stdout and stderr without ever blocking the cast:
//! the runtime's output callback only queues chunks, and one thread per stream writes them. A
//! consumer that stops reading our stdout (a full pipe) then holds up only its writer thread,
//! never the guest past its deadline. The queue is bounded by the cast's output limit.

use spell_runtime::{OutputCallback, Stream};
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

/// The writer threads of a cast's stdout and stderr.
pub struct Echo {
    stdout: (Sender<Vec<u8>>, JoinHandle<()>),
    stderr: (Sender<Vec<u8>>, JoinHandle<()>),
}

impl Echo {
    /// Starts the writers; the callback queues each chunk for its stream.
    pub fn start() -> (Echo, OutputCallback) {
        let echo = Echo {
            stdout: writer(std::io::stdout),
            stderr: writer(std::io::stderr),
        };
        let (out, err) = (echo.stdout.0.clone(), echo.stderr.0.clone());
        let callback: OutputCallback = Arc::new(move |stream, bytes| {
            let queue = match stream {
                Stream::Stdout => &out,
                Stream::Stderr => &err,
            };
            // The writer only goes away with this process's stream; then there is nobody to
            // show the output to.
            let _ = queue.send(bytes.to_vec());
            Ok(())
        });
        (echo, callback)
    }

    /// Writes `line` to stderr after the guest's own stderr, then waits for both writers.
    pub fn finish(self, line: Option<String>) {
        if let Some(line) = line {
            let _ = self.stderr.0.send(format!("{line}\n").into_bytes());
        }
        for (queue, thread) in [self.stdout, self.stderr] {
            drop(queue);
            let _ = thread.join();
        }
    }
}

fn writer<W: Write + 'static>(open: fn() -> W) -> (Sender<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = channel::<Vec<u8>>();
    let thread = std::thread::spawn(move || {
        let mut out = open();
        for chunk in rx {
            if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    });
    (tx, thread)
}
