//! The end of a big cast on a thread of its own. Dropping a cast's store hands its pooled memory
//! back, and the pool zeroes or unmaps every page the guest touched: about 25 ms for 256 MiB
//! here, after the deadline or cancellation that stopped it (`benches/benches/stop_latency.rs`,
//! `touch.wat`). A cast whose memory grew past [`REAP_BYTES`] returns its outcome at once and
//! leaves the store to the runtime's reaper thread, with its slot: the next cast waits for the
//! slot as before, so the pool is never over-committed. Smaller casts drop their store where they
//! ran (a hand-off costs a thread wake-up, more than freeing a few pages).
//!
//! The thread starts with the first big cast and ends with the runtime, once it has dropped what
//! it was handed.

use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

/// Memory peak from which a cast's store is dropped by the reaper: 16 MiB (at most about 1.5 ms
/// of clean-up here).
pub(crate) const REAP_BYTES: u64 = 16 << 20;

/// What a cast leaves behind: dropped in its own time.
pub(crate) type Remains = Box<dyn Send>;

/// A runtime's reaper: a thread that drops what casts hand it, started on first use.
#[derive(Default)]
pub(crate) struct Reaper {
    /// `None` when the thread could not be started: casts then drop their own.
    tx: OnceLock<Option<Sender<Remains>>>,
}

impl Reaper {
    /// Drops `remains` on the reaper's thread (here, if it has none).
    pub(crate) fn drop_later(&self, remains: Remains) {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = channel::<Remains>();
            std::thread::Builder::new()
                .name("spell-reaper".into())
                // Ends when the runtime drops the sender and the queue is empty.
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|_| tx)
        });
        if let Some(tx) = tx {
            // Fails only when the thread is gone; `remains` comes back and drops here.
            let _ = tx.send(remains);
        }
    }
}
