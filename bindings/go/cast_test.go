package spell

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestContextCancelStopsARunningCast(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":10000000000}`)
	ctx, cancel := context.WithCancel(context.Background())
	// Started before the timer is: the cancel can come no sooner than 50 ms after it.
	start := time.Now()
	time.AfterFunc(50*time.Millisecond, cancel)
	o, err := s.Cast(ctx, nil)
	if err != nil || o.Kind != OutcomeCancelled || o.Detail == "" {
		t.Fatalf("%v %v", o, err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Fatalf("cancelled after %v", took)
	}
}

func TestContextDeadlineStopsARunningCast(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":10000000000}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o, err := s.Cast(ctx, nil)
	if err != nil || o.Kind != OutcomeCancelled || o.Usage.Wall < 40*time.Millisecond {
		t.Fatalf("%v %v", o, err)
	}
}

func TestContextAlreadyDoneCancelsBeforeTheGuestRuns(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":10000000000}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log := &countingMeter{}
	o, err := s.Cast(ctx, &Request{Meter: log})
	if err != nil || o.Kind != OutcomeCancelled || o.Usage.Fuel != 0 {
		t.Fatalf("%v %v", o, err)
	}
	if log.records.Load() != 1 {
		t.Fatalf("%d records", log.records.Load())
	}
}

func TestManyGoroutinesCastAtOnce(t *testing.T) {
	s := watSpell(t, shared, `(module (func (export "run") (result i32) i32.const 42))`, `"entrypoint":"run"`)
	const goroutines, casts = 16, 25
	meter := &countingMeter{}
	var wg sync.WaitGroup
	var ok atomic.Int64
	ids := sync.Map{}
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < casts; i++ {
				o, err := s.Cast(context.Background(), &Request{Meter: meter})
				if err == nil && o.Kind == OutcomeOK && o.Returned[0].I32() == 42 {
					ok.Add(1)
					ids.Store(o.Usage.CastID, true)
				}
			}
		}()
	}
	wg.Wait()
	unique := 0
	ids.Range(func(any, any) bool { unique++; return true })
	if ok.Load() != goroutines*casts || unique != goroutines*casts {
		t.Fatalf("%d ok casts, %d unique ids", ok.Load(), unique)
	}
	if meter.authorized.Load() != goroutines*casts || meter.records.Load() != goroutines*casts {
		t.Fatalf("authorized %d, recorded %d", meter.authorized.Load(), meter.records.Load())
	}
}

func TestCloseWaitsForCastsThenRefuses(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":10000000000}`)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan *Outcome, 1)
	started := &startSignal{started: make(chan struct{})}
	go func() {
		o, _ := s.Cast(ctx, &Request{Meter: started})
		done <- o
	}()
	<-started.started
	s.Close() // waits for the cast above, which the deadline ends
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Fatalf("Close returned after %v, while the cast was running", took)
	}
	if o := <-done; o == nil || o.Kind != OutcomeCancelled {
		t.Fatalf("the cast in flight ended as %v", o)
	}
	_, err := s.Cast(context.Background(), nil)
	if !errors.Is(err, CodeInvalidArgument) {
		t.Fatalf("cast after close: %v", err)
	}
	s.Close()
}

// startSignal closes started when its (only) cast is authorized, that is, running.
type startSignal struct {
	NoMetering
	started chan struct{}
}

func (s *startSignal) Authorize(*CastContext) (Allowance, error) {
	close(s.started)
	return Allowance{}, nil
}

// A meter whose Go value is only reachable through Spell's handle: once the runtime holding it
// is garbage-collected, finalizers free the runtime, Spell lets go of the handle, and the meter
// itself becomes garbage.
func TestFinalizersReleaseUnclosedRuntimesAndTheirHooks(t *testing.T) {
	var freed atomic.Bool
	func() {
		meter := &countingMeter{}
		runtime.SetFinalizer(meter, func(*countingMeter) { freed.Store(true) })
		rt, err := NewRuntime(&Options{Meter: meter, MaxConcurrentCasts: 1})
		if err != nil {
			t.Fatal(err)
		}
		s := watSpell(t, rt, `(module (func (export "run")))`, `"entrypoint":"run"`)
		mustCast(t, s, nil)
		s.Close()
		if meter.records.Load() != 1 {
			t.Fatal("the runtime's meter did not record the cast")
		}
	}()
	for i := 0; i < 100 && !freed.Load(); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if !freed.Load() {
		t.Fatal("the runtime's meter was never released")
	}
}

// componentGuest is a component (module.kind "component"): exports without parameters, one
// inside an exported interface.
const componentGuest = `(component
  (core module $m
    (func (export "answer") (result i32) i32.const 42)
    (func (export "spin") (loop br 0)))
  (core instance $i (instantiate $m))
  (func $answer (export "answer") (result s32) (canon lift (core func $i "answer")))
  (func (export "spin") (canon lift (core func $i "spin")))
  (instance $api (export "answer" (func $answer)))
  (export "acme:demo/api" (instance $api)))`

func TestAComponentCastsLikeAModule(t *testing.T) {
	s := watSpell(t, shared, componentGuest, `"entrypoint":"answer","limits":{"fuel":100000}`)
	o := mustCast(t, s, nil)
	if o.Kind != OutcomeOK || len(o.Returned) != 1 || o.Returned[0].I32() != 42 || o.Usage.Fuel == 0 {
		t.Fatalf("answer: %v %v %s", o.Kind, o.Returned, o.Detail)
	}
	if o := mustCast(t, s, &Request{Export: "acme:demo/api#answer"}); o.Kind != OutcomeOK || o.Returned[0].I32() != 42 {
		t.Fatalf("interface export: %v %v %s", o.Kind, o.Returned, o.Detail)
	}
	if o := mustCast(t, s, &Request{Export: "spin"}); o.Kind != OutcomeOutOfFuel || o.Usage.Fuel != 100000 {
		t.Fatalf("spin: %v %d", o.Kind, o.Usage.Fuel)
	}
}

// componentP3Guest is a WASI preview 3 command: `wasi:cli/run@0.3.0` lifted with the component
// model's async ABI returns success at once; the async export `spin` never ends.
const componentP3Guest = `(component
  (core module $m
    (import "" "task.return" (func $task_return (param i32)))
    (func (export "run") (result i32) (call $task_return (i32.const 0)) (i32.const 0))
    (func (export "spin") (result i32) (loop (br 0)) unreachable)
    (func (export "callback") (param i32 i32 i32) (result i32) unreachable))
  (core func $task_return (canon task.return (result (result))))
  (core instance $i (instantiate $m
    (with "" (instance (export "task.return" (func $task_return))))))
  (func $run async (result (result))
    (canon lift (core func $i "run") async (callback (core func $i "callback"))))
  (func $spin async
    (canon lift (core func $i "spin") async (callback (core func $i "callback"))))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.3.0" (instance $cli))
  (export "spin" (func $spin)))`

func TestAPreview3ComponentNeedsARuntimeBuiltForIt(t *testing.T) {
	pkg, err := Pack([]byte(`{"name":"t","version":"1.0.0","license":"MIT","limits":{"fuel":100000}}`), []byte(componentP3Guest))
	if err != nil {
		t.Fatal(err)
	}
	policy, err := PolicyFromTOML(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer policy.Close()
	_, err = shared.Load(pkg, policy)
	wantCode(t, err, CodeModuleInvalid)
	if !strings.Contains(err.Error(), "wasi_p3") {
		t.Fatalf("the refusal names no option: %v", err)
	}
	rt, err := NewRuntime(&Options{WasiP3: true, MaxConcurrentCasts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := load(t, rt, pkg, func() (*Policy, error) { return PolicyFromTOML(testPolicy) })
	if o := mustCast(t, s, nil); o.Kind != OutcomeOK || !o.Exited || o.ExitCode != 0 {
		t.Fatalf("run: %v %v %d %s", o.Kind, o.Exited, o.ExitCode, o.Detail)
	}
	if o := mustCast(t, s, &Request{Export: "spin"}); o.Kind != OutcomeOutOfFuel || o.Usage.Fuel != 100000 {
		t.Fatalf("spin: %v %d", o.Kind, o.Usage.Fuel)
	}
}
