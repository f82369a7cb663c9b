//! `spell_ledger_t`: the embedded usage ledger (`spell-ledger`, SQLite) as a meter for casts,
//! so C and Go hosts bill without code of their own. Everything is the Rust ledger's.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{guard, shield, spell_error_t};
use crate::handle::{borrow, borrow_mut, delete, into_handle, out_param};
use crate::request::spell_request_t;
use crate::view::str_in;
use spell_ledger::{Budget, Ledger, Period, PriceList};
use std::ffi::c_char;

/// A ledger file, open. Thread-safe; free it with `spell_ledger_delete`.
pub struct spell_ledger_t {
    ledger: Ledger,
}

/// How often an account's budget renews.
pub type spell_ledger_period_t = u8;
/// Never: the budget is a prepaid balance.
pub const SPELL_LEDGER_PREPAID: spell_ledger_period_t = 0;
/// Every UTC day.
pub const SPELL_LEDGER_DAY: spell_ledger_period_t = 1;
/// Every UTC calendar month.
pub const SPELL_LEDGER_MONTH: spell_ledger_period_t = 2;

/// Where an account stands, in micro-units of the price list's currency.
#[repr(C)]
pub struct spell_ledger_account_t {
    /// Its budget (per period, or the prepaid balance).
    pub budget: i64,
    /// Charged in the current period (all time for prepaid).
    pub spent: i64,
    /// Held by casts in flight.
    pub reserved: i64,
    /// What new casts can still spend: budget − spent − reserved.
    pub available: i64,
}

/// Opens (or creates) the ledger at `path`, releasing reservations a crashed process left.
///
/// # Safety
/// `path` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_open(
    path: *const c_char,
    len: usize,
    out: *mut *mut spell_ledger_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        let path = unsafe { str_in(path, len, "path") }?;
        *out = into_handle(spell_ledger_t {
            ledger: Ledger::open(path)?,
        });
        Ok(())
    })
}

/// Installs a price list (TOML, as `spell ledger prices` takes it).
///
/// # Safety
/// `ledger` is live; `toml` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_set_prices(
    ledger: *const spell_ledger_t,
    toml: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let ledger = unsafe { borrow(ledger, "ledger") }?;
        let prices = PriceList::from_toml(unsafe { str_in(toml, len, "toml") }?)?;
        Ok(ledger.ledger.set_prices(&prices)?)
    })
}

/// Creates or updates an account: `budget` micro-units per `period` (`SPELL_LEDGER_*`).
///
/// # Safety
/// `ledger` is live; `account` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_set_account(
    ledger: *const spell_ledger_t,
    account: *const c_char,
    len: usize,
    budget: i64,
    period: spell_ledger_period_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let ledger = unsafe { borrow(ledger, "ledger") }?;
        let account = unsafe { str_in(account, len, "account") }?;
        let period = match period {
            SPELL_LEDGER_PREPAID => Period::Prepaid,
            SPELL_LEDGER_DAY => Period::Day,
            SPELL_LEDGER_MONTH => Period::Month,
            other => {
                return Err(spell_error_t::invalid(format!(
                    "period {other} is not a SPELL_LEDGER_* value"
                )));
            }
        };
        Ok(ledger.ledger.set_account(
            account,
            Budget {
                amount: budget,
                period,
            },
        )?)
    })
}

/// Writes where `account` stands to `out`.
///
/// # Safety
/// `ledger` is live; `account` points to `len` bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_account(
    ledger: *const spell_ledger_t,
    account: *const c_char,
    len: usize,
    out: *mut spell_ledger_account_t,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let out = unsafe { out_param(out, "out") }?;
        let ledger = unsafe { borrow(ledger, "ledger") }?;
        let s = ledger
            .ledger
            .account(unsafe { str_in(account, len, "account") }?)?;
        *out = spell_ledger_account_t {
            budget: s.budget,
            spent: s.spent,
            reserved: s.reserved,
            available: s.available,
        };
        Ok(())
    })
}

/// Recomputes the hash chain and writes its length to `seq`; a broken chain is
/// `SPELL_ERROR_LEDGER_TAMPERED` naming the first broken row.
///
/// # Safety
/// `ledger` is live; `seq` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_verify(
    ledger: *const spell_ledger_t,
    seq: *mut i64,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let seq = unsafe { out_param(seq, "seq") }?;
        let ledger = unsafe { borrow(ledger, "ledger") }?;
        *seq = ledger.ledger.verify()?.seq;
        Ok(())
    })
}

/// Reservations of crashed processes released when the ledger was opened; 0 for NULL.
///
/// # Safety
/// `ledger` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_released_reservations(ledger: *const spell_ledger_t) -> u64 {
    // SAFETY: the caller's contract above.
    shield(0, || {
        unsafe { ledger.as_ref() }.map_or(0, |l| l.ledger.released_reservations())
    })
}

/// Bills the request's casts to `account` of `ledger` (its meter, instead of the runtime's):
/// a cast the account cannot pay for ends `SPELL_OUTCOME_DENIED` with denial code
/// `SPELL_ERROR_BILL_BUDGET_EXHAUSTED`, the others run within what it can still pay.
///
/// # Safety
/// `request` and `ledger` are live; `account` points to `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_request_ledger(
    request: *mut spell_request_t,
    ledger: *const spell_ledger_t,
    account: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    guard(|| {
        // SAFETY: the caller's contract above.
        let ledger = unsafe { borrow(ledger, "ledger") }?;
        let meter = ledger
            .ledger
            .meter(unsafe { str_in(account, len, "account") }?)?;
        let r = unsafe { borrow_mut(request, "request") }?;
        r.request = std::mem::take(&mut r.request).meter(meter);
        Ok(())
    })
}

/// Closes a ledger. NULL does nothing.
///
/// # Safety
/// `ledger` is NULL or live, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_ledger_delete(ledger: *mut spell_ledger_t) {
    // SAFETY: the caller's contract above.
    shield((), || unsafe { delete(ledger) })
}
