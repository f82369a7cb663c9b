package spell

import (
	"encoding/json"
	"math"
)

// The JSON shape every binding shares (`spell cast --json`, Python's to_dict, Node's toJSON):
// snake_case names, absent values as null. TestJSONHasEveryField checks these against
// schema/fields.json, which the Rust types generate.

type usageJSON struct {
	CastID           string  `json:"cast_id"`
	SpellDigest      string  `json:"spell_digest"`
	SpellName        string  `json:"spell_name"`
	Outcome          string  `json:"outcome"`
	ExitCode         *int32  `json:"exit_code"`
	Fuel             *uint64 `json:"fuel"`
	WallNs           int64   `json:"wall_ns"`
	CPUNs            int64   `json:"cpu_ns"`
	MemoryPeakBytes  uint64  `json:"memory_peak_bytes"`
	StdoutBytes      uint64  `json:"stdout_bytes"`
	StderrBytes      uint64  `json:"stderr_bytes"`
	NetRequests      uint64  `json:"net_requests"`
	NetBytesIn       uint64  `json:"net_bytes_in"`
	NetBytesOut      uint64  `json:"net_bytes_out"`
	DiskBytesWritten uint64  `json:"disk_bytes_written"`
	StartedAtMs      int64   `json:"started_at_ms"`
	TraceID          *string `json:"trace_id"`
}

// MarshalJSON gives the usage record in the shared JSON shape.
func (u Usage) MarshalJSON() ([]byte, error) {
	j := usageJSON{
		CastID: u.CastID, SpellDigest: u.SpellDigest, SpellName: u.SpellName, Outcome: u.Outcome.String(),
		WallNs: u.Wall.Nanoseconds(), CPUNs: u.CPU.Nanoseconds(), MemoryPeakBytes: u.MemoryPeakBytes,
		StdoutBytes: u.StdoutBytes, StderrBytes: u.StderrBytes, NetRequests: u.NetRequests,
		NetBytesIn: u.NetBytesIn, NetBytesOut: u.NetBytesOut, DiskBytesWritten: u.DiskBytesWritten,
		StartedAtMs: u.StartedAt.UnixMilli(),
	}
	if u.Exited {
		j.ExitCode = &u.ExitCode
	}
	if u.FuelMetered {
		j.Fuel = &u.Fuel
	}
	if u.TraceID != "" {
		j.TraceID = &u.TraceID
	}
	return json.Marshal(j)
}

type outcomeJSON struct {
	Outcome    string          `json:"outcome"`
	ExitCode   *int32          `json:"exit_code"`
	Trap       *string         `json:"trap"`
	Detail     *string         `json:"detail"`
	Returned   []any           `json:"returned"`
	Stdout     string          `json:"stdout"`
	Stderr     string          `json:"stderr"`
	Usage      Usage           `json:"usage"`
	HookError  json.RawMessage `json:"hook_error"`
	DenialCode *string         `json:"denial_code"`
}

// MarshalJSON gives the outcome in the shared JSON shape; stdout and stderr as text (invalid
// UTF-8 replaced by U+FFFD).
func (o *Outcome) MarshalJSON() ([]byte, error) {
	j := outcomeJSON{
		Outcome: o.Kind.String(), Returned: []any{}, Stdout: string(o.Stdout), Stderr: string(o.Stderr),
		Usage: o.Usage, HookError: o.hookErrorJSON,
	}
	if o.Exited {
		j.ExitCode = &o.ExitCode
	}
	if o.Kind == OutcomeTrap {
		trap := o.Trap.String()
		j.Trap = &trap
	}
	if o.Detail != "" {
		j.Detail = &o.Detail
	}
	for _, v := range o.Returned {
		j.Returned = append(j.Returned, v.jsonValue())
	}
	if o.DenialCode != 0 {
		code := o.DenialCode.String()
		j.DenialCode = &code
	}
	return json.Marshal(j)
}

// jsonValue is the value as a JSON number (NaN and infinities, which JSON lacks, as null).
func (v Val) jsonValue() any {
	var f float64
	switch v.kind {
	case I32:
		return v.I32()
	case I64:
		return v.I64()
	case F32:
		f = float64(v.F32())
	default:
		f = v.F64()
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

type limitsJSON struct {
	MemoryBytes    uint64 `json:"memory_bytes"`
	Fuel           uint64 `json:"fuel"`
	WallTimeMs     int64  `json:"wall_time_ms"`
	OutputBytes    uint64 `json:"output_bytes"`
	NetRequests    uint64 `json:"net_requests"`
	NetBytes       uint64 `json:"net_bytes"`
	OpenFiles      uint64 `json:"open_files"`
	DiskWriteBytes uint64 `json:"disk_write_bytes"`
}

// MarshalJSON gives the limits with the names of spell.json.
func (l Limits) MarshalJSON() ([]byte, error) {
	return json.Marshal(limitsJSON{
		MemoryBytes: l.MemoryBytes, Fuel: l.Fuel, WallTimeMs: l.WallTime.Milliseconds(),
		OutputBytes: l.OutputBytes, NetRequests: l.NetRequests, NetBytes: l.NetBytes,
		OpenFiles: l.OpenFiles, DiskWriteBytes: l.DiskWriteBytes,
	})
}
