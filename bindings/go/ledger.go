package spell

// #include "spell.h"
import "C"

import "runtime"

// Ledger is the embedded usage ledger (a SQLite file): accounts with budgets, a price list, one
// hash-chained row per cast. Set Request.Ledger and Request.Account to bill a cast. Safe for
// concurrent use, also by several processes sharing the file.
type Ledger struct {
	h cHandle[*C.spell_ledger_t]
}

// Period is how often an account's budget renews.
type Period uint8

const (
	// Prepaid never renews: the budget is a balance.
	Prepaid Period = C.SPELL_LEDGER_PREPAID
	// Daily renews every UTC day.
	Daily Period = C.SPELL_LEDGER_DAY
	// Monthly renews every UTC calendar month.
	Monthly Period = C.SPELL_LEDGER_MONTH
)

// AccountStatus is where an account stands, in micro-units of the price list's currency.
type AccountStatus struct {
	Budget    int64
	Spent     int64 // in the current period (all time for Prepaid)
	Reserved  int64 // held by casts in flight
	Available int64 // Budget - Spent - Reserved
}

// OpenLedger opens (or creates) the ledger at path, releasing the reservations a crashed
// process left.
func OpenLedger(path string) (*Ledger, error) {
	p, n := cStr(path)
	var ptr *C.spell_ledger_t
	if err := takeError(C.spell_ledger_open(p, n, &ptr)); err != nil {
		return nil, err
	}
	l := &Ledger{h: cHandle[*C.spell_ledger_t]{ptr: ptr, free: func(p *C.spell_ledger_t) { C.spell_ledger_delete(p) }, what: "ledger"}}
	runtime.SetFinalizer(l, (*Ledger).Close)
	return l, nil
}

// SetPrices installs a price list (TOML, as `spell ledger prices` takes it).
func (l *Ledger) SetPrices(toml string) error {
	p, n := cStr(toml)
	return l.h.use(func(h *C.spell_ledger_t) error { return takeError(C.spell_ledger_set_prices(h, p, n)) })
}

// SetAccount creates or updates an account: budget micro-units per period.
func (l *Ledger) SetAccount(account string, budget int64, period Period) error {
	p, n := cStr(account)
	return l.h.use(func(h *C.spell_ledger_t) error {
		return takeError(C.spell_ledger_set_account(h, p, n, C.int64_t(budget), C.spell_ledger_period_t(period)))
	})
}

// Account reports where an account stands.
func (l *Ledger) Account(account string) (AccountStatus, error) {
	p, n := cStr(account)
	var s C.spell_ledger_account_t
	err := l.h.use(func(h *C.spell_ledger_t) error { return takeError(C.spell_ledger_account(h, p, n, &s)) })
	return AccountStatus{Budget: int64(s.budget), Spent: int64(s.spent), Reserved: int64(s.reserved), Available: int64(s.available)}, err
}

// Verify recomputes the hash chain and returns its length; a broken chain is an *Error with
// CodeLedgerTampered naming the first broken row.
func (l *Ledger) Verify() (int64, error) {
	var seq C.int64_t
	err := l.h.use(func(h *C.spell_ledger_t) error { return takeError(C.spell_ledger_verify(h, &seq)) })
	return int64(seq), err
}

// ReleasedReservations is how many reservations of crashed processes opening released.
func (l *Ledger) ReleasedReservations() uint64 {
	var released uint64
	_ = l.h.use(func(h *C.spell_ledger_t) error {
		released = uint64(C.spell_ledger_released_reservations(h))
		return nil
	})
	return released
}

// Close closes the ledger. Safe to call more than once.
func (l *Ledger) Close() error {
	l.h.close()
	runtime.SetFinalizer(l, nil)
	return nil
}
