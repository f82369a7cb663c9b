package spell

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// threads is this process's thread count, from /proc.
func threads(t *testing.T) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("Threads: %q", v)
			}
			return n
		}
	}
	t.Fatal("no Threads: line")
	return 0
}

func TestIdlePoolThreadsExit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts threads through /proc")
	}
	SetPoolIdleTimeout(50 * time.Millisecond)
	defer SetPoolIdleTimeout(30 * time.Second)
	s := loadHello(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// An Observer meter makes the cast run on the pool.
			o, err := s.Cast(context.Background(), &Request{Meter: &countingMeter{}})
			if err != nil || o.Kind != OutcomeOK {
				t.Errorf("cast: %v %v", o, err)
			}
		}()
	}
	wg.Wait()
	busy := threads(t)
	// Go does not end its own threads; only the pool's can go.
	for deadline := time.Now().Add(5 * time.Second); threads(t) >= busy; {
		if time.Now().After(deadline) {
			t.Fatalf("still %d threads, as many as right after the casts", threads(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
