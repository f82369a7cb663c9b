package spell

// #include "spell_go.h"
import "C"

import (
	"sort"
	"time"
)

// Request is what to cast with. The zero value casts the entrypoint with no arguments beyond
// argv[0], no environment, empty stdin, no mounts, the grant's limits and the runtime's meter.
type Request struct {
	// Args follow argv[0] (the spell's name).
	Args []string
	// Env sets environment variables; each name must be granted.
	Env map[string]string
	// Stdin is the guest's standard input.
	Stdin []byte
	// Mounts show host folders at granted guest paths.
	Mounts []Mount
	// Limits lowers limits for this cast (raising one is refused with CodeCastRequestDenied).
	Limits Limits
	// Export names a function without parameters to call instead of the entrypoint.
	Export string
	// TraceParent joins the caller's W3C trace ("00-<trace id>-<span id>-<flags>"): the usage
	// names the trace (Usage.TraceID) and the spell's outbound requests carry a child
	// traceparent. A malformed one refuses the cast (CodeCastRequestDenied).
	TraceParent string
	// TraceState is the W3C tracestate passed on with TraceParent.
	TraceState string
	// Meter sees this cast instead of the runtime's meter. If it is an Observer, the cast runs
	// on the cast pool (see the package doc).
	Meter MeteringHook
	// Ledger, with Account, bills this cast to that account of the ledger instead of Meter: a
	// cast the account cannot pay for ends OutcomeDenied with CodeBillBudgetExhausted.
	Ledger  *Ledger
	Account string
	// OnOutput sees each captured chunk of stdout and stderr as the guest writes it. The chunk
	// is only valid during the call. A panic does not stop the cast; it is the outcome's
	// HookError unless an earlier failure is. The cast runs on the cast pool (see the package doc).
	OnOutput func(stream Stream, chunk []byte)
}

// Mount shows the host folder Host at the granted guest path Guest.
type Mount struct {
	Host   string
	Guest  string
	Access Access
}

// Access to a mounted folder.
type Access uint8

const (
	// ReadOnly is the default.
	ReadOnly Access = C.SPELL_ACCESS_RO
	// ReadWrite needs a read-write grant.
	ReadWrite Access = C.SPELL_ACCESS_RW
)

// Stream is an output stream.
type Stream uint8

const (
	// Stdout is standard output.
	Stdout Stream = C.SPELL_STREAM_STDOUT
	// Stderr is standard error.
	Stderr Stream = C.SPELL_STREAM_STDERR
)

// Limits in the units of spell.json. In a Request, a zero field keeps the grant's value.
type Limits struct {
	// MemoryBytes caps linear memories plus tables.
	MemoryBytes uint64
	// Fuel caps the deterministic CPU measure (about one unit per instruction).
	Fuel uint64
	// WallTime caps wall-clock time, in whole milliseconds.
	WallTime time.Duration
	// OutputBytes caps stdout plus stderr.
	OutputBytes uint64
	// NetRequests caps outbound requests.
	NetRequests uint64
	// NetBytes caps network bytes in plus out.
	NetBytes uint64
	// OpenFiles caps the descriptors the spell holds open at once.
	OpenFiles uint64
	// DiskWriteBytes caps bytes written to files (holes and growth by truncation included).
	DiskWriteBytes uint64
}

func (l Limits) c() C.spell_limits_t {
	return C.spell_limits_t{
		memory_bytes:     C.uint64_t(l.MemoryBytes),
		fuel:             C.uint64_t(l.Fuel),
		wall_time_ms:     C.uint64_t(l.WallTime.Milliseconds()),
		output_bytes:     C.uint64_t(l.OutputBytes),
		net_requests:     C.uint64_t(l.NetRequests),
		net_bytes:        C.uint64_t(l.NetBytes),
		open_files:       C.uint64_t(l.OpenFiles),
		disk_write_bytes: C.uint64_t(l.DiskWriteBytes),
	}
}

func limitsFrom(l *C.spell_limits_t) Limits {
	return Limits{
		MemoryBytes:    uint64(l.memory_bytes),
		Fuel:           uint64(l.fuel),
		WallTime:       time.Duration(l.wall_time_ms) * time.Millisecond,
		OutputBytes:    uint64(l.output_bytes),
		NetRequests:    uint64(l.net_requests),
		NetBytes:       uint64(l.net_bytes),
		OpenFiles:      uint64(l.open_files),
		DiskWriteBytes: uint64(l.disk_write_bytes),
	}
}

// apply fills a C request; Spell copies everything before each call returns.
func (r *Request) apply(c *C.spell_request_t) error {
	for _, a := range r.Args {
		p, n := cStr(a)
		if err := takeError(C.spell_request_arg(c, p, n)); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(r.Env))
	for k := range r.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable environment order for the guest
	for _, k := range keys {
		kp, kn := cStr(k)
		vp, vn := cStr(r.Env[k])
		if err := takeError(C.spell_request_env(c, kp, kn, vp, vn)); err != nil {
			return err
		}
	}
	if len(r.Stdin) > 0 {
		p, n := cBytes(r.Stdin)
		if err := takeError(C.spell_request_stdin(c, p, n)); err != nil {
			return err
		}
	}
	for _, m := range r.Mounts {
		hp, hn := cStr(m.Host)
		gp, gn := cStr(m.Guest)
		if err := takeError(C.spell_request_mount(c, hp, hn, gp, gn, C.spell_access_t(m.Access))); err != nil {
			return err
		}
	}
	if r.Limits != (Limits{}) {
		l := r.Limits.c()
		if err := takeError(C.spell_request_limits(c, &l)); err != nil {
			return err
		}
	}
	if r.Export != "" {
		p, n := cStr(r.Export)
		if err := takeError(C.spell_request_export(c, p, n)); err != nil {
			return err
		}
	}
	if r.TraceParent != "" {
		p, n := cStr(r.TraceParent)
		if err := takeError(C.spell_request_traceparent(c, p, n)); err != nil {
			return err
		}
	}
	if r.TraceState != "" {
		p, n := cStr(r.TraceState)
		if err := takeError(C.spell_request_tracestate(c, p, n)); err != nil {
			return err
		}
	}
	if r.Meter != nil {
		if err := takeError(C.spell_go_request_meter(c, newHandle(r.Meter), C.bool(observes(r.Meter)))); err != nil {
			return err
		}
	}
	if r.Ledger != nil {
		p, n := cStr(r.Account)
		if err := r.Ledger.h.use(func(l *C.spell_ledger_t) error { return takeError(C.spell_request_ledger(c, l, p, n)) }); err != nil {
			return err
		}
	}
	if r.OnOutput != nil {
		return takeError(C.spell_go_request_on_output(c, newHandle(r.OnOutput)))
	}
	return nil
}
