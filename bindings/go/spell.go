package spell

// #include "spell_go.h"
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
)

// Spell is a loaded spell: verified, granted, compiled and ready to cast. Safe for concurrent
// use: cast it from many goroutines at once. Close it when done (a finalizer closes it
// otherwise).
type Spell struct {
	h                                 cHandle[*C.spell_t]
	name, version, digest, entrypoint string
	// fiberCallbacks: its runtime has Go callbacks that run on wasmtime's fiber stack.
	fiberCallbacks bool
}

func newSpell(ptr *C.spell_t, fiberCallbacks bool) *Spell {
	var name, version, digest, entrypoint C.spell_str_t
	C.spell_name(ptr, &name)
	C.spell_version(ptr, &version)
	C.spell_digest(ptr, &digest)
	C.spell_entrypoint(ptr, &entrypoint)
	s := &Spell{
		h:              cHandle[*C.spell_t]{ptr: ptr, free: func(p *C.spell_t) { C.spell_delete(p) }, what: "spell"},
		name:           goString(name),
		version:        goString(version),
		digest:         goString(digest),
		entrypoint:     goString(entrypoint),
		fiberCallbacks: fiberCallbacks,
	}
	runtime.SetFinalizer(s, (*Spell).Close)
	return s
}

// Name is the spell's name.
func (s *Spell) Name() string { return s.name }

// Version is the spell's version.
func (s *Spell) Version() string { return s.version }

// Digest is the spell's identity: the sha256 of its spell.json, in hex.
func (s *Spell) Digest() string { return s.digest }

// Entrypoint is the export a cast calls unless the request names another.
func (s *Spell) Entrypoint() string { return s.entrypoint }

// Grant is what the spell may use, decoded from its JSON (the keys of Python's Spell.grant:
// "env", "mounts", "network", "host_functions", "limits").
func (s *Spell) Grant() (map[string]any, error) {
	var grant map[string]any
	err := s.h.use(func(p *C.spell_t) error {
		var j C.spell_str_t
		if !C.spell_grant_json(p, &j) {
			return &Error{code: CodeInternal, msg: "no grant"}
		}
		return json.Unmarshal([]byte(goString(j)), &grant)
	})
	return grant, err
}

// Cast casts the spell with req (nil: an empty request) and waits for the outcome, blocking
// the goroutine (and its OS thread) while the guest runs.
//
// The error is non-nil only when the cast could not start (the request exceeds the grant,
// CodeBusy, setup); it is then an *Error. Once started, every end is an Outcome with a nil
// error: traps, limits, a denial by the meter, and cancellation. When ctx is done, the cast
// ends as OutcomeCancelled within about one epoch tick (a context already done cancels the
// cast before the guest runs; the meter still records it).
func (s *Spell) Cast(ctx context.Context, req *Request) (*Outcome, error) {
	if req == nil {
		req = &Request{}
	}
	var outcome *Outcome
	err := s.h.use(func(sp *C.spell_t) error {
		creq := C.spell_request_new()
		defer C.spell_request_delete(creq)
		if err := req.apply(creq); err != nil {
			return err
		}
		if ctx.Done() != nil {
			stop, err := cancelOnDone(ctx, creq)
			if err != nil {
				return err
			}
			defer stop()
		}
		var o *C.spell_outcome_t
		var cerr *C.spell_error_t
		if s.fiberCallbacks || observes(req.Meter) || req.OnOutput != nil {
			cerr = C.spell_cast_on_pool(sp, creq, &o)
		} else {
			cerr = C.spell_cast(sp, creq, &o)
		}
		if err := takeError(cerr); err != nil {
			return err
		}
		defer C.spell_outcome_delete(o)
		outcome = newOutcome(o)
		return nil
	})
	return outcome, err
}

// cancelOnDone attaches a cancel handle to creq that is cancelled when ctx is done. stop
// detaches the watcher and frees the handle once no goroutine can touch it any more.
func cancelOnDone(ctx context.Context, creq *C.spell_request_t) (stop func(), err error) {
	cancel := C.spell_cancel_new()
	if err := takeError(C.spell_request_cancel(creq, cancel)); err != nil {
		C.spell_cancel_delete(cancel)
		return nil, err
	}
	if ctx.Err() != nil {
		C.spell_cancel_cancel(cancel)
	}
	fired := make(chan struct{})
	unwatch := context.AfterFunc(ctx, func() {
		C.spell_cancel_cancel(cancel)
		close(fired)
	})
	return func() {
		if !unwatch() {
			<-fired
		}
		C.spell_cancel_delete(cancel)
	}, nil
}

// Close frees the spell. Safe to call more than once; waits for casts in flight.
func (s *Spell) Close() error {
	s.h.close()
	runtime.SetFinalizer(s, nil)
	return nil
}
