package spell

// #include "spell.h"
import "C"

import (
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
)

// OutcomeKind is how a cast ended.
type OutcomeKind uint8

const (
	// OutcomeOK: exit code 0, or the entrypoint returned.
	OutcomeOK OutcomeKind = C.SPELL_OUTCOME_OK
	// OutcomeExit: a non-zero exit code.
	OutcomeExit OutcomeKind = C.SPELL_OUTCOME_EXIT
	// OutcomeTrap: the guest trapped (Outcome.Trap names the kind).
	OutcomeTrap OutcomeKind = C.SPELL_OUTCOME_TRAP
	// OutcomeTimeout: the wall-time limit ended the cast.
	OutcomeTimeout OutcomeKind = C.SPELL_OUTCOME_TIMEOUT
	// OutcomeOutOfFuel: the fuel limit, or the meter's allowance, ended the cast.
	OutcomeOutOfFuel OutcomeKind = C.SPELL_OUTCOME_OUT_OF_FUEL
	// OutcomeMemoryLimit: the memory limit ended the cast.
	OutcomeMemoryLimit OutcomeKind = C.SPELL_OUTCOME_MEMORY_LIMIT
	// OutcomeOutputLimit: the output limit ended the cast.
	OutcomeOutputLimit OutcomeKind = C.SPELL_OUTCOME_OUTPUT_LIMIT
	// OutcomeNetworkLimit: a network limit ended the cast.
	OutcomeNetworkLimit OutcomeKind = C.SPELL_OUTCOME_NETWORK_LIMIT
	// OutcomeCancelled: the context (or the host) cancelled the cast.
	OutcomeCancelled OutcomeKind = C.SPELL_OUTCOME_CANCELLED
	// OutcomeDenied: the meter's Authorize refused the cast; nothing ran.
	OutcomeDenied OutcomeKind = C.SPELL_OUTCOME_DENIED
	// OutcomeDiskLimit: the disk write limit ended the cast.
	OutcomeDiskLimit OutcomeKind = C.SPELL_OUTCOME_DISK_LIMIT
)

// String is the snake_case name, e.g. "out_of_fuel".
func (k OutcomeKind) String() string {
	var s C.spell_str_t
	if !C.spell_outcome_kind_name(C.spell_outcome_kind_t(k), &s) {
		return fmt.Sprintf("outcome(%d)", uint8(k))
	}
	return goString(s)
}

// Outcome is how a cast ended, what it printed and returned, and what it used.
type Outcome struct {
	// Kind is how it ended.
	Kind OutcomeKind
	// Exited says the guest exited (a _start that returned counts, with code 0).
	Exited bool
	// ExitCode is the exit code when Exited.
	ExitCode int32
	// Trap is the trap kind for OutcomeTrap (TrapUnreachableCodeReached, TrapHostError, ...);
	// TrapUnknown for other kinds of outcome.
	Trap TrapKind
	// Detail is a human-readable reason, for every kind but OK and Exit.
	Detail string
	// Returned is what a named export returned.
	Returned []Val
	// Stdout and Stderr are the captured output (up to the output limit).
	Stdout, Stderr []byte
	// Usage is the usage record the meter's Record saw.
	Usage Usage
	// HookError is the meter's Record error if it failed (code CodeHookFailed; a host may
	// retry storing Usage), else the first failure during the cast: a panic in Authorize,
	// Observe or OnOutput, or a host function's error. The outcome stands either way.
	HookError error
	// DenialCode is, for OutcomeDenied, the catalog code the meter gave (e.g.
	// CodeBillBudgetExhausted from a Ledger); 0 when it gave none.
	DenialCode ErrorCode
	// hookErrorJSON is HookError in the shared JSON shape ({code, name, hook, message}).
	hookErrorJSON json.RawMessage
}

// Usage is everything one cast consumed.
type Usage struct {
	// CastID is unique per cast (32 hex digits).
	CastID string
	// SpellDigest is the sha256 of the spell's spell.json, hex.
	SpellDigest string
	// SpellName is the spell's name.
	SpellName string
	// Outcome is how the cast ended.
	Outcome OutcomeKind
	// Exited says the guest exited, with ExitCode.
	Exited   bool
	ExitCode int32
	// FuelMetered says Fuel was measured (MeteringFuel).
	FuelMetered bool
	Fuel        uint64
	// Wall is the cast's wall-clock time; CPU the CPU time of the thread running the guest.
	Wall, CPU time.Duration
	// MemoryPeakBytes is the peak of linear memories plus tables.
	MemoryPeakBytes uint64
	// StdoutBytes and StderrBytes were captured.
	StdoutBytes, StderrBytes uint64
	// NetRequests, NetBytesIn and NetBytesOut count network use.
	NetRequests, NetBytesIn, NetBytesOut uint64
	// DiskBytesWritten counts bytes written to files, plus holes and growth by truncation.
	DiskBytesWritten uint64
	// StartedAt is when the cast started (millisecond precision).
	StartedAt time.Time
	// TraceID is the W3C trace the cast joined (32 hex digits), empty without a traceparent.
	TraceID string
}

func usageFrom(u *C.spell_usage_t) Usage {
	return Usage{
		CastID:           goString(u.cast_id),
		SpellDigest:      goString(u.spell_digest),
		SpellName:        goString(u.spell_name),
		Outcome:          OutcomeKind(u.outcome),
		Exited:           bool(u.has_exit_code),
		ExitCode:         int32(u.exit_code),
		FuelMetered:      bool(u.has_fuel),
		Fuel:             uint64(u.fuel),
		Wall:             time.Duration(u.wall_ns),
		CPU:              time.Duration(u.cpu_ns),
		MemoryPeakBytes:  uint64(u.memory_peak_bytes),
		StdoutBytes:      uint64(u.stdout_bytes),
		StderrBytes:      uint64(u.stderr_bytes),
		NetRequests:      uint64(u.net_requests),
		NetBytesIn:       uint64(u.net_bytes_in),
		NetBytesOut:      uint64(u.net_bytes_out),
		DiskBytesWritten: uint64(u.disk_bytes_written),
		StartedAt:        time.UnixMilli(int64(u.started_at_ms)),
		TraceID:          goString(u.trace_id),
	}
}

// newOutcome copies everything out of a C outcome, which the caller then frees.
func newOutcome(o *C.spell_outcome_t) *Outcome {
	out := &Outcome{Kind: OutcomeKind(C.spell_outcome_kind(o)), DenialCode: ErrorCode(C.spell_outcome_denial_code(o))}
	var code C.int32_t
	if C.spell_outcome_exit_code(o, &code) {
		out.Exited, out.ExitCode = true, int32(code)
	}
	var trap C.spell_trap_kind_t
	if C.spell_outcome_trap_kind(o, &trap) {
		out.Trap = TrapKind(trap)
	}
	var s C.spell_str_t
	if C.spell_outcome_detail(o, &s) {
		out.Detail = goString(s)
	}
	if C.spell_outcome_hook_error(o, &s) {
		out.HookError = &Error{code: CodeHookFailed, msg: goString(s)}
		// Only then is the outcome's JSON made (a failing hook is rare): its hook_error names
		// the hook, which the message alone does not.
		var whole struct {
			HookError json.RawMessage `json:"hook_error"`
		}
		if C.spell_outcome_json(o, &s) && json.Unmarshal([]byte(goString(s)), &whole) == nil {
			out.hookErrorJSON = whole.HookError
		}
	}
	var b C.spell_bytes_t
	C.spell_outcome_stdout(o, &b)
	out.Stdout = goBytes(b.data, b.len)
	C.spell_outcome_stderr(o, &b)
	out.Stderr = goBytes(b.data, b.len)
	var vals *C.spell_val_t
	var n C.size_t
	C.spell_outcome_returned(o, &vals, &n)
	for _, v := range unsafe.Slice(vals, n) {
		out.Returned = append(out.Returned, valFrom(v))
	}
	var u C.spell_usage_t
	C.spell_outcome_usage(o, &u)
	out.Usage = usageFrom(&u)
	return out
}
