package spell

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parityDir holds the cross-language parity suite: each scenario of scenarios.json cast from Go
// must give, field by field, the outcome the Rust run recorded in expected.json.
const parityDir = "../parity/"

type paritySuite struct {
	Manifest    json.RawMessage `json:"manifest"`
	Policy      string          `json:"policy"`
	HostFailure string          `json:"host_failure"`
	Volatile    []string        `json:"volatile"`
	Scenarios   []struct {
		Name     string            `json:"name"`
		Export   string            `json:"export"`
		Limits   map[string]uint64 `json:"limits"`
		Meter    map[string]string `json:"meter"`
		Cancel   bool              `json:"cancel"`
		Volatile []string          `json:"volatile"`
	} `json:"scenarios"`
}

// scenarioMeter refuses or fails as a scenario's meter says: Go's way is an error to refuse and
// a panic to fail.
type scenarioMeter struct{ says map[string]string }

func (m scenarioMeter) Authorize(*CastContext) (Allowance, error) {
	switch m.says["authorize"] {
	case "deny":
		return Allowance{}, errors.New("parity: no budget")
	case "fail":
		panic("parity: budget store down")
	}
	return Allowance{}, nil
}

func (m scenarioMeter) Observe(*Event) {
	if m.says["observe"] == "fail" {
		panic("parity: event sink down")
	}
}

func (m scenarioMeter) Record(*Usage) error {
	if m.says["record"] == "fail" {
		return errors.New("parity: ledger down")
	}
	return nil
}

// without removes each dotted path of paths from v.
func without(v map[string]any, paths []string) map[string]any {
	for _, path := range paths {
		keys := strings.Split(path, ".")
		at := v
		for _, k := range keys[:len(keys)-1] {
			at, _ = at[k].(map[string]any)
		}
		delete(at, keys[len(keys)-1])
	}
	return v
}

func readJSON(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(parityDir + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}

func TestEveryParityScenarioMatchesTheRustRun(t *testing.T) {
	var suite paritySuite
	var expected map[string]map[string]any
	readJSON(t, "scenarios.json", &suite)
	readJSON(t, "expected.json", &expected)
	wat, err := os.ReadFile(parityDir + "guest.wat")
	if err != nil {
		t.Fatal(err)
	}
	fail := HostFunction{Module: "parity", Name: "fail", Results: []ValType{I32}, Func: func(*HostCall, []Val) ([]Val, error) {
		return nil, errors.New(suite.HostFailure)
	}}
	rt, err := NewRuntime(&Options{HostFunctions: []HostFunction{fail}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	pkg, err := Pack(suite.Manifest, wat)
	if err != nil {
		t.Fatal(err)
	}
	s := load(t, rt, pkg, func() (*Policy, error) { return PolicyFromTOML(suite.Policy) })
	for _, sc := range suite.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if sc.Cancel {
				cancel()
			}
			req := &Request{Export: sc.Export, Limits: Limits{
				Fuel:     sc.Limits["fuel"],
				WallTime: time.Duration(sc.Limits["wall_time_ms"]) * time.Millisecond,
			}}
			if sc.Meter != nil {
				req.Meter = scenarioMeter{sc.Meter}
			}
			o, err := s.Cast(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			var shape map[string]any
			if err := json.Unmarshal(data, &shape); err != nil {
				t.Fatal(err)
			}
			shape = without(without(shape, suite.Volatile), sc.Volatile)
			if !reflect.DeepEqual(shape, expected[sc.Name]) {
				got, _ := json.MarshalIndent(shape, "", "  ")
				want, _ := json.MarshalIndent(expected[sc.Name], "", "  ")
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
