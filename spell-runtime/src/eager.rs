//! Casts for event loops (asyncio, Node): started on the loop's own thread and finished there
//! when they end within a small budget, which most casts do. A finished cast costs no thread
//! hop and no wake-up of the loop: handing a 10 µs cast to another thread and back cost ten
//! times the cast. A cast still running when its budget is spent moves, as it is, to a shared
//! pool of threads that finishes it and hands the result to a callback; the loop is never held
//! longer than the budget (a running guest yields at least every fuel slice or epoch tick; one
//! blocked in a host call is released by a timer of millisecond resolution).

use crate::cast::{CastOutcome, CastRequest, Driven};
use crate::error::Error;
use crate::spell::Spell;
use std::future::Future;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Threads of the shared pool that finishes casts which outlast their budget. They park when
/// idle (no CPU), and the pool's blocking threads (file I/O) exit after 10 s without work.
const POOL_THREADS: usize = 2;

fn pool() -> Result<&'static tokio::runtime::Runtime, Error> {
    static POOL: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(POOL_THREADS)
            .thread_name("spell-cast")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
    .ok_or_else(|| Error::Setup("could not start the cast pool".into()))
}

impl Spell {
    /// Starts a cast on this thread and returns its outcome if it ends within `budget`;
    /// otherwise returns `None`, the cast goes on in a shared pool, and `on_done` gets its
    /// outcome. For event loops, whose thread must not block long: the loop is held for at most
    /// about `budget` (or 1 ms when the guest blocks in a host call). Called from inside a tokio
    /// runtime, the cast goes to the pool at once.
    ///
    /// ```
    /// use spell_runtime::{CastRequest, Runtime};
    /// use spell_core::{Package, Policy};
    /// use std::time::Duration;
    /// let runtime = Runtime::new()?;
    /// let manifest = br#"{"name":"answer","version":"1.0.0","license":"MIT","entrypoint":"run"}"#;
    /// let wasm = wat::parse_str(r#"(module (func (export "run")))"#)?;
    /// let spell = runtime.load(&Package::pack(manifest, &wasm, None, None)?, &Policy::from_toml("allow_unsigned = true")?)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let outcome = match spell.cast_eager(CastRequest::new(), Duration::from_micros(250), move |o| { let _ = tx.send(o); }) {
    ///     Some(done) => done,        // finished on this thread
    ///     None => rx.recv()?,        // finished in the pool
    /// }?;
    /// assert_eq!(outcome.outcome, spell_runtime::Outcome::Ok);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cast_eager(
        &self,
        request: CastRequest,
        budget: Duration,
        on_done: impl FnOnce(Result<CastOutcome, Error>) + Send + 'static,
    ) -> Option<Result<CastOutcome, Error>> {
        let pool = match pool() {
            Ok(pool) => pool,
            Err(e) => return Some(Err(e)),
        };
        let spell = self.clone();
        let mut cast =
            Box::pin(
                async move { crate::cast::run(&spell.inner, request, Driven::EventLoop).await },
            );
        if tokio::runtime::Handle::try_current().is_err() {
            let started = Instant::now();
            if let Poll::Ready(outcome) = crate::cast::poll_first(pool, cast.as_mut()) {
                return Some(outcome);
            }
            let finished = pool.block_on(async {
                let mut timer = std::pin::pin!(tokio::time::sleep(budget));
                std::future::poll_fn(|cx| match cast.as_mut().poll(cx) {
                    Poll::Ready(outcome) => Poll::Ready(Some(outcome)),
                    Poll::Pending
                        if started.elapsed() >= budget || timer.as_mut().poll(cx).is_ready() =>
                    {
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                })
                .await
            });
            if finished.is_some() {
                return finished;
            }
        }
        pool.spawn(async move { on_done(cast.await) });
        None
    }
}
