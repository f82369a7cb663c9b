package spell_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	spell "spell.dev/spell/bindings/go"
)

// Load the bundled example spell under the example policy and cast it.
func Example() {
	rt, err := spell.NewRuntime(nil) // one per process; safe for concurrent use
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	policy, err := spell.PolicyFromFile("../../examples/policy.toml")
	if err != nil {
		log.Fatal(err)
	}
	defer policy.Close()
	pkg, err := os.ReadFile("../../examples/hello/hello.spell")
	if err != nil {
		log.Fatal(err)
	}
	sp, err := rt.Load(pkg, policy)
	if err != nil {
		log.Fatal(err) // an *spell.Error: err.(*spell.Error).Code() is the catalog code
	}
	defer sp.Close()

	out, err := sp.Cast(context.Background(), &spell.Request{Args: []string{"Go"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out.Stdout))
	fmt.Println(out.Kind, out.Usage.Fuel > 0)
	// Output:
	// Hello, Go!
	// ok true
}

// spinning loads a spell that loops until fuel, time or its context ends it, built from
// WebAssembly text by Pack.
func spinning(rt *spell.Runtime) *spell.Spell {
	pkg, err := spell.Pack([]byte(`{"name":"spin","version":"1.0.0","license":"MIT","entrypoint":"run"}`),
		[]byte(`(module (func (export "run") (loop br 0)))`))
	if err != nil {
		log.Fatal(err)
	}
	policy, _ := spell.PolicyFromTOML("allow_unsigned = true")
	defer policy.Close()
	sp, err := rt.Load(pkg, policy)
	if err != nil {
		log.Fatal(err)
	}
	return sp
}

// A context's deadline or cancellation ends a running cast.
func ExampleSpell_Cast_context() {
	rt, _ := spell.NewRuntime(nil)
	defer rt.Close()
	sp := spinning(rt)
	defer sp.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	out, err := sp.Cast(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Kind, out.Detail)
	// Output: cancelled cancelled by the host
}

// Host functions are Go funcs; the policy grants them by name.
func ExampleHostFunction() {
	add := spell.HostFunction{
		Module: "math", Name: "add",
		Params: []spell.ValType{spell.I32, spell.I32}, Results: []spell.ValType{spell.I32},
		Func: func(call *spell.HostCall, args []spell.Val) ([]spell.Val, error) {
			return []spell.Val{spell.ValI32(args[0].I32() + args[1].I32())}, nil
		},
	}
	rt, err := spell.NewRuntime(&spell.Options{HostFunctions: []spell.HostFunction{add}})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	pkg, _ := spell.Pack(
		[]byte(`{"name":"sum","version":"1.0.0","license":"MIT","entrypoint":"run",
		         "capabilities":{"host_functions":["math::add"]}}`),
		[]byte(`(module (import "math" "add" (func $add (param i32 i32) (result i32)))
		          (func (export "run") (result i32) (call $add (i32.const 40) (i32.const 2))))`))
	policy, _ := spell.PolicyFromTOML("allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::*\"]")
	defer policy.Close()
	sp, err := rt.Load(pkg, policy)
	if err != nil {
		log.Fatal(err)
	}
	defer sp.Close()
	out, _ := sp.Cast(context.Background(), nil)
	fmt.Println(out.Kind, out.Returned[0].I32())
	// Output: ok 42
}

// billing is a MeteringHook that keeps a fuel budget across casts.
type billing struct {
	spell.NoMetering
	left uint64
}

func (b *billing) Authorize(*spell.CastContext) (spell.Allowance, error) {
	if b.left == 0 {
		return spell.Allowance{}, fmt.Errorf("budget spent")
	}
	return spell.Allowance{MaxFuel: b.left}, nil
}

func (b *billing) Record(u *spell.Usage) error {
	b.left -= min(b.left, u.Fuel)
	fmt.Println("billed", u.Outcome, u.Fuel)
	return nil
}

// A meter authorizes each cast before it runs and records its usage exactly once after.
func ExampleMeteringHook() {
	rt, _ := spell.NewRuntime(nil)
	defer rt.Close()
	sp := spinning(rt)
	defer sp.Close()

	meter := &billing{left: 5000}
	for i := 0; i < 2; i++ {
		out, _ := sp.Cast(context.Background(), &spell.Request{Meter: meter})
		fmt.Println(out.Kind)
	}
	// Output:
	// billed out_of_fuel 5000
	// out_of_fuel
	// billed denied 0
	// denied
}
