//! The kind of a `trap` outcome: one stable vocabulary for every binding (a snake_case name, and
//! in C a number pinned in `spell.h`), mapped from wasmtime's traps one by one rather than from
//! their `Debug` output, so a wasmtime upgrade cannot rename a kind behind the bindings' backs.

use serde::{Deserialize, Deserializer, Serialize};

/// Why a guest trapped (`CastOutcome::trap` of a `trap` outcome). Values are only appended to:
/// the C binding exposes them as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[repr(u8)]
pub enum TrapKind {
    /// A trap this version of Spell does not name (a newer wasmtime trap, a component-model one).
    /// A name this version does not know (from a newer Spell's service worker) reads as this.
    Unknown = 0,
    /// A host function failed, or the host ended the guest for a reason that is not a trap.
    HostError = 1,
    /// The guest exhausted its call stack.
    StackOverflow = 2,
    /// An out-of-bounds linear memory access.
    MemoryOutOfBounds = 3,
    /// An unaligned atomic access.
    HeapMisaligned = 4,
    /// An out-of-bounds table access.
    TableOutOfBounds = 5,
    /// An indirect call through an uninitialized table element.
    IndirectCallToNull = 6,
    /// An indirect call whose signature does not match.
    BadSignature = 7,
    /// An integer overflow (`i32.div_s` of `INT_MIN` by -1).
    IntegerOverflow = 8,
    /// An integer division or remainder by zero.
    IntegerDivisionByZero = 9,
    /// A float-to-integer conversion out of range or of NaN.
    BadConversionToInteger = 10,
    /// The `unreachable` instruction ran.
    UnreachableCodeReached = 11,
    /// An interrupt not caused by Spell's own deadline or cancellation.
    Interrupt = 12,
    /// An atomic wait on a non-shared memory.
    AtomicWaitNonSharedMemory = 13,
    /// A null reference was used (GC proposal).
    NullReference = 14,
    /// An out-of-bounds array access (GC proposal).
    ArrayOutOfBounds = 15,
    /// An allocation too large for the GC heap.
    AllocationTooLarge = 16,
    /// A failed reference cast (GC proposal).
    CastFailure = 17,
    /// An exception no handler caught (exceptions proposal).
    UnhandledTag = 18,
}

impl TrapKind {
    /// Every kind, in the order of their values (`ALL[k as usize] == k`).
    pub const ALL: [TrapKind; 19] = [
        TrapKind::Unknown,
        TrapKind::HostError,
        TrapKind::StackOverflow,
        TrapKind::MemoryOutOfBounds,
        TrapKind::HeapMisaligned,
        TrapKind::TableOutOfBounds,
        TrapKind::IndirectCallToNull,
        TrapKind::BadSignature,
        TrapKind::IntegerOverflow,
        TrapKind::IntegerDivisionByZero,
        TrapKind::BadConversionToInteger,
        TrapKind::UnreachableCodeReached,
        TrapKind::Interrupt,
        TrapKind::AtomicWaitNonSharedMemory,
        TrapKind::NullReference,
        TrapKind::ArrayOutOfBounds,
        TrapKind::AllocationTooLarge,
        TrapKind::CastFailure,
        TrapKind::UnhandledTag,
    ];

    /// The snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrapKind::Unknown => "unknown",
            TrapKind::HostError => "host_error",
            TrapKind::StackOverflow => "stack_overflow",
            TrapKind::MemoryOutOfBounds => "memory_out_of_bounds",
            TrapKind::HeapMisaligned => "heap_misaligned",
            TrapKind::TableOutOfBounds => "table_out_of_bounds",
            TrapKind::IndirectCallToNull => "indirect_call_to_null",
            TrapKind::BadSignature => "bad_signature",
            TrapKind::IntegerOverflow => "integer_overflow",
            TrapKind::IntegerDivisionByZero => "integer_division_by_zero",
            TrapKind::BadConversionToInteger => "bad_conversion_to_integer",
            TrapKind::UnreachableCodeReached => "unreachable_code_reached",
            TrapKind::Interrupt => "interrupt",
            TrapKind::AtomicWaitNonSharedMemory => "atomic_wait_non_shared_memory",
            TrapKind::NullReference => "null_reference",
            TrapKind::ArrayOutOfBounds => "array_out_of_bounds",
            TrapKind::AllocationTooLarge => "allocation_too_large",
            TrapKind::CastFailure => "cast_failure",
            TrapKind::UnhandledTag => "unhandled_tag",
        }
    }

    /// The kind with this name; `Unknown` for names this version does not know.
    pub fn parse(name: &str) -> TrapKind {
        TrapKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(TrapKind::Unknown)
    }

    /// The kind of a wasmtime trap. `OutOfFuel` never gets here (it is an outcome of its own).
    pub(crate) fn of(trap: wasmtime::Trap) -> TrapKind {
        use wasmtime::Trap;
        match trap {
            Trap::StackOverflow => TrapKind::StackOverflow,
            Trap::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
            Trap::HeapMisaligned => TrapKind::HeapMisaligned,
            Trap::TableOutOfBounds => TrapKind::TableOutOfBounds,
            Trap::IndirectCallToNull => TrapKind::IndirectCallToNull,
            Trap::BadSignature => TrapKind::BadSignature,
            Trap::IntegerOverflow => TrapKind::IntegerOverflow,
            Trap::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
            Trap::BadConversionToInteger => TrapKind::BadConversionToInteger,
            Trap::UnreachableCodeReached => TrapKind::UnreachableCodeReached,
            Trap::Interrupt => TrapKind::Interrupt,
            Trap::AtomicWaitNonSharedMemory => TrapKind::AtomicWaitNonSharedMemory,
            Trap::NullReference => TrapKind::NullReference,
            Trap::ArrayOutOfBounds => TrapKind::ArrayOutOfBounds,
            Trap::AllocationTooLarge => TrapKind::AllocationTooLarge,
            Trap::CastFailure => TrapKind::CastFailure,
            Trap::UnhandledTag => TrapKind::UnhandledTag,
            _ => TrapKind::Unknown,
        }
    }
}

/// By name, and never failing on a name: a result stored by a newer Spell reads as `Unknown`.
impl<'de> Deserialize<'de> for TrapKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(TrapKind::parse(&String::deserialize(d)?))
    }
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TrapKind;

    #[test]
    fn values_index_all_and_names_serialize() {
        for (i, k) in TrapKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k}");
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::from(k.as_str()))
            );
            assert_eq!(serde_json::from_value(k.as_str().into()).ok(), Some(*k));
        }
    }

    #[test]
    fn unknown_names_read_as_unknown() {
        let kind: Option<TrapKind> = serde_json::from_str("\"a_future_trap\"").ok();
        assert_eq!(kind, Some(TrapKind::Unknown));
    }

    #[test]
    fn names_are_those_of_wasmtime_traps() {
        // The names were wasmtime's `Debug` names in snake_case before this mapping: a host
        // matching on them sees the same strings.
        for (trap, name) in [
            (
                wasmtime::Trap::UnreachableCodeReached,
                "unreachable_code_reached",
            ),
            (
                wasmtime::Trap::IntegerDivisionByZero,
                "integer_division_by_zero",
            ),
            (wasmtime::Trap::StackOverflow, "stack_overflow"),
            (wasmtime::Trap::MemoryOutOfBounds, "memory_out_of_bounds"),
            (wasmtime::Trap::CannotEnterComponent, "unknown"),
        ] {
            assert_eq!(TrapKind::of(trap).as_str(), name);
        }
    }
}
