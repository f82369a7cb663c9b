package spell

import (
	"context"
	"os"
	"testing"
)

// The guest policy of the tests: unsigned packages, and the math::* host functions.
const testPolicy = "allow_unsigned = true\n[capabilities]\nhost_functions = [\"math::*\"]\n"

// shared is one runtime for the tests that need nothing special, as a host would have.
var shared *Runtime

func TestMain(m *testing.M) {
	var err error
	if shared, err = NewRuntime(nil); err != nil {
		panic(err)
	}
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// helloPackage is the bundled example spell.
func helloPackage(t testing.TB) []byte {
	t.Helper()
	pkg, err := os.ReadFile("../../examples/hello/hello.spell")
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// loadHello loads the bundled example with the policy that trusts it.
func loadHello(t testing.TB) *Spell {
	t.Helper()
	pkg := helloPackage(t)
	return load(t, shared, pkg, func() (*Policy, error) { return TrustingPolicy(pkg) })
}

// watSpell packs a WAT module as spell "t" with the extra manifest fields and loads it on rt.
func watSpell(t testing.TB, rt *Runtime, wat, manifest string) *Spell {
	t.Helper()
	pkg, err := Pack([]byte(`{"name":"t","version":"1.0.0","license":"MIT",`+manifest+`}`), []byte(wat))
	if err != nil {
		t.Fatal(err)
	}
	return load(t, rt, pkg, func() (*Policy, error) { return PolicyFromTOML(testPolicy) })
}

// load loads pkg on rt under a new policy, closing the spell when the test ends.
func load(t testing.TB, rt *Runtime, pkg []byte, policy func() (*Policy, error)) *Spell {
	t.Helper()
	p, err := policy()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := rt.Load(pkg, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCast casts and fails the test when the cast could not start.
func mustCast(t testing.TB, s *Spell, req *Request) *Outcome {
	t.Helper()
	o, err := s.Cast(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// spin loops forever; fuel, time, cancellation or a context ends it.
const spin = `(module (func (export "run") (loop br 0)))`
