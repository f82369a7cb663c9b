//! Shared parts of the Spell benchmarks: the guest fixtures, Spell set-ups and the raw-wasmtime
//! baselines every Spell figure is measured against in the same run.

pub mod fixtures;
pub mod measure;
pub mod raw;
pub mod spells;
