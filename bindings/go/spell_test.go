package spell

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestHelloExampleGreetsAndEchoesStdin(t *testing.T) {
	s := loadHello(t)
	if s.Name() != "hello" || s.Version() != "0.1.0" || len(s.Digest()) != 64 || s.Entrypoint() != "_start" {
		t.Fatalf("spell %q %q %q %q", s.Name(), s.Version(), s.Digest(), s.Entrypoint())
	}
	o := mustCast(t, s, &Request{Args: []string{"world"}, Stdin: []byte("echo\n")})
	if o.Kind != OutcomeOK || !o.Exited || o.ExitCode != 0 || string(o.Stdout) != "Hello, world!\necho\n" {
		t.Fatalf("outcome %v exit %v/%d stdout %q", o.Kind, o.Exited, o.ExitCode, o.Stdout)
	}
	u := o.Usage
	if !u.FuelMetered || u.Fuel == 0 || u.Outcome != OutcomeOK || u.SpellName != "hello" || u.SpellDigest != s.Digest() {
		t.Fatalf("usage %+v", u)
	}
	if len(u.CastID) != 32 || u.StdoutBytes != 19 || u.MemoryPeakBytes == 0 || u.Wall <= 0 || time.Since(u.StartedAt) > time.Minute {
		t.Fatalf("usage %+v", u)
	}
}

func TestGrantedEnvReachesTheGuest(t *testing.T) {
	o := mustCast(t, loadHello(t), &Request{Env: map[string]string{"HELLO_NAME": "Go"}})
	if string(o.Stdout) != "Hello, Go!\n" {
		t.Fatalf("stdout %q", o.Stdout)
	}
}

// One spell whose exports end in each outcome that needs no hook, context or other goroutine.
const outcomes = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\10\00\00\00\06\00\00\00")
  (data (i32.const 16) "hello\n")
  (func (export "answer") (result i32) i32.const 42)
  (func (export "wide") (result i64 f32 f64) i64.const -7 f32.const 1.5 f64.const -2.25)
  (func (export "exit") (call $exit (i32.const 3)))
  (func (export "trap") unreachable)
  (func (export "divide") (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "spin") (loop br 0))
  (func (export "grow") (loop (drop (memory.grow (i32.const 1))) br 0))
  (func (export "flood") (loop (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) br 0)))`

func TestEachOutcome(t *testing.T) {
	s := watSpell(t, shared, outcomes, `"entrypoint":"answer","limits":{"fuel":1000000,"memory_bytes":1048576,"output_bytes":100}`)
	cases := []struct {
		export string
		kind   OutcomeKind
		check  func(*Outcome) bool
	}{
		{"answer", OutcomeOK, func(o *Outcome) bool { return len(o.Returned) == 1 && o.Returned[0] == ValI32(42) && o.Detail == "" }},
		{"exit", OutcomeExit, func(o *Outcome) bool { return o.Exited && o.ExitCode == 3 }},
		{"trap", OutcomeTrap, func(o *Outcome) bool { return o.Trap == TrapUnreachableCodeReached }},
		{"divide", OutcomeTrap, func(o *Outcome) bool {
			return o.Trap == TrapIntegerDivisionByZero && o.Trap.String() == "integer_division_by_zero"
		}},
		{"spin", OutcomeOutOfFuel, func(o *Outcome) bool { return o.Usage.Fuel == 1000000 }},
		{"grow", OutcomeMemoryLimit, func(o *Outcome) bool { return o.Usage.MemoryPeakBytes == 1<<20 }},
		{"flood", OutcomeOutputLimit, func(o *Outcome) bool { return bytes.Equal(o.Stdout, bytes.Repeat([]byte("hello\n"), 17)[:100]) }},
	}
	for _, c := range cases {
		t.Run(c.export, func(t *testing.T) {
			o := mustCast(t, s, &Request{Export: c.export})
			if o.Kind != c.kind || o.Usage.Outcome != c.kind || !c.check(o) {
				t.Fatalf("%s: %v (%s) trap %q usage %+v", c.export, o.Kind, o.Detail, o.Trap, o.Usage)
			}
			if c.kind != OutcomeOK && c.kind != OutcomeExit && o.Detail == "" {
				t.Fatalf("%s: no detail", c.export)
			}
		})
	}
}

func TestExportsReturnEveryValueType(t *testing.T) {
	s := watSpell(t, shared, outcomes, `"entrypoint":"answer"`)
	o := mustCast(t, s, &Request{Export: "wide"})
	want := []Val{ValI64(-7), ValF32(1.5), ValF64(-2.25)}
	if len(o.Returned) != 3 || o.Returned[0] != want[0] || o.Returned[1] != want[1] || o.Returned[2] != want[2] {
		t.Fatalf("returned %v", o.Returned)
	}
	if o.Returned[0].I64() != -7 || o.Returned[1].F32() != 1.5 || o.Returned[2].F64() != -2.25 || o.Returned[2].Kind() != F64 {
		t.Fatalf("returned %v", o.Returned)
	}
}

func TestWallTimeLimitStopsASpinningGuest(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"wall_time_ms":100,"fuel":10000000000}`)
	o := mustCast(t, s, nil)
	if o.Kind != OutcomeTimeout || o.Usage.Wall < 100*time.Millisecond || o.Usage.Wall > 5*time.Second {
		t.Fatalf("%v after %v", o.Kind, o.Usage.Wall)
	}
}

func TestLimitsLowerTheGrantForOneCast(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":100000}`)
	o := mustCast(t, s, &Request{Limits: Limits{Fuel: 1000}})
	if o.Kind != OutcomeOutOfFuel || o.Usage.Fuel != 1000 {
		t.Fatalf("%v used %d", o.Kind, o.Usage.Fuel)
	}
}

func TestOnOutputSeesEachChunk(t *testing.T) {
	var mu sync.Mutex
	var seen []byte
	o := mustCast(t, loadHello(t), &Request{Stdin: []byte("more"), OnOutput: func(stream Stream, chunk []byte) {
		mu.Lock()
		defer mu.Unlock()
		if stream == Stdout {
			seen = append(seen, chunk...)
		}
	}})
	if string(seen) != "Hello, world!\nmore" || !bytes.Equal(seen, o.Stdout) {
		t.Fatalf("streamed %q, captured %q", seen, o.Stdout)
	}
}

func TestAPanickingOnOutputIsTheHookErrorAndTheCastGoesOn(t *testing.T) {
	o := mustCast(t, loadHello(t), &Request{OnOutput: func(Stream, []byte) { panic("terminal gone") }})
	var err *Error
	if o.Kind != OutcomeOK || string(o.Stdout) != "Hello, world!\n" || !errors.As(o.HookError, &err) ||
		err.Code() != CodeHookFailed || err.Message() != "on_output hook failed: OnOutput panicked: terminal gone" {
		t.Fatalf("%v %q %v", o.Kind, o.Stdout, o.HookError)
	}
}
