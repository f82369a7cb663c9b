package spell

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// wantCode fails the test unless err is an *Error with code.
func wantCode(t *testing.T, err error, code ErrorCode) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code() != code || !errors.Is(err, code) {
		t.Fatalf("want %s %s, got %v", code, code.Name(), err)
	}
	if !strings.Contains(err.Error(), code.String()) || e.Message() == "" {
		t.Fatalf("error text %q", err.Error())
	}
}

func TestBadPackagesAndPoliciesReturnTheirCodes(t *testing.T) {
	policy, err := PolicyFromTOML(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer policy.Close()
	_, err = shared.Load([]byte("not a package"), policy)
	wantCode(t, err, CodePackageMalformed)
	_, err = PolicyFromTOML("allow_unsigned = 3")
	wantCode(t, err, CodePolicyParse)
	_, err = PolicyFromFile("/nonexistent/policy.toml")
	wantCode(t, err, CodePolicyParse)
	_, err = TrustingPolicy(nil)
	wantCode(t, err, CodePackageMissingMember)
	_, err = Pack([]byte(`{"name":"t"}`), []byte("(module"))
	wantCode(t, err, CodeInvalidArgument)
	_, err = shared.Load(nil, nil)
	wantCode(t, err, CodeInvalidArgument)

	manifest := []byte(`{"name":"t","version":"1.0.0","license":"MIT","entrypoint":"run"}`)
	unsigned, err := Pack(manifest, []byte(`(module (func (export "run")))`))
	if err != nil {
		t.Fatal(err)
	}
	denyAll, err := PolicyFromTOML("")
	if err != nil {
		t.Fatal(err)
	}
	defer denyAll.Close()
	_, err = shared.Load(unsigned, denyAll)
	wantCode(t, err, CodeSignatureMissing)

	imports, err := Pack(manifest, []byte(`(module (import "env" "secret" (func)) (func (export "run")))`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = shared.Load(imports, policy)
	wantCode(t, err, CodeImportNotGranted)
}

func TestRequestsBeyondTheGrantAreRefusedBeforeTheCast(t *testing.T) {
	s := watSpell(t, shared, spin, `"entrypoint":"run","limits":{"fuel":1000}`)
	m := &countingMeter{}
	cases := map[string]*Request{
		"raised limit":    {Limits: Limits{Fuel: 1001}, Meter: m},
		"ungranted env":   {Env: map[string]string{"SECRET": "x"}, Meter: m},
		"ungranted mount": {Mounts: []Mount{{Host: t.TempDir(), Guest: "/data"}}, Meter: m},
	}
	for name, req := range cases {
		o, err := s.Cast(context.Background(), req)
		if o != nil {
			t.Fatalf("%s: an outcome %v", name, o.Kind)
		}
		wantCode(t, err, CodeCastRequestDenied)
	}
	_, err := s.Cast(context.Background(), &Request{Args: []string{"\xff"}})
	wantCode(t, err, CodeInvalidArgument)
	_, err = s.Cast(context.Background(), &Request{Mounts: []Mount{{Host: "/tmp", Guest: "/data", Access: 7}}})
	wantCode(t, err, CodeInvalidArgument)
	if m.authorized.Load() != 0 || m.records.Load() != 0 {
		t.Fatal("the meter saw a cast that never started")
	}
}

func TestInvalidRuntimeOptionsReturnTheirCodes(t *testing.T) {
	nop := func(*HostCall, []Val) ([]Val, error) { return nil, nil }
	_, err := NewRuntime(&Options{HostFunctions: []HostFunction{{Module: "spell", Name: "x", Func: nop}}})
	wantCode(t, err, CodeHostFunctionInvalid)
	twice := HostFunction{Module: "math", Name: "x", Func: nop}
	_, err = NewRuntime(&Options{HostFunctions: []HostFunction{twice, twice}})
	wantCode(t, err, CodeHostFunctionInvalid)
	_, err = NewRuntime(&Options{HostFunctions: []HostFunction{{Module: "math", Name: "x", Params: []ValType{9}, Func: nop}}})
	wantCode(t, err, CodeInvalidArgument)
	_, err = NewRuntime(&Options{HostFunctions: []HostFunction{{Module: "math", Name: "x"}}})
	wantCode(t, err, CodeInvalidArgument)
	_, err = NewRuntime(&Options{Metering: 9})
	wantCode(t, err, CodeInvalidArgument)
}

func TestBusyWhenEverySlotIsTaken(t *testing.T) {
	rt, err := NewRuntime(&Options{MaxConcurrentCasts: 1, QueueTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := watSpell(t, rt, spin, `"entrypoint":"run","limits":{"fuel":10000000000}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Outcome)
	go func() {
		o, _ := s.Cast(ctx, nil)
		done <- o
	}()
	for {
		// Until the spinning cast holds the only slot, a cast may still get it.
		_, err := s.Cast(ctx, &Request{Export: "run", Limits: Limits{Fuel: 1}})
		if err != nil {
			wantCode(t, err, CodeBusy)
			break
		}
	}
	cancel()
	if o := <-done; o.Kind != OutcomeCancelled {
		t.Fatalf("the spinning cast ended as %v", o.Kind)
	}
}

func TestClosedHandlesRefuseInsteadOfCrashing(t *testing.T) {
	rt, err := NewRuntime(nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := PolicyFromTOML(testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	rt.Close()
	_, err = rt.Load(helloPackage(t), policy)
	wantCode(t, err, CodeInvalidArgument)
	policy.Close()
	_, err = shared.Load(helloPackage(t), policy)
	wantCode(t, err, CodeInvalidArgument)
}
