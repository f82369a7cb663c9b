package spell

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// A guest of the math::* host functions: "sum" adds with math::add, "greet" has math::upper
// rewrite a string in its memory, "fail" calls math::fail.
const mathGuest = `(module
  (import "math" "add" (func $add (param i32 i32) (result i32)))
  (import "math" "upper" (func $upper (param i32 i32)))
  (import "math" "fail" (func $fail))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (func (export "sum") (result i32) (call $add (i32.const 40) (i32.const 2)))
  (func (export "greet") (result i32) (call $upper (i32.const 0) (i32.const 5)) (i32.load8_u (i32.const 0)))
  (func (export "fail") (call $fail)))`

const mathManifest = `"entrypoint":"sum","capabilities":{"host_functions":["math::add","math::upper","math::fail"]}`

// mathRuntime offers math::add, math::upper (upper-cases guest memory in place, keeping its
// HostCall in *upperCall) and a math::fail that behaves as failWith says.
func mathRuntime(t *testing.T, failWith func() ([]Val, error), upperCall **HostCall) *Runtime {
	t.Helper()
	rt, err := NewRuntime(&Options{HostFunctions: []HostFunction{
		{Module: "math", Name: "add", Params: []ValType{I32, I32}, Results: []ValType{I32},
			Func: func(call *HostCall, args []Val) ([]Val, error) {
				if len(call.CastID()) != 32 {
					return nil, errors.New("no cast id")
				}
				return []Val{ValI32(args[0].I32() + args[1].I32())}, nil
			}},
		{Module: "math", Name: "upper", Params: []ValType{I32, I32},
			Func: func(call *HostCall, args []Val) ([]Val, error) {
				*upperCall = call
				b, err := call.Read(uint32(args[0].I32()), uint32(args[1].I32()))
				if err != nil {
					return nil, err
				}
				return nil, call.Write(uint32(args[0].I32()), []byte(strings.ToUpper(string(b))))
			}},
		{Module: "math", Name: "fail", Func: func(*HostCall, []Val) ([]Val, error) { return failWith() }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestHostFunctionsComputeAndUseGuestMemory(t *testing.T) {
	var upper *HostCall
	s := watSpell(t, mathRuntime(t, nil, &upper), mathGuest, mathManifest)
	if o := mustCast(t, s, nil); o.Kind != OutcomeOK || o.Returned[0].I32() != 42 {
		t.Fatalf("sum: %v %v %s", o.Kind, o.Returned, o.Detail)
	}
	if o := mustCast(t, s, &Request{Export: "greet"}); o.Kind != OutcomeOK || o.Returned[0].I32() != 'H' {
		t.Fatalf("greet: %v %v %s", o.Kind, o.Returned, o.Detail)
	}
	if _, err := upper.Read(0, 1); !errors.Is(err, CodeInvalidArgument) {
		t.Fatalf("a HostCall used after its call: %v", err)
	}
}

func TestAFailingHostFunctionTrapsTheGuest(t *testing.T) {
	cases := map[string]func() ([]Val, error){
		"quota exceeded":                         func() ([]Val, error) { return nil, errors.New("quota exceeded") },
		"math::fail panicked: boom":              func() ([]Val, error) { panic("boom") },
		"returned 1 values, the signature has 0": func() ([]Val, error) { return []Val{ValI32(1)}, nil },
	}
	for want, fail := range cases {
		var upper *HostCall
		s := watSpell(t, mathRuntime(t, fail, &upper), mathGuest, mathManifest)
		o := mustCast(t, s, &Request{Export: "fail"})
		if o.Kind != OutcomeTrap || o.Trap != TrapHostError || !strings.Contains(o.Detail, want) {
			t.Errorf("%s: %v %q %q", want, o.Kind, o.Trap, o.Detail)
		}
	}
}

func TestAHostFunctionReturningTheWrongTypeTrapsTheGuest(t *testing.T) {
	rt, err := NewRuntime(&Options{HostFunctions: []HostFunction{{Module: "math", Name: "add", Params: []ValType{I32, I32}, Results: []ValType{I32},
		Func: func(*HostCall, []Val) ([]Val, error) { return []Val{ValF64(1)}, nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := watSpell(t, rt, `(module (import "math" "add" (func $add (param i32 i32) (result i32)))
	  (func (export "sum") (result i32) (call $add (i32.const 1) (i32.const 2))))`, `"entrypoint":"sum","capabilities":{"host_functions":["math::add"]}`)
	if o := mustCast(t, s, nil); o.Kind != OutcomeTrap || !strings.Contains(o.Detail, "signature") {
		t.Fatalf("%v %q", o.Kind, o.Detail)
	}
}

func TestValsRoundTripThroughC(t *testing.T) {
	for _, v := range []Val{ValI32(-5), ValI64(-1 << 40), ValF32(-0.5), ValF64(1e300)} {
		var c _Ctype_spell_val_t
		v.store(&c)
		if got := valFrom(c); got != v {
			t.Errorf("%v came back as %v", v, got)
		}
	}
}

// deep recurses n frames with a buffer on each, so the goroutine stack grows.
func deep(n int) int {
	var buf [256]byte
	buf[n%256] = byte(n)
	if n == 0 {
		return int(buf[0])
	}
	return deep(n-1) + int(buf[n%256])
}

// Host functions run while the guest is on wasmtime's own stack; Go must still be able to grow
// the goroutine stack, allocate and collect garbage inside them.
func TestHostFunctionsMayGrowTheStackAndCollectGarbage(t *testing.T) {
	rt, err := NewRuntime(&Options{HostFunctions: []HostFunction{{Module: "math", Name: "add", Params: []ValType{I32, I32}, Results: []ValType{I32},
		Func: func(_ *HostCall, args []Val) ([]Val, error) {
			garbage := make([][]byte, 0, 1000)
			for i := 0; i < 1000; i++ {
				garbage = append(garbage, make([]byte, 4096))
			}
			runtime.GC()
			return []Val{ValI32(int32(deep(10000)%7) + args[0].I32() + int32(len(garbage[999])) - 4096)}, nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := watSpell(t, rt, `(module (import "math" "add" (func $add (param i32 i32) (result i32)))
	  (func (export "sum") (result i32) (call $add (i32.const 1) (i32.const 2))))`, `"entrypoint":"sum","capabilities":{"host_functions":["math::add"]}`)
	want := int32(deep(10000)%7) + 1
	if o := mustCast(t, s, nil); o.Kind != OutcomeOK || o.Returned[0].I32() != want {
		t.Fatalf("%v %v %q", o.Kind, o.Returned, o.Detail)
	}
}

// A component importing math::add and math::fail as the instance "math" (values only).
const mathComponent = `(component
  (import "math" (instance $math
    (export "add" (func (param "a" s32) (param "b" s32) (result s32)))
    (export "fail" (func))))
  (core func $add (canon lower (func $math "add")))
  (core func $fail (canon lower (func $math "fail")))
  (core module $m
    (import "math" "add" (func $add (param i32 i32) (result i32)))
    (import "math" "fail" (func $fail))
    (func (export "sum") (result i32) (call $add (i32.const 40) (i32.const 2)))
    (func (export "boom") (call $fail)))
  (core instance $i (instantiate $m
    (with "math" (instance (export "add" (func $add)) (export "fail" (func $fail))))))
  (func (export "sum") (result s32) (canon lift (core func $i "sum")))
  (func (export "boom") (canon lift (core func $i "boom"))))`

func TestAComponentCallsGoHostFunctions(t *testing.T) {
	var upper *HostCall
	fail := func() ([]Val, error) { return nil, errors.New("quota exceeded") }
	s := watSpell(t, mathRuntime(t, fail, &upper), mathComponent, mathManifest)
	if o := mustCast(t, s, nil); o.Kind != OutcomeOK || len(o.Returned) != 1 || o.Returned[0].I32() != 42 {
		t.Fatalf("sum: %v %v %s", o.Kind, o.Returned, o.Detail)
	}
	o := mustCast(t, s, &Request{Export: "boom"})
	if o.Kind != OutcomeTrap || o.Trap != TrapHostError || o.HookError == nil || !strings.Contains(o.HookError.Error(), "math::fail hook failed: quota exceeded") {
		t.Fatalf("boom: %v %v %v", o.Kind, o.Trap, o.HookError)
	}
}
