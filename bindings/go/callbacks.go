package spell

// The Go side of Spell's callbacks. cgo exports these functions, so this file's preamble may
// only declare (spell_go.c registers them). Each env is a cgo.Handle;
// a panic never crosses into C: it becomes the callback's error.

/*
#include <stdint.h>
#include "spell.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// recovered turns a panic in a callback into the error the callback returns.
func recovered(err **C.spell_error_t, what string) {
	if r := recover(); r != nil {
		*err = cError(fmt.Sprintf("%s panicked: %v", what, r))
	}
}

//export spellGoAuthorize
func spellGoAuthorize(env unsafe.Pointer, ctx *C.spell_cast_context_t, allowance *C.spell_allowance_t) (err *C.spell_error_t) {
	defer recovered(&err, "Authorize")
	a, e := handleValue[MeteringHook](env).Authorize(&CastContext{
		CastID:       goString(ctx.cast_id),
		SpellDigest:  goString(ctx.spell_digest),
		SpellName:    goString(ctx.spell_name),
		SpellVersion: goString(ctx.spell_version),
		Limits:       limitsFrom(&ctx.limits),
	})
	if e != nil {
		return cDenied(e.Error())
	}
	if a.MaxFuel > 0 {
		allowance.has_max_fuel = true
		allowance.max_fuel = C.uint64_t(a.MaxFuel)
	}
	return nil
}

//export spellGoRecord
func spellGoRecord(env unsafe.Pointer, usage *C.spell_usage_t) (err *C.spell_error_t) {
	defer recovered(&err, "Record")
	u := usageFrom(usage)
	if e := handleValue[MeteringHook](env).Record(&u); e != nil {
		return cError(e.Error())
	}
	return nil
}

//export spellGoObserve
func spellGoObserve(env unsafe.Pointer, event *C.spell_event_t) (err *C.spell_error_t) {
	defer recovered(&err, "Observe")
	handleValue[Observer](env).Observe(&Event{
		CastID:      goString(event.cast_id),
		Kind:        EventKind(event.kind),
		Outcome:     OutcomeKind(event.outcome),
		Capability:  goString(event.capability),
		Detail:      goString(event.detail),
		SpellDigest: goString(event.spell_digest),
		SpellName:   goString(event.spell_name),
		Code:        goString(event.code),
	})
	return nil
}

//export spellGoOutput
func spellGoOutput(env unsafe.Pointer, stream C.spell_stream_t, data *C.uint8_t, n C.size_t) (err *C.spell_error_t) {
	defer recovered(&err, "OnOutput")
	handleValue[func(Stream, []byte)](env)(Stream(stream), unsafe.Slice((*byte)(data), n))
	return nil
}

//export spellGoHostCall
func spellGoHostCall(env unsafe.Pointer, call *C.spell_host_call_t, args *C.spell_val_t, nargs C.size_t,
	results *C.spell_val_t, nresults C.size_t) (err *C.spell_error_t) {
	f := handleValue[*HostFunction](env)
	defer recovered(&err, f.Module+"::"+f.Name)
	in := make([]Val, nargs)
	for i, v := range unsafe.Slice(args, nargs) {
		in[i] = valFrom(v)
	}
	hc := &HostCall{ptr: call}
	defer func() { hc.ptr = nil }()
	out, e := f.Func(hc, in)
	if e != nil {
		return cError(e.Error())
	}
	if len(out) != int(nresults) {
		return cError(fmt.Sprintf("returned %d values, the signature has %d results", len(out), nresults))
	}
	slots := unsafe.Slice(results, nresults)
	for i, v := range out {
		v.store(&slots[i])
	}
	return nil
}

//export spellGoFinalize
func spellGoFinalize(env unsafe.Pointer) {
	cgo.Handle(uintptr(env)).Delete()
}
