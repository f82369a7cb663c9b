//! libFuzzer entry for [`spell_fuzz::components`]; the logic and its oracles live in the library.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spell_fuzz::components::run(data));
