//! The Rust baseline for `bench.py`.

use crate::errors::OrRaise;
use crate::spell::PySpell;
use pyo3::prelude::*;
use spell_runtime::{CastRequest, Spell};
use std::time::Instant;

/// Casts `spell` `iterations` times from Rust, spread over `threads` threads, with no Python in
/// the loop, and returns the elapsed seconds per cast: what `bench.py` reports Python's figures
/// next to.
#[pyfunction]
#[pyo3(name = "_rust_cast_seconds", signature = (spell, iterations, args=Vec::new(), threads=1))]
pub(crate) fn rust_cast_seconds(
    py: Python<'_>,
    spell: &Bound<'_, PySpell>,
    iterations: u32,
    args: Vec<String>,
    threads: u32,
) -> PyResult<f64> {
    let (spell, threads) = (&spell.get().inner, threads.max(1));
    let each = iterations / threads;
    let timed = py.detach(|| {
        let start = Instant::now();
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| cast_times(spell, each, &args)))
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(spell_runtime::Error::Setup(
                        "a bench thread panicked".into(),
                    ))
                })
            })
        })?;
        Ok::<_, spell_runtime::Error>(
            start.elapsed().as_secs_f64() / f64::from((each * threads).max(1)),
        )
    });
    timed.or_raise(py)
}

fn cast_times(spell: &Spell, n: u32, args: &[String]) -> Result<(), spell_runtime::Error> {
    for _ in 0..n {
        spell.cast(CastRequest::new().args(args.iter().cloned()))?;
    }
    Ok(())
}
