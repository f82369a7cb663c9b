package spell

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testPrices = "version = \"test-1\"\ncurrency = \"USD\"\nper_cast = 1000\nper_million_fuel = 1000\n"

func openTestLedger(t *testing.T) (*Ledger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usage.db")
	l, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.SetPrices(testPrices); err != nil {
		t.Fatal(err)
	}
	return l, path
}

func TestLedgerRefusesASpentBudgetBeforeAnythingRuns(t *testing.T) {
	l, _ := openTestLedger(t)
	if err := l.SetAccount("broke", 10, Prepaid); err != nil {
		t.Fatal(err)
	}
	o := mustCast(t, loadHello(t), &Request{Args: []string{"x"}, Ledger: l, Account: "broke"})
	if o.Kind != OutcomeDenied || o.DenialCode != CodeBillBudgetExhausted {
		t.Fatalf("kind %v, denial code %v", o.Kind, o.DenialCode)
	}
	if s, err := l.Account("broke"); err != nil || s.Spent != 0 || s.Reserved != 0 {
		t.Fatalf("%+v %v", s, err)
	}
	if seq, err := l.Verify(); err != nil || seq != 1 {
		t.Fatalf("the denial is a row too: %d %v", seq, err)
	}
	var e *Error
	err := l.SetAccount("x", 1, Period(9))
	if !errors.As(err, &e) || e.Code() != CodeInvalidArgument {
		t.Fatalf("a bad period: %v", err)
	}
}

func TestLedgerCastsInFlightNeverSpendMoreThanTheBudget(t *testing.T) {
	l, _ := openTestLedger(t)
	s := loadHello(t)
	probe := mustCast(t, s, &Request{Args: []string{"x"}})
	per := 1000 + int64((probe.Usage.Fuel*1000+999_999)/1_000_000)
	if err := l.SetAccount("team", per*5, Prepaid); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ran, total int
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				o := mustCast(t, s, &Request{Args: []string{"x"}, Ledger: l, Account: "team"})
				mu.Lock()
				total++
				if o.Kind != OutcomeDenied {
					ran++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ran < 1 || ran > 5 || total != 40 {
		t.Fatalf("%d of %d ran", ran, total)
	}
	st, err := l.Account("team")
	if err != nil || st.Spent > st.Budget || st.Reserved != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if seq, err := l.Verify(); err != nil || seq != 40 {
		t.Fatalf("every cast recorded once: %d %v", seq, err)
	}
}

func TestLedgerNamesARowEditedBehindItsBack(t *testing.T) {
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("needs the sqlite3 CLI (scripts/install-deps.sh)")
	}
	l, path := openTestLedger(t)
	if err := l.SetAccount("acme", 1_000_000_000, Monthly); err != nil {
		t.Fatal(err)
	}
	s := loadHello(t)
	for i := 0; i < 3; i++ {
		mustCast(t, s, &Request{Args: []string{"x"}, Ledger: l, Account: "acme"})
	}
	sql := func(text string) (string, error) {
		out, err := exec.Command(sqlite, path, text).CombinedOutput()
		return string(out), err
	}
	if _, err := sql("UPDATE usage SET fuel = 1 WHERE seq = 2"); err == nil {
		t.Fatal("the triggers let an UPDATE through")
	}
	names, err := sql("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
	if err != nil {
		t.Fatal(err)
	}
	var edit strings.Builder
	for _, n := range strings.Fields(names) {
		edit.WriteString("DROP TRIGGER " + n + "; ")
	}
	edit.WriteString("UPDATE usage SET fuel = 1 WHERE seq = 2;")
	if out, err := sql(edit.String()); err != nil {
		t.Fatal(out, err)
	}
	_, err = l.Verify()
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeLedgerTampered || !strings.Contains(e.Error(), "2") {
		t.Fatalf("verify after an edit: %v", err)
	}
}
