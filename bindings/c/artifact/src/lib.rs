//! The C library: `libspell.a` and `libspell.so`, exporting every function of `spell.h` from
//! [`spell_capi`]. Kept apart so the implementation stays an ordinary rlib that tests and other
//! crates can link.

pub use spell_capi::*;
