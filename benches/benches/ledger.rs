//! What the usage ledger adds to a cast: warm casts of `noop.wat` without a meter and with a
//! `spell_ledger::Ledger` meter (authorize reserves, record appends a chained row and charges,
//! two SQLite transactions in WAL mode), on a ledger in a temp dir on the local disk. Not a
//! criterion bench: the tail matters, so it prints p50 and p99 of `SPELL_BENCH_CASTS` casts
//! (default 5000) per row, wall-clock, and the added cost at both.
//!
//! Target: under 50 µs added per cast. Run it on a quiet machine.

use spell_benches::measure::percentile;
use spell_benches::{fixtures, spells};
use spell_ledger::{Budget, Ledger, Period, PriceList};
use spell_runtime::{CastRequest, MeteringHook, Outcome, Runtime, Spell};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn casts(spell: &Spell, meter: Option<Arc<dyn MeteringHook>>, n: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let mut req = CastRequest::new();
            if let Some(m) = &meter {
                req = req.meter(m.clone());
            }
            let t = Instant::now();
            let outcome = spell.cast(req).expect("cast");
            let took = t.elapsed();
            assert_eq!(outcome.outcome, Outcome::Ok, "{:?}", outcome.detail);
            took
        })
        .collect();
    times.sort();
    times
}

fn main() {
    let n = spell_benches::measure::env_count("SPELL_BENCH_CASTS", 5000);
    let runtime = Runtime::new().expect("runtime");
    let spell = spells::load(&runtime, &fixtures::wat("noop"), "run");
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path().join("ledger.db")).expect("ledger");
    let prices =
        "version = \"bench\"\nper_cast = 100\nper_million_fuel = 20\nper_cpu_second = 5000";
    ledger
        .set_prices(&PriceList::from_toml(prices).expect("prices"))
        .expect("set prices");
    ledger
        .set_account(
            "bench",
            Budget {
                amount: i64::MAX / 2,
                period: Period::Month,
            },
        )
        .expect("account");
    let meter: Arc<dyn MeteringHook> = ledger.meter("bench").expect("meter");
    // Warm up both paths (pool slots, SQLite page cache, prepared statements).
    casts(&spell, None, n / 10 + 1);
    casts(&spell, Some(meter.clone()), n / 10 + 1);
    let plain = casts(&spell, None, n);
    let billed = casts(&spell, Some(meter), n);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for (label, t) in [("no meter", &plain), ("ledger meter", &billed)] {
        println!(
            "ledger/{label:<14} n={n}  p50={:>8.1} µs  p99={:>8.1} µs",
            us(percentile(t, 50)),
            us(percentile(t, 99))
        );
    }
    let (added50, added99) = (
        us(percentile(&billed, 50)) - us(percentile(&plain, 50)),
        us(percentile(&billed, 99)) - us(percentile(&plain, 99)),
    );
    println!(
        "ledger/added          p50={added50:>8.1} µs  p99={added99:>8.1} µs  target < 50 µs: {}",
        if added50 < 50.0 {
            "met at p50"
        } else {
            "NOT met at p50"
        }
    );
    ledger.verify().expect("chain");
}
