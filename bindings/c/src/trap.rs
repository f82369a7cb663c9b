//! Trap kinds (`spell_runtime::TrapKind`) as numbers: `spell_outcome_trap_kind` gives one for a
//! `SPELL_OUTCOME_TRAP` outcome, `spell_trap_kind_name` its snake_case name.

#![expect(unsafe_code, reason = "writes to caller out-parameters")]

use crate::view::spell_str_t;
use spell_runtime::TrapKind;

/// Why a guest trapped: one of the `SPELL_TRAP_*` constants. New kinds are only appended.
pub type spell_trap_kind_t = u8;
/// A trap this version of Spell does not name.
pub const SPELL_TRAP_UNKNOWN: spell_trap_kind_t = 0;
/// A host function failed, or the host ended the guest otherwise.
pub const SPELL_TRAP_HOST_ERROR: spell_trap_kind_t = 1;
/// The guest exhausted its call stack.
pub const SPELL_TRAP_STACK_OVERFLOW: spell_trap_kind_t = 2;
/// An out-of-bounds linear memory access.
pub const SPELL_TRAP_MEMORY_OUT_OF_BOUNDS: spell_trap_kind_t = 3;
/// An unaligned atomic access.
pub const SPELL_TRAP_HEAP_MISALIGNED: spell_trap_kind_t = 4;
/// An out-of-bounds table access.
pub const SPELL_TRAP_TABLE_OUT_OF_BOUNDS: spell_trap_kind_t = 5;
/// An indirect call through an uninitialized table element.
pub const SPELL_TRAP_INDIRECT_CALL_TO_NULL: spell_trap_kind_t = 6;
/// An indirect call whose signature does not match.
pub const SPELL_TRAP_BAD_SIGNATURE: spell_trap_kind_t = 7;
/// An integer overflow (`i32.div_s` of `INT_MIN` by -1).
pub const SPELL_TRAP_INTEGER_OVERFLOW: spell_trap_kind_t = 8;
/// An integer division or remainder by zero.
pub const SPELL_TRAP_INTEGER_DIVISION_BY_ZERO: spell_trap_kind_t = 9;
/// A float-to-integer conversion out of range or of NaN.
pub const SPELL_TRAP_BAD_CONVERSION_TO_INTEGER: spell_trap_kind_t = 10;
/// The `unreachable` instruction ran.
pub const SPELL_TRAP_UNREACHABLE_CODE_REACHED: spell_trap_kind_t = 11;
/// An interrupt not caused by Spell's deadline or cancellation.
pub const SPELL_TRAP_INTERRUPT: spell_trap_kind_t = 12;
/// An atomic wait on a non-shared memory.
pub const SPELL_TRAP_ATOMIC_WAIT_NON_SHARED_MEMORY: spell_trap_kind_t = 13;
/// A null reference was used.
pub const SPELL_TRAP_NULL_REFERENCE: spell_trap_kind_t = 14;
/// An out-of-bounds array access.
pub const SPELL_TRAP_ARRAY_OUT_OF_BOUNDS: spell_trap_kind_t = 15;
/// An allocation too large for the GC heap.
pub const SPELL_TRAP_ALLOCATION_TOO_LARGE: spell_trap_kind_t = 16;
/// A failed reference cast.
pub const SPELL_TRAP_CAST_FAILURE: spell_trap_kind_t = 17;
/// An exception no handler caught.
pub const SPELL_TRAP_UNHANDLED_TAG: spell_trap_kind_t = 18;

// The kinds are `TrapKind as u8`: pin every one, so reordering `TrapKind` cannot renumber the ABI.
const _: () = {
    assert!(TrapKind::Unknown as u8 == SPELL_TRAP_UNKNOWN);
    assert!(TrapKind::HostError as u8 == SPELL_TRAP_HOST_ERROR);
    assert!(TrapKind::StackOverflow as u8 == SPELL_TRAP_STACK_OVERFLOW);
    assert!(TrapKind::MemoryOutOfBounds as u8 == SPELL_TRAP_MEMORY_OUT_OF_BOUNDS);
    assert!(TrapKind::HeapMisaligned as u8 == SPELL_TRAP_HEAP_MISALIGNED);
    assert!(TrapKind::TableOutOfBounds as u8 == SPELL_TRAP_TABLE_OUT_OF_BOUNDS);
    assert!(TrapKind::IndirectCallToNull as u8 == SPELL_TRAP_INDIRECT_CALL_TO_NULL);
    assert!(TrapKind::BadSignature as u8 == SPELL_TRAP_BAD_SIGNATURE);
    assert!(TrapKind::IntegerOverflow as u8 == SPELL_TRAP_INTEGER_OVERFLOW);
    assert!(TrapKind::IntegerDivisionByZero as u8 == SPELL_TRAP_INTEGER_DIVISION_BY_ZERO);
    assert!(TrapKind::BadConversionToInteger as u8 == SPELL_TRAP_BAD_CONVERSION_TO_INTEGER);
    assert!(TrapKind::UnreachableCodeReached as u8 == SPELL_TRAP_UNREACHABLE_CODE_REACHED);
    assert!(TrapKind::Interrupt as u8 == SPELL_TRAP_INTERRUPT);
    assert!(TrapKind::AtomicWaitNonSharedMemory as u8 == SPELL_TRAP_ATOMIC_WAIT_NON_SHARED_MEMORY);
    assert!(TrapKind::NullReference as u8 == SPELL_TRAP_NULL_REFERENCE);
    assert!(TrapKind::ArrayOutOfBounds as u8 == SPELL_TRAP_ARRAY_OUT_OF_BOUNDS);
    assert!(TrapKind::AllocationTooLarge as u8 == SPELL_TRAP_ALLOCATION_TOO_LARGE);
    assert!(TrapKind::CastFailure as u8 == SPELL_TRAP_CAST_FAILURE);
    assert!(TrapKind::UnhandledTag as u8 == SPELL_TRAP_UNHANDLED_TAG);
    assert!(TrapKind::ALL.len() == 19);
};

/// Writes the snake_case name of a trap kind (`"integer_division_by_zero"`, static) to `out`.
/// Returns false for an unknown number.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_trap_kind_name(
    kind: spell_trap_kind_t,
    out: *mut spell_str_t,
) -> bool {
    crate::error::shield(false, || {
        let kind = TrapKind::ALL.get(usize::from(kind));
        // SAFETY: the caller's contract above.
        kind.is_some_and(|k| unsafe { crate::view::write_view(out, k.as_str()) })
    })
}
