package spell

import (
	"context"
	"sync/atomic"
	"testing"
)

// benchCasts times casts of s with req, one after the other.
func benchCasts(b *testing.B, s *Spell, req *Request) {
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// Per-cast latency through cgo, to set beside the Rust figure: an empty export, so the cost is
// Spell's (instantiate from the pool, WASI context, usage record) plus the binding's.
func BenchmarkCast(b *testing.B) {
	s := watSpell(b, shared, `(module (func (export "run")))`, `"entrypoint":"run"`)
	benchCasts(b, s, nil)
}

// recordOnly is a meter that only counts records: Authorize and Record run on the casting
// goroutine's thread.
type recordOnly struct {
	NoMetering
	records atomic.Int64
}

func (r *recordOnly) Record(*Usage) error {
	r.records.Add(1)
	return nil
}

// The same with a Go meter (Authorize and Record).
func BenchmarkCastMetered(b *testing.B) {
	s := watSpell(b, shared, `(module (func (export "run")))`, `"entrypoint":"run"`)
	benchCasts(b, s, &Request{Meter: &recordOnly{}})
}

// The same with a meter that is also an Observer: the cast runs on the cast pool (see doc.go).
func BenchmarkCastObserved(b *testing.B) {
	s := watSpell(b, shared, `(module (func (export "run")))`, `"entrypoint":"run"`)
	benchCasts(b, s, &Request{Meter: &countingMeter{}})
}

// The bundled C example with an argument and stdin.
func BenchmarkCastHello(b *testing.B) {
	s := loadHello(b)
	benchCasts(b, s, &Request{Args: []string{"bench"}, Stdin: []byte("input\n")})
}

// Casts from every P at once.
func BenchmarkCastParallel(b *testing.B) {
	s := watSpell(b, shared, `(module (func (export "run")))`, `"entrypoint":"run"`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Cast(context.Background(), nil); err != nil {
				b.Error(err)
			}
		}
	})
}
