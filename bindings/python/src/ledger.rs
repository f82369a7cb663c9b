//! `spell.Ledger`: the embedded usage ledger (`spell-ledger`, SQLite) as a meter, so billing
//! needs nothing beyond the wheel. Everything is the Rust ledger's; this only translates.

use crate::errors::spell_error;
use crate::outcome::to_python;
use pyo3::prelude::*;
use spell_core::{ErrorCode, HasCode};
use spell_ledger::{Budget, Ledger, LedgerError, LedgerMeter, Period, PriceList};
use std::path::PathBuf;
use std::sync::Arc;

/// A usage ledger in a SQLite file: accounts with budgets, a price list, one hash-chained row
/// per cast. `ledger.meter("acme")` bills casts to an account (pass it as `meter=`).
#[pyclass(name = "Ledger", module = "spell", frozen)]
pub(crate) struct PyLedger {
    inner: Ledger,
}

/// A meter that bills one account of a `Ledger` (pass it to `cast(meter=...)` or
/// `Runtime(meter=...)`): casts the account cannot pay for are denied with `E-BILL-001`, the
/// others run within what it can still pay.
#[pyclass(name = "LedgerMeter", module = "spell", frozen)]
pub(crate) struct PyLedgerMeter {
    pub(crate) inner: Arc<LedgerMeter>,
}

fn raise(py: Python<'_>, e: LedgerError) -> PyErr {
    spell_error(py, e.code(), e)
}

#[pymethods]
impl PyLedger {
    /// Opens (or creates) the ledger at `path`, releasing reservations a crashed process left.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<PyLedger> {
        py.detach(|| Ledger::open(&path))
            .map(|inner| PyLedger { inner })
            .map_err(|e| raise(py, e))
    }

    /// Creates or updates an account: `budget` micro-units per `period` (`prepaid`, `day`,
    /// `month`).
    #[pyo3(signature = (account, budget, period = "prepaid"))]
    fn set_account(
        &self,
        py: Python<'_>,
        account: &str,
        budget: i64,
        period: &str,
    ) -> PyResult<()> {
        let period = Period::parse(period).ok_or_else(|| {
            spell_error(
                py,
                ErrorCode::InvalidArgument,
                format!("period must be prepaid, day or month, got {period:?}"),
            )
        })?;
        self.inner
            .set_account(
                account,
                Budget {
                    amount: budget,
                    period,
                },
            )
            .map_err(|e| raise(py, e))
    }

    /// Installs a price list (TOML, as `spell ledger prices` takes it).
    fn set_prices(&self, py: Python<'_>, toml: &str) -> PyResult<()> {
        let prices = PriceList::from_toml(toml).map_err(|e| raise(py, e))?;
        self.inner.set_prices(&prices).map_err(|e| raise(py, e))
    }

    /// Where an account stands: `{"id", "budget", "period", "spent", "reserved", "available"}`.
    fn account<'py>(&self, py: Python<'py>, account: &str) -> PyResult<Bound<'py, PyAny>> {
        let status = self.inner.account(account).map_err(|e| raise(py, e))?;
        to_python(py, &status)
    }

    /// The meter that bills casts to `account`.
    fn meter(&self, py: Python<'_>, account: &str) -> PyResult<PyLedgerMeter> {
        self.inner
            .meter(account)
            .map(|inner| PyLedgerMeter { inner })
            .map_err(|e| raise(py, e))
    }

    /// Recomputes the hash chain; `{"seq", "hash"}` of its head, or `E-BILL-004` naming the
    /// first broken row.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let head = py
            .detach(|| self.inner.verify())
            .map_err(|e| raise(py, e))?;
        to_python(py, &head)
    }

    /// Reservations of crashed processes released when this ledger was opened.
    #[getter]
    fn released_reservations(&self) -> u64 {
        self.inner.released_reservations()
    }
}
