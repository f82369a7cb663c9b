//! libFuzzer entry for [`spell_fuzz::compile_budget`]; the logic and its oracles live in the library.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spell_fuzz::compile_budget::run(data));
