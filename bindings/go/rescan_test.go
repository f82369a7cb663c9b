package spell

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestARevokedDigestTakesEffectAtRescan(t *testing.T) {
	l := &eventLog{}
	rt, err := NewRuntime(&Options{Meter: l})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := watSpell(t, rt, `(module (func (export "run")))`, `"entrypoint":"run"`)
	mustCast(t, s, nil)
	policy := func(extra string) *Policy {
		p, err := PolicyFromTOML(testPolicy + extra)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	report, err := rt.Rescan(policy(""))
	if err != nil || report.Spells != 1 || len(report.Changes) != 0 {
		t.Fatalf("unchanged rescan: %+v, %v", report, err)
	}

	report, err = rt.Rescan(policy(fmt.Sprintf("[trust]\nrevoked_digests = [%q]\n", s.Digest())))
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changes) != 1 {
		t.Fatalf("report %+v", report)
	}
	c := report.Changes[0]
	if c.Digest != s.Digest() || c.Before.Verdict != "accepted" || c.After.Verdict != "refused" || c.After.Code != "E-SIG-009" {
		t.Fatalf("change %+v", c)
	}
	if len(l.events) != 1 || l.events[0].Kind != EventSpellRevoked || l.events[0].SpellDigest != s.Digest() || l.events[0].Code != "E-SIG-009" || l.events[0].CastID != "" {
		t.Fatalf("events %+v", l.events)
	}
	_, err = s.Cast(context.Background(), nil)
	if !errors.Is(err, CodeSpellRevoked) || !strings.Contains(err.Error(), "E-SIG-009") {
		t.Fatalf("cast of a revoked spell: %v", err)
	}
	if _, err := rt.Rescan(nil); !errors.Is(err, CodeInvalidArgument) {
		t.Fatalf("nil policy: %v", err)
	}
}

func TestStatsCountCompiledModulesAndMemoryHits(t *testing.T) {
	rt, err := NewRuntime(nil)
	if err != nil {
		t.Fatal(err)
	}
	watSpell(t, rt, `(module (func (export "run")))`, `"entrypoint":"run"`)
	watSpell(t, rt, `(module (func (export "run")))`, `"entrypoint":"run"`)
	if s := rt.Stats(); s != (CacheStats{Compiled: 1, MemoryHits: 1}) {
		t.Fatalf("stats %+v", s)
	}
	rt.Close()
	if s := rt.Stats(); s != (CacheStats{}) {
		t.Fatalf("stats after Close %+v", s)
	}
}

func TestGrantIsWhatThePolicyGave(t *testing.T) {
	s := watSpell(t, shared, `(module (func (export "run")))`, `"entrypoint":"run","limits":{"fuel":12345}`)
	grant, err := s.Grant()
	if err != nil {
		t.Fatal(err)
	}
	limits, _ := grant["limits"].(map[string]any)
	if limits["fuel"] != float64(12345) || grant["env"] == nil || grant["host_functions"] == nil {
		t.Fatalf("grant %v", grant)
	}
	s.Close()
	if _, err := s.Grant(); err == nil {
		t.Fatal("a closed spell gave a grant")
	}
}
