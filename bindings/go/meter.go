package spell

// #include "spell.h"
import "C"

// MeteringHook sees every cast: Authorize before anything runs, and Record exactly once after
// every cast that started, whatever its outcome (denials, traps, timeouts and cancellations
// included). A hook that also implements Observer sees events as they happen.
//
// Hooks run during Spell.Cast, for many casts at once: make them safe for concurrent use and
// quick (queue to a billing system rather than call it). Embed NoMetering to implement only
// one method. A panic in a hook is recovered and treated as its error.
type MeteringHook interface {
	// Authorize runs before a cast. An error refuses it: nothing runs, the outcome is
	// OutcomeDenied with the error's text as Detail, and Record still runs. A panic denies the
	// cast too, as the hook's failure: it is also the outcome's HookError.
	Authorize(ctx *CastContext) (Allowance, error)
	// Record runs exactly once after each cast. An error does not change the outcome; it is
	// returned as Outcome.HookError (ahead of any earlier failure) so the host can retry
	// storing the usage.
	Record(usage *Usage) error
}

// Observer is implemented by a MeteringHook that also wants to see limits hit and policy
// violations at once, from inside the cast. Such casts run on a thread of the cast pool (see the
// package doc), which costs a few microseconds per cast. A panic in Observe does not stop the
// cast; it is the outcome's HookError unless an earlier failure is.
type Observer interface {
	Observe(event *Event)
}

// observes says whether hook implements Observer.
func observes(hook MeteringHook) bool {
	_, ok := hook.(Observer)
	return ok
}

// NoMetering allows every cast and records nothing; embed it to implement part of
// MeteringHook.
type NoMetering struct{}

// Authorize allows the cast without an allowance.
func (NoMetering) Authorize(*CastContext) (Allowance, error) { return Allowance{}, nil }

// Record ignores the usage.
func (NoMetering) Record(*Usage) error { return nil }

// CastContext is what Authorize sees.
type CastContext struct {
	// CastID is unique per cast (32 hex digits).
	CastID string
	// SpellDigest is the sha256 of the spell's spell.json, hex.
	SpellDigest string
	// SpellName and SpellVersion identify the spell.
	SpellName, SpellVersion string
	// Limits are the limits the cast will run under (all set), before any allowance.
	Limits Limits
}

// Allowance is what Authorize grants a cast.
type Allowance struct {
	// MaxFuel caps this cast's fuel (e.g. the caller's remaining budget); 0 adds no cap.
	// Running out ends the cast as OutcomeOutOfFuel, naming the allowance.
	MaxFuel uint64
}

// EventKind is what an Event reports.
type EventKind uint8

const (
	// EventLimitHit: a limit ended the cast; Event.Outcome says which.
	EventLimitHit EventKind = C.SPELL_EVENT_LIMIT_HIT
	// EventPolicyViolation: the guest tried something its grant does not allow;
	// Event.Capability says what.
	EventPolicyViolation EventKind = C.SPELL_EVENT_POLICY_VIOLATION
	// EventSpellRevoked: a rescan revoked a loaded spell (seen by the runtime's meter, outside
	// any cast); Event.SpellDigest, SpellName and Code say which and why.
	EventSpellRevoked EventKind = C.SPELL_EVENT_SPELL_REVOKED
)

// Event is something that happened during a cast, or to a loaded spell.
type Event struct {
	// CastID is the cast it happened in (empty outside a cast).
	CastID string
	// Kind is what happened.
	Kind EventKind
	// Outcome is the outcome a limit caused (EventLimitHit).
	Outcome OutcomeKind
	// Capability is the capability involved (EventPolicyViolation), e.g. "network".
	Capability string
	// Detail is which limit and its value, what was attempted, or the refusal.
	Detail string
	// SpellDigest is the revoked spell's digest, hex (EventSpellRevoked).
	SpellDigest string
	// SpellName is the revoked spell's name (EventSpellRevoked).
	SpellName string
	// Code is the refusal's code, e.g. "E-SBOM-005" (EventSpellRevoked).
	Code string
}
