package spell

// #include "spell.h"
import "C"

import "fmt"

// TrapKind is why a guest trapped (Outcome.Trap of an OutcomeTrap outcome). The values are
// spell.h's SPELL_TRAP_* constants; TestTrapKindsMatchHeader checks that every one is here.
type TrapKind uint8

const (
	// TrapUnknown: a trap this version of Spell does not name.
	TrapUnknown TrapKind = C.SPELL_TRAP_UNKNOWN
	// TrapHostError: a host function failed, or the host ended the guest otherwise.
	TrapHostError TrapKind = C.SPELL_TRAP_HOST_ERROR
	// TrapStackOverflow: the guest exhausted its call stack.
	TrapStackOverflow TrapKind = C.SPELL_TRAP_STACK_OVERFLOW
	// TrapMemoryOutOfBounds: an out-of-bounds linear memory access.
	TrapMemoryOutOfBounds TrapKind = C.SPELL_TRAP_MEMORY_OUT_OF_BOUNDS
	// TrapHeapMisaligned: an unaligned atomic access.
	TrapHeapMisaligned TrapKind = C.SPELL_TRAP_HEAP_MISALIGNED
	// TrapTableOutOfBounds: an out-of-bounds table access.
	TrapTableOutOfBounds TrapKind = C.SPELL_TRAP_TABLE_OUT_OF_BOUNDS
	// TrapIndirectCallToNull: an indirect call through an uninitialized table element.
	TrapIndirectCallToNull TrapKind = C.SPELL_TRAP_INDIRECT_CALL_TO_NULL
	// TrapBadSignature: an indirect call whose signature does not match.
	TrapBadSignature TrapKind = C.SPELL_TRAP_BAD_SIGNATURE
	// TrapIntegerOverflow: an integer overflow (i32.div_s of INT_MIN by -1).
	TrapIntegerOverflow TrapKind = C.SPELL_TRAP_INTEGER_OVERFLOW
	// TrapIntegerDivisionByZero: an integer division or remainder by zero.
	TrapIntegerDivisionByZero TrapKind = C.SPELL_TRAP_INTEGER_DIVISION_BY_ZERO
	// TrapBadConversionToInteger: a float-to-integer conversion out of range or of NaN.
	TrapBadConversionToInteger TrapKind = C.SPELL_TRAP_BAD_CONVERSION_TO_INTEGER
	// TrapUnreachableCodeReached: the unreachable instruction ran.
	TrapUnreachableCodeReached TrapKind = C.SPELL_TRAP_UNREACHABLE_CODE_REACHED
	// TrapInterrupt: an interrupt not caused by Spell's deadline or cancellation.
	TrapInterrupt TrapKind = C.SPELL_TRAP_INTERRUPT
	// TrapAtomicWaitNonSharedMemory: an atomic wait on a non-shared memory.
	TrapAtomicWaitNonSharedMemory TrapKind = C.SPELL_TRAP_ATOMIC_WAIT_NON_SHARED_MEMORY
	// TrapNullReference: a null reference was used.
	TrapNullReference TrapKind = C.SPELL_TRAP_NULL_REFERENCE
	// TrapArrayOutOfBounds: an out-of-bounds array access.
	TrapArrayOutOfBounds TrapKind = C.SPELL_TRAP_ARRAY_OUT_OF_BOUNDS
	// TrapAllocationTooLarge: an allocation too large for the GC heap.
	TrapAllocationTooLarge TrapKind = C.SPELL_TRAP_ALLOCATION_TOO_LARGE
	// TrapCastFailure: a failed reference cast.
	TrapCastFailure TrapKind = C.SPELL_TRAP_CAST_FAILURE
	// TrapUnhandledTag: an exception no handler caught.
	TrapUnhandledTag TrapKind = C.SPELL_TRAP_UNHANDLED_TAG
)

// String is the snake_case name, e.g. "integer_division_by_zero".
func (k TrapKind) String() string {
	var s C.spell_str_t
	if !C.spell_trap_kind_name(C.spell_trap_kind_t(k), &s) {
		return fmt.Sprintf("trap(%d)", uint8(k))
	}
	return goString(s)
}
