package spell

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingMeter counts every call; safe for concurrent use.
type countingMeter struct {
	authorized, records, events atomic.Int64
}

func (m *countingMeter) Authorize(*CastContext) (Allowance, error) {
	m.authorized.Add(1)
	return Allowance{}, nil
}

func (m *countingMeter) Record(*Usage) error {
	m.records.Add(1)
	return nil
}

func (m *countingMeter) Observe(*Event) { m.events.Add(1) }

// budgetMeter allows casts the fuel left in a shared budget, as a billing host would.
type budgetMeter struct {
	mu      sync.Mutex
	left    uint64
	usages  []Usage
	context []CastContext
}

func (m *budgetMeter) Authorize(ctx *CastContext) (Allowance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.context = append(m.context, *ctx)
	if m.left == 0 {
		return Allowance{}, errors.New("fuel budget is spent")
	}
	return Allowance{MaxFuel: m.left}, nil
}

func (m *budgetMeter) Record(u *Usage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.left -= min(m.left, u.Fuel)
	m.usages = append(m.usages, *u)
	return nil
}

func (m *budgetMeter) Observe(*Event) {}

func TestRecordRunsExactlyOncePerCastWhateverTheOutcome(t *testing.T) {
	s := watSpell(t, shared, outcomes, `"entrypoint":"answer","limits":{"fuel":100000,"memory_bytes":1048576,"output_bytes":100}`)
	m := &countingMeter{}
	exports := []string{"answer", "exit", "trap", "spin", "grow", "flood"}
	for _, e := range exports {
		mustCast(t, s, &Request{Export: e, Meter: m})
	}
	n := int64(len(exports))
	// Each limit that ended a cast (fuel is wasmtime's own trap) was observed once.
	if m.authorized.Load() != n || m.records.Load() != n || m.events.Load() != 2 {
		t.Fatalf("authorized %d, recorded %d, observed %d", m.authorized.Load(), m.records.Load(), m.events.Load())
	}
}

func TestAuthorizeAllowanceCapsFuelThenDenies(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":1000000}`)
	m := &budgetMeter{left: 25000}
	first := mustCast(t, s, &Request{Meter: m})
	if first.Kind != OutcomeOutOfFuel || first.Usage.Fuel != 25000 || !strings.Contains(first.Detail, "allowance") {
		t.Fatalf("first: %v %q used %d", first.Kind, first.Detail, first.Usage.Fuel)
	}
	second := mustCast(t, s, &Request{Meter: m})
	if second.Kind != OutcomeDenied || second.Detail != "fuel budget is spent" || second.Usage.FuelMetered {
		t.Fatalf("second: %v %q", second.Kind, second.Detail)
	}
	if len(m.usages) != 2 || m.usages[1].Outcome != OutcomeDenied {
		t.Fatalf("usages %+v", m.usages)
	}
	ctx := m.context[0]
	if ctx.SpellName != "t" || ctx.SpellVersion != "1.0.0" || ctx.Limits.Fuel != 1000000 || len(ctx.CastID) != 32 || ctx.CastID != m.usages[0].CastID {
		t.Fatalf("context %+v", ctx)
	}
}

// failingMeter's Record fails, as a billing store that is down would; Authorize panics when
// asked to.
type failingMeter struct {
	NoMetering
	panicAuthorize bool
}

func (m failingMeter) Authorize(*CastContext) (Allowance, error) {
	if m.panicAuthorize {
		panic("authorize exploded")
	}
	return Allowance{}, nil
}

func (failingMeter) Record(*Usage) error { return errors.New("billing store unreachable") }

func TestARecordErrorIsReportedAndTheOutcomeStands(t *testing.T) {
	o := mustCast(t, loadHello(t), &Request{Meter: failingMeter{}})
	var err *Error
	if o.Kind != OutcomeOK || !errors.As(o.HookError, &err) || err.Code() != CodeHookFailed || !strings.Contains(err.Message(), "billing store unreachable") {
		t.Fatalf("%v %v", o.Kind, o.HookError)
	}
	// In the shared JSON shape, the failure names its hook.
	out, _ := json.Marshal(o)
	var parsed struct {
		HookError struct{ Code, Name, Hook, Message string } `json:"hook_error"`
	}
	if json.Unmarshal(out, &parsed) != nil || parsed.HookError.Hook != "record" || parsed.HookError.Code != "E-RUN-004" {
		t.Fatalf("%s", out)
	}
}

func TestAPanickingHookDeniesTheCastInsteadOfCrashing(t *testing.T) {
	o := mustCast(t, loadHello(t), &Request{Meter: failingMeter{panicAuthorize: true}})
	if o.Kind != OutcomeDenied || !strings.Contains(o.Detail, "authorize exploded") || o.HookError == nil {
		t.Fatalf("%v %q %v", o.Kind, o.Detail, o.HookError)
	}
}

// refusingMeter refuses every cast with an error: a plain denial, not a failure.
type refusingMeter struct{ NoMetering }

func (refusingMeter) Authorize(*CastContext) (Allowance, error) {
	return Allowance{}, errors.New("no budget left")
}

func TestAnAuthorizeErrorIsARefusalNotAFailure(t *testing.T) {
	o := mustCast(t, loadHello(t), &Request{Meter: refusingMeter{}})
	if o.Kind != OutcomeDenied || o.Detail != "no budget left" || o.HookError != nil || o.DenialCode != 0 {
		t.Fatalf("%v %q %v %v", o.Kind, o.Detail, o.HookError, o.DenialCode)
	}
}

// panickingObserver panics on every event, as a broken event sink would.
type panickingObserver struct{ NoMetering }

func (panickingObserver) Observe(*Event) { panic("event sink down") }

func TestAPanickingObserveIsTheHookErrorAndTheOutcomeStands(t *testing.T) {
	s := watSpell(t, shared, outcomes, `"entrypoint":"grow","limits":{"memory_bytes":1048576}`)
	o := mustCast(t, s, &Request{Meter: panickingObserver{}})
	var err *Error
	if o.Kind != OutcomeMemoryLimit || !errors.As(o.HookError, &err) ||
		err.Message() != "observe hook failed: Observe panicked: event sink down" {
		t.Fatalf("%v %v", o.Kind, o.HookError)
	}
}

func TestTheRuntimeMeterSeesCastsWithoutTheirOwn(t *testing.T) {
	runtimeMeter, own := &countingMeter{}, &countingMeter{}
	rt, err := NewRuntime(&Options{Meter: runtimeMeter})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := watSpell(t, rt, `(module (func (export "run")))`, `"entrypoint":"run"`)
	mustCast(t, s, nil)
	mustCast(t, s, &Request{Meter: own})
	if runtimeMeter.records.Load() != 1 || own.records.Load() != 1 {
		t.Fatalf("runtime meter %d, own %d", runtimeMeter.records.Load(), own.records.Load())
	}
}

type eventLog struct {
	NoMetering
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) Observe(e *Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, *e)
}

func TestObserveSeesTheLimitThatEndedTheCast(t *testing.T) {
	s := watSpell(t, shared, outcomes, `"entrypoint":"grow","limits":{"memory_bytes":1048576}`)
	l := &eventLog{}
	o := mustCast(t, s, &Request{Meter: l})
	if len(l.events) != 1 {
		t.Fatalf("events %+v", l.events)
	}
	e := l.events[0]
	if e.Kind != EventLimitHit || e.Outcome != OutcomeMemoryLimit || e.CastID != o.Usage.CastID || !strings.Contains(e.Detail, "1048576") {
		t.Fatalf("event %+v", e)
	}
}
