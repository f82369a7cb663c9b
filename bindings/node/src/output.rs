//! `onOutput`: the guest's stdout and stderr handed to a JS function as they are written.
//!
//! The cast thread never waits for JS (output must not hold a cast up, as in the CLI): it
//! appends the chunk to a buffer and, when the buffer was empty, queues one call on the JS
//! thread that drains it. The cast's own settlement drains what is left first, so every chunk
//! reaches the function, in order, before the cast's promise settles. A throwing function is
//! remembered as the cast's `hookError` (hook `onOutput`), like Python's `on_output`; the cast
//! goes on.

use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Uint8Array, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use spell_runtime::{HookError, OutputCallback, Stream};
use std::sync::{Arc, Mutex, MutexGuard};

/// What JS sees: `onOutput(stream, chunk)`.
pub(crate) type OnOutput<'env> = Function<'env, OutputArgs, Unknown<'static>>;

type OutputArgs = FnArgs<(&'static str, Uint8Array)>;

/// The queued drain: weak, so a relay never keeps Node running (the cast's promise does).
type Wake = ThreadsafeFunction<(), (), (), Status, false, true>;

/// One cast's output on its way to `onOutput`.
pub(crate) struct OutputRelay {
    target: FunctionRef<OutputArgs, Unknown<'static>>,
    state: Mutex<Relayed>,
    /// Queues a drain on the JS thread; set once, right after the relay is made.
    wake: Mutex<Option<Wake>>,
}

#[derive(Default)]
struct Relayed {
    chunks: Vec<(Stream, Vec<u8>)>,
    failure: Option<HookError>,
}

impl OutputRelay {
    /// On the JS thread: a relay to `target`.
    pub(crate) fn new(env: &Env, target: &OnOutput<'_>) -> napi::Result<Arc<OutputRelay>> {
        let relay = Arc::new(OutputRelay {
            target: target.create_ref()?,
            state: Mutex::default(),
            wake: Mutex::new(None),
        });
        // A weak reference: the native drain function must not keep its own relay alive.
        let weak = Arc::downgrade(&relay);
        let drain = env.create_function_from_closure::<(), (), _>("spellOutput", move |ctx| {
            if let Some(relay) = weak.upgrade() {
                relay.drain(ctx.env);
            }
            Ok(())
        })?;
        let wake = drain
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|_| Ok(()))?;
        *lock(&relay.wake) = Some(wake);
        Ok(relay)
    }

    /// The runtime's callback: buffers the chunk, and queues a drain when none is pending.
    pub(crate) fn callback(self: &Arc<OutputRelay>) -> OutputCallback {
        let relay = self.clone();
        Arc::new(move |stream, chunk| {
            let first = {
                let mut state = lock(&relay.state);
                state.chunks.push((stream, chunk.to_vec()));
                state.chunks.len() == 1
            };
            if first && let Some(wake) = lock(&relay.wake).as_ref() {
                // Non-blocking: the queue is unbounded, and a closing environment just drops it.
                let _ = wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
            Ok(())
        })
    }

    /// On the JS thread: calls `onOutput` with each buffered chunk, in order.
    pub(crate) fn drain(&self, env: &Env) {
        let chunks = std::mem::take(&mut lock(&self.state).chunks);
        if chunks.is_empty() {
            return;
        }
        let target = match self.target.borrow_back(env) {
            Ok(f) => f,
            Err(e) => return self.fail(e.reason),
        };
        for (stream, chunk) in chunks {
            let name = match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            if let Err(e) = target.call(FnArgs::from((name, Uint8Array::from(chunk)))) {
                self.fail(e.reason);
            }
        }
    }

    /// On the JS thread, when the cast has ended: the last chunks delivered, the queued drain
    /// released; the first throw, if any.
    pub(crate) fn finish(&self, env: &Env) -> Option<HookError> {
        self.drain(env);
        lock(&self.wake).take();
        lock(&self.state).failure.take()
    }

    fn fail(&self, message: String) {
        lock(&self.state).failure.get_or_insert(HookError::new(
            "onOutput",
            format!("onOutput threw: {message}"),
        ));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
