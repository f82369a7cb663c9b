//! Echoes a cast's output to this process's stdout and stderr without ever blocking the cast.
//! A chunk is written in place when its stream takes it without waiting (Linux's `RWF_NOWAIT`: a
//! pipe or socket with room, `/dev/null`); otherwise that chunk and every later one of its stream
//! go to a writer thread started then. A consumer that stops reading our stdout (a full pipe, a
//! terminal on hold) then holds up only that thread, never the guest past its deadline, and a
//! cast whose streams keep up starts no thread at all. The queue is bounded by the cast's output
//! limit.

use spell_runtime::{OutputCallback, Stream};
use std::io::Write;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A cast's stdout and stderr.
pub struct Echo {
    stdout: Arc<Mutex<Sink>>,
    stderr: Arc<Mutex<Sink>>,
}

impl Echo {
    /// The sinks, and the callback that writes each chunk to its stream's.
    pub fn start() -> (Echo, OutputCallback) {
        // Bytes our own code left in std's buffer go first.
        let _ = std::io::stdout().flush();
        let echo = Echo {
            stdout: Arc::new(Mutex::new(Sink::new(Out::Stdout))),
            stderr: Arc::new(Mutex::new(Sink::new(Out::Stderr))),
        };
        let (out, err) = (echo.stdout.clone(), echo.stderr.clone());
        let callback: OutputCallback = Arc::new(move |stream, bytes| {
            let sink = match stream {
                Stream::Stdout => &out,
                Stream::Stderr => &err,
            };
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(bytes);
            Ok(())
        });
        (echo, callback)
    }

    /// Writes `line` to stderr after the guest's own stderr, then waits for any writer thread.
    pub fn finish(self, line: Option<String>) {
        // The callback may outlive the cast (a large store is dropped by the runtime's reaper),
        // so each sink is taken out of its lock rather than out of its `Arc`.
        let take = |sink: Arc<Mutex<Sink>>| {
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            let fresh = Sink::new(sink.out);
            std::mem::replace(&mut *sink, fresh)
        };
        let (stdout, mut stderr) = (take(self.stdout), take(self.stderr));
        if let Some(line) = line {
            stderr.write(format!("{line}\n").as_bytes());
        }
        stdout.finish();
        stderr.finish();
    }
}

#[derive(Clone, Copy)]
enum Out {
    Stdout,
    Stderr,
}

impl Out {
    fn open(self) -> Box<dyn Write> {
        match self {
            Out::Stdout => Box::new(std::io::stdout()),
            Out::Stderr => Box::new(std::io::stderr()),
        }
    }
}

/// One stream: written in place until a chunk would have to wait, then through its thread.
struct Sink {
    out: Out,
    writer: Option<(Sender<Vec<u8>>, JoinHandle<()>)>,
}

impl Sink {
    fn new(out: Out) -> Sink {
        Sink { out, writer: None }
    }

    fn write(&mut self, bytes: &[u8]) {
        let rest = match self.writer {
            Some(_) => bytes,
            None => &bytes[write_now(self.out, bytes)..],
        };
        if rest.is_empty() {
            return;
        }
        let (queue, _) = self.writer.get_or_insert_with(|| writer(self.out));
        // The writer only goes away with this process's stream; then there is nobody to show
        // the output to.
        let _ = queue.send(rest.to_vec());
    }

    fn finish(self) {
        if let Some((queue, thread)) = self.writer {
            drop(queue);
            let _ = thread.join();
        }
    }
}

/// Writes what `out` takes without waiting; how many bytes that was.
#[cfg(target_os = "linux")]
fn write_now(out: Out, bytes: &[u8]) -> usize {
    use rustix::io::{Errno, ReadWriteFlags, pwritev2};
    use std::io::IoSlice;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let fd = match out {
        Out::Stdout => std::os::fd::AsFd::as_fd(&stdout),
        Out::Stderr => std::os::fd::AsFd::as_fd(&stderr),
    };
    let mut done = 0;
    while done < bytes.len() {
        // An offset of u64::MAX writes at the stream's position, as `write` does.
        match pwritev2(
            fd,
            &[IoSlice::new(&bytes[done..])],
            u64::MAX,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => continue,
            // Full (`EAGAIN`), a stream that cannot say (`EOPNOTSUPP`: a file, a terminal) or
            // one that failed: the writer thread takes it from here, and sees the failure.
            Err(_) => break,
        }
    }
    done
}

#[cfg(not(target_os = "linux"))]
fn write_now(_: Out, _: &[u8]) -> usize {
    0
}

fn writer(out: Out) -> (Sender<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = channel::<Vec<u8>>();
    let thread = std::thread::spawn(move || {
        let mut stream = out.open();
        for chunk in rx {
            if stream
                .write_all(&chunk)
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
        }
    });
    (tx, thread)
}
