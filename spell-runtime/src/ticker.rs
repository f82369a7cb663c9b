//! The epoch ticker: one thread per runtime advances the engine's epoch every tick while casts
//! run, so deadlines and cancellation reach a guest within a tick. An idle runtime costs no CPU:
//! after [`IDLE_TICKS`] ticks without a cast the thread parks until the next cast starts (the 1 ms
//! tick alone woke a sleeping process a thousand times a second). Casts that follow one another
//! closely never find it parked, so the warm path pays one atomic add and subtract, no system call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::Engine;

/// Ticks without a cast before the ticker parks.
const IDLE_TICKS: u32 = 100;

pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

#[derive(Default)]
struct Shared {
    in_flight: AtomicUsize,
    parked: AtomicBool,
    stop: AtomicBool,
}

impl Ticker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let handle = std::thread::Builder::new()
            .name("spell-epoch".into())
            .spawn(move || tick_while_needed(&engine, tick, &state))?;
        Ok(Ticker {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Counts a cast as running until the guard drops, waking a parked ticker.
    pub(crate) fn running(&self) -> Running<'_> {
        // SeqCst pairs with the ticker's: either it sees this cast and does not park, or this
        // cast sees it parked and wakes it.
        if self.shared.in_flight.fetch_add(1, SeqCst) == 0 && self.shared.parked.load(SeqCst) {
            self.thread.unpark();
        }
        Running(&self.shared)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.thread.unpark();
    }
}

/// A running cast, for the ticker.
pub(crate) struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

fn tick_while_needed(engine: &Engine, tick: Duration, shared: &Shared) {
    let mut idle = 0;
    while !shared.stop.load(SeqCst) {
        std::thread::sleep(tick);
        engine.increment_epoch();
        if shared.in_flight.load(SeqCst) > 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < IDLE_TICKS {
            continue;
        }
        shared.parked.store(true, SeqCst);
        if shared.in_flight.load(SeqCst) == 0 && !shared.stop.load(SeqCst) {
            std::thread::park();
        }
        shared.parked.store(false, SeqCst);
        idle = 0;
    }
}
