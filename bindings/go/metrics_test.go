package spell

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// A host serves Runtime.Metrics on its own /metrics (httptest on 127.0.0.1); the scrape, read
// with Prometheus' own text parser (expfmt), matches the usage of the casts that ran.
func TestMetricsServedOverHTTPMatchTheUsageOfTheCasts(t *testing.T) {
	rt, err := NewRuntime(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	pkg := helloPackage(t)
	s := load(t, rt, pkg, func() (*Policy, error) { return TrustingPolicy(pkg) })
	var usages []Usage
	for _, name := range []string{"a", "b", "c"} {
		usages = append(usages, mustCast(t, s, &Request{Args: []string{name}}).Usage)
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		text, err := rt.Metrics()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(text))
	}))
	defer server.Close()
	if !strings.HasPrefix(server.URL, "http://127.0.0.1:") {
		t.Fatalf("not on loopback: %s", server.URL)
	}
	response, err := http.Get(server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	spell := map[string]string{"spell": "hello", "version": "0.1.0"}
	find := func(name string, labels map[string]string) *dto.Metric {
		family := families[name]
		if family == nil {
			t.Fatalf("no %s", name)
		}
	metrics:
		for _, m := range family.Metric {
			for k, v := range labels {
				found := false
				for _, l := range m.Label {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue metrics
				}
			}
			return m
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	ok := map[string]string{"spell": "hello", "version": "0.1.0", "outcome": "ok"}
	if got := find("faas_invocations_total", ok).GetCounter().GetValue(); got != 3 {
		t.Fatalf("faas_invocations_total %v", got)
	}
	var fuel, memory uint64
	for _, u := range usages {
		fuel += u.Fuel
		memory += u.MemoryPeakBytes
	}
	h := find("spell_fuel", spell).GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != float64(fuel) {
		t.Fatalf("spell_fuel count %d sum %v, usage fuel %d", h.GetSampleCount(), h.GetSampleSum(), fuel)
	}
	if got := find("faas_mem_usage_bytes", spell).GetHistogram().GetSampleSum(); got != float64(memory) {
		t.Fatalf("faas_mem_usage_bytes sum %v, usage %d", got, memory)
	}
	wall := find("faas_invoke_duration_seconds", spell).GetHistogram()
	if wall.GetSampleCount() != 3 || wall.Bucket[0].GetUpperBound() != 1e-6 {
		t.Fatalf("faas_invoke_duration_seconds %v", wall)
	}
	if got := find("spell_casts_in_flight", nil).GetGauge().GetValue(); got != 0 {
		t.Fatalf("in flight %v", got)
	}
}

func TestACastJoinsTheCallersTrace(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	s := loadHello(t)
	o := mustCast(t, s, &Request{TraceParent: "00-" + trace + "-00f067aa0ba902b7-01", TraceState: "a=1"})
	if o.Usage.TraceID != trace {
		t.Fatalf("trace id %q", o.Usage.TraceID)
	}
	if id := mustCast(t, s, &Request{}).Usage.TraceID; id != "" {
		t.Fatalf("trace id %q without a traceparent", id)
	}
	_, err := s.Cast(context.Background(), &Request{TraceParent: "00-not-a-trace"})
	if e, ok := err.(*Error); !ok || e.Code() != CodeCastRequestDenied {
		t.Fatalf("err %v", err)
	}
}
