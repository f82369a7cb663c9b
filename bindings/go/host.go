package spell

// #include "spell_go.h"
import "C"

import (
	"math"
	"unsafe"
)

// HostFunction is a Go function offered to spells as module::name; a policy grants it in
// [capabilities] host_functions. Register it with Options.HostFunctions.
type HostFunction struct {
	// Module and Name make the import name, module::name.
	Module, Name string
	// Params and Results are the WebAssembly signature.
	Params, Results []ValType
	// Func runs on the casting goroutine, from many at once. args match Params; it must
	// return values matching Results. An error (or a panic) traps the guest: the outcome is
	// OutcomeTrap of kind "host_error" with the error's text.
	Func func(call *HostCall, args []Val) ([]Val, error)
}

// register offers a copy of f, so later changes to the caller's value do not reach casts.
func (f HostFunction) register(c *C.spell_config_t) error {
	if f.Func == nil {
		return &Error{code: CodeInvalidArgument, msg: "host function " + f.Module + "::" + f.Name + " has no Func"}
	}
	mp, mn := cStr(f.Module)
	np, nn := cStr(f.Name)
	pp, pn := valTypes(f.Params)
	rp, rn := valTypes(f.Results)
	return takeError(C.spell_go_config_host_function(c, mp, mn, np, nn, pp, pn, rp, rn, newHandle(&f)))
}

func valTypes(ts []ValType) (*C.spell_valkind_t, C.size_t) {
	return (*C.spell_valkind_t)(unsafe.SliceData(ts)), C.size_t(len(ts))
}

// HostCall is the calling guest during a host function call: its memory (the export named
// "memory"), bounds-checked. It is only valid until the function returns.
type HostCall struct {
	ptr *C.spell_host_call_t
}

func (c *HostCall) live() error {
	if c.ptr == nil {
		return &Error{code: CodeInvalidArgument, msg: "the host call has returned"}
	}
	return nil
}

// Read copies n bytes of guest memory at ptr. Out of bounds is a CodeInvalidArgument error.
func (c *HostCall) Read(ptr, n uint32) ([]byte, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if err := takeError(C.spell_host_call_read(c.ptr, C.uint32_t(ptr), C.uint32_t(n), (*C.uint8_t)(unsafe.SliceData(buf)))); err != nil {
		return nil, err
	}
	return buf, nil
}

// Write copies data into guest memory at ptr. Out of bounds is a CodeInvalidArgument error.
func (c *HostCall) Write(ptr uint32, data []byte) error {
	if err := c.live(); err != nil {
		return err
	}
	p, n := cBytes(data)
	return takeError(C.spell_host_call_write(c.ptr, C.uint32_t(ptr), p, n))
}

// CastID is the id of the cast this call belongs to.
func (c *HostCall) CastID() string {
	var s C.spell_str_t
	if c.live() != nil || takeError(C.spell_host_call_cast_id(c.ptr, &s)) != nil {
		return ""
	}
	return goString(s)
}

// ValType is a WebAssembly value type.
type ValType uint8

const (
	// I32 is a 32-bit integer.
	I32 ValType = C.SPELL_I32
	// I64 is a 64-bit integer.
	I64 ValType = C.SPELL_I64
	// F32 is a 32-bit float.
	F32 ValType = C.SPELL_F32
	// F64 is a 64-bit float.
	F64 ValType = C.SPELL_F64
)

// Val is a WebAssembly value: its type and its bits.
type Val struct {
	kind ValType
	bits uint64
}

// ValI32 is an i32 value.
func ValI32(v int32) Val { return Val{I32, uint64(uint32(v))} }

// ValI64 is an i64 value.
func ValI64(v int64) Val { return Val{I64, uint64(v)} }

// ValF32 is an f32 value.
func ValF32(v float32) Val { return Val{F32, uint64(math.Float32bits(v))} }

// ValF64 is an f64 value.
func ValF64(v float64) Val { return Val{F64, math.Float64bits(v)} }

// Kind is the value's type.
func (v Val) Kind() ValType { return v.kind }

// I32 is the value as an i32 (its low 32 bits for other kinds).
func (v Val) I32() int32 { return int32(uint32(v.bits)) }

// I64 is the value as an i64.
func (v Val) I64() int64 { return int64(v.bits) }

// F32 is the value as an f32.
func (v Val) F32() float32 { return math.Float32frombits(uint32(v.bits)) }

// F64 is the value as an f64.
func (v Val) F64() float64 { return math.Float64frombits(v.bits) }

// The union in spell_val_t is 8 bytes that cgo shows as a byte array: each member starts at
// its first byte, so a value is stored and read through a pointer of its own width.
func valFrom(c C.spell_val_t) Val {
	p := unsafe.Pointer(&c.of)
	switch ValType(c.kind) {
	case I32:
		return ValI32(*(*int32)(p))
	case I64:
		return ValI64(*(*int64)(p))
	case F32:
		return ValF32(*(*float32)(p))
	default:
		return ValF64(*(*float64)(p))
	}
}

func (v Val) store(c *C.spell_val_t) {
	c.kind = C.spell_valkind_t(v.kind)
	p := unsafe.Pointer(&c.of)
	switch v.kind {
	case I32, F32:
		*(*uint32)(p) = uint32(v.bits)
	default:
		*(*uint64)(p) = v.bits
	}
}
