package spell

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
)

// keys are the sorted names of a JSON object.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	var k []string
	for name := range m {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

// The outcome, its usage record and the limits marshal with every field of schema/fields.json
// (generated from the Rust types), and nothing else.
func TestJSONHasEveryField(t *testing.T) {
	raw, err := os.ReadFile("../../schema/fields.json")
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string][]string
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	s := watSpell(t, shared, outcomes, `"entrypoint":"answer","limits":{"fuel":1000000}`)
	o := mustCast(t, s, &Request{Export: "divide"})
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(t, out); !reflect.DeepEqual(got, fields["outcome"]) {
		t.Errorf("outcome fields %v, want %v", got, fields["outcome"])
	}
	var parsed struct {
		Trap  string          `json:"trap"`
		Usage json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil || parsed.Trap != "integer_division_by_zero" {
		t.Errorf("%v: %s", err, out)
	}
	if got := keys(t, parsed.Usage); !reflect.DeepEqual(got, fields["usage"]) {
		t.Errorf("usage fields %v, want %v", got, fields["usage"])
	}
	limits, err := json.Marshal(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(t, limits); !reflect.DeepEqual(got, fields["limits"]) {
		t.Errorf("limits fields %v, want %v", got, fields["limits"])
	}
}
