//! `Ledger`: the embedded usage ledger (`spell-ledger`, SQLite) as a meter, so billing needs
//! nothing beyond the addon. Everything is the Rust ledger's; this only translates.

use crate::errors::Failure;
use napi::Env;
use napi_derive::napi;
use spell_core::ErrorCode;
use spell_ledger::{Budget, Period, PriceList};
use std::sync::Arc;

/// A usage ledger in a SQLite file: accounts with budgets, a price list, one hash-chained row
/// per cast. `ledger.meter('acme')` bills casts to an account (pass it as `meter`).
#[napi]
pub struct Ledger {
    inner: spell_ledger::Ledger,
}

/// A meter that bills one account of a `Ledger`; casts it refuses end `denied` with
/// `denialCode` `E-BILL-001`. It runs in Rust: no JS hook is called.
#[napi]
pub struct LedgerMeter {
    pub(crate) inner: Arc<spell_ledger::LedgerMeter>,
}

/// Where an account stands, in micro-units.
#[napi(object)]
pub struct AccountStatus {
    pub id: String,
    pub budget: f64,
    /// `prepaid`, `day` or `month`.
    pub period: String,
    pub spent: f64,
    pub reserved: f64,
    /// What new casts can still spend: budget − spent − reserved.
    pub available: f64,
}

/// The head of the ledger's hash chain: `seq` rows, the last one's hash.
#[napi(object)]
pub struct LedgerHead {
    pub seq: f64,
    pub hash: String,
}

#[napi]
impl Ledger {
    /// Opens (or creates) the ledger at `path`, releasing reservations a crashed process left.
    #[napi(constructor)]
    pub fn new(env: Env, path: String) -> napi::Result<Ledger> {
        spell_ledger::Ledger::open(&path)
            .map(|inner| Ledger { inner })
            .map_err(|e| Failure::of(&e).throw(&env))
    }

    /// Creates or updates an account: `budget` micro-units per `period` (`prepaid`, `day`,
    /// `month`; default `prepaid`).
    #[napi]
    pub fn set_account(
        &self,
        env: Env,
        account: String,
        budget: i64,
        period: Option<String>,
    ) -> napi::Result<()> {
        let name = period.as_deref().unwrap_or("prepaid");
        let period = Period::parse(name).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidArgument,
                format!("period must be prepaid, day or month, got '{name}'"),
            )
            .throw(&env)
        })?;
        self.inner
            .set_account(
                &account,
                Budget {
                    amount: budget,
                    period,
                },
            )
            .map_err(|e| Failure::of(&e).throw(&env))
    }

    /// Installs a price list (TOML, as `spell ledger prices` takes it).
    #[napi]
    pub fn set_prices(&self, env: Env, toml: String) -> napi::Result<()> {
        PriceList::from_toml(&toml)
            .and_then(|p| self.inner.set_prices(&p))
            .map_err(|e| Failure::of(&e).throw(&env))
    }

    /// Where an account stands.
    #[napi]
    pub fn account(&self, env: Env, account: String) -> napi::Result<AccountStatus> {
        let s = self
            .inner
            .account(&account)
            .map_err(|e| Failure::of(&e).throw(&env))?;
        Ok(AccountStatus {
            id: s.id,
            budget: s.budget as f64,
            period: s.period.as_str().into(),
            spent: s.spent as f64,
            reserved: s.reserved as f64,
            available: s.available as f64,
        })
    }

    /// The meter that bills casts to `account`.
    #[napi]
    pub fn meter(&self, env: Env, account: String) -> napi::Result<LedgerMeter> {
        self.inner
            .meter(&account)
            .map(|inner| LedgerMeter { inner })
            .map_err(|e| Failure::of(&e).throw(&env))
    }

    /// Recomputes the hash chain: its head, or a `SpellError` `E-BILL-004` naming the first
    /// broken row.
    #[napi]
    pub fn verify(&self, env: Env) -> napi::Result<LedgerHead> {
        let head = self
            .inner
            .verify()
            .map_err(|e| Failure::of(&e).throw(&env))?;
        Ok(LedgerHead {
            seq: head.seq as f64,
            hash: head.hash,
        })
    }

    /// Reservations of crashed processes released when this ledger was opened.
    #[napi(getter)]
    pub fn released_reservations(&self) -> f64 {
        self.inner.released_reservations() as f64
    }
}
