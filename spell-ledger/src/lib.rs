//! # spell-ledger
//!
//! Billing out of the box: an embedded, tamper-evident usage ledger on SQLite, used as a
//! [`spell_runtime::MeteringHook`].
//!
//! - **Accounts and prices**: accounts with a budget per day or month, or a prepaid balance, in
//!   integer micro-units; a [`PriceList`] from TOML (per cast, per million fuel, per CPU-second,
//!   per GiB-second of peak memory, per network and output MB). Each component is rounded up.
//! - **Reservations**: [`Ledger::authorize`] refuses a cast the account cannot pay
//!   (`E-BILL-001`, the HTTP 402 case) or reserves what it can pay and caps the cast's fuel and
//!   wall time to it; [`Ledger::record`] settles. Reservations are taken in one SQLite
//!   transaction, so concurrent casts, in threads or processes, never overspend together; those
//!   of a process that died are released at the next [`Ledger::open`].
//! - **Append-only, hash-chained**: each usage record is one row, once per cast id, written in
//!   the same transaction as the charge; triggers refuse UPDATE and DELETE, and
//!   [`Ledger::verify`] names the first row changed behind the ledger's back.
//! - **Reports and export**: [`Ledger::report`], [`Ledger::export`].
//!
//! In service mode (casts through NATS) a single ledger writer, `spell ledger ingest`, applies
//! each entry of the usage stream with [`Ledger::record`]: the entry's id makes redeliveries
//! free.
//!
//! ```
//! use spell_core::{Package, Policy};
//! use spell_ledger::{Budget, Ledger, Period, PriceList};
//! use spell_runtime::{CastRequest, Outcome, Runtime};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open(dir.path().join("ledger.db"))?;
//! ledger.set_prices(&PriceList::from_toml("version = \"v1\"\nper_million_fuel = 1000000")?)?;
//! ledger.set_account("acme", Budget { amount: 5_000, period: Period::Prepaid })?;
//!
//! let runtime = Runtime::new()?;
//! let wasm = wat::parse_str(r#"(module (func (export "spin") (loop br 0)))"#)?;
//! let manifest = br#"{"name":"spin","version":"1.0.0","license":"MIT","entrypoint":"spin"}"#;
//! let policy = Policy::from_toml("allow_unsigned = true")?;
//! let spell = runtime.load(&Package::pack(manifest, &wasm, None, None)?, &policy)?;
//!
//! // One micro-unit per fuel: the account can pay 5 000 fuel, and the cast is cut there.
//! let outcome = spell.cast(CastRequest::new().meter(ledger.meter("acme")?))?;
//! assert_eq!(outcome.outcome, Outcome::OutOfFuel);
//! assert_eq!(ledger.account("acme")?.spent, 5_000);
//! ledger.verify()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chain;
mod error;
mod ledger;
mod owner;
mod prices;
mod report;
mod schema;

pub use chain::GENESIS;
pub use error::LedgerError;
pub use ledger::{AccountStatus, Budget, Head, Ledger, LedgerMeter, Period, Recorded};
pub use prices::PriceList;
pub use report::{Filter, GroupBy, RatedUsage, ReportLine};
