//! # spell-capi
//!
//! Spell's C ABI, declared in `bindings/c/include/spell.h` (generated from this crate by
//! cbindgen; the `header_is_current` test fails when it is stale). `bindings/c/artifact` builds
//! it as `libspell.a` and `libspell.so`; the Go binding links it.
//!
//! ```c
//! spell_runtime_t *rt; spell_policy_t *policy; spell_t *spell; spell_outcome_t *outcome;
//! spell_error_t *err = spell_runtime_new(NULL, &rt);
//! if (!err) err = spell_policy_from_toml(toml, strlen(toml), &policy);
//! if (!err) err = spell_load(rt, package, package_len, policy, &spell);
//! spell_request_t *req = spell_request_new();
//! if (!err) err = spell_request_arg(req, "world", 5);
//! if (!err) err = spell_cast(spell, req, &outcome);
//! if (err) {
//!     spell_str_t msg; spell_error_message(err, &msg);
//!     fprintf(stderr, "error %u: %.*s\n", spell_error_code(err), (int)msg.len, msg.data);
//!     spell_error_delete(err);
//! }
//! ```
//!
//! Modules: [`error`] (`spell_error_t` and the catalog codes), [`view`] (strings and bytes),
//! [`config`] and [`runtime`] (runtimes, loading), [`policy`], [`request`] (cast requests and
//! cancellation), [`cast`] (casting, outcomes, usage), [`trap`] (trap kinds), [`meter`] (metering hooks), [`host`]
//! (host functions and values), [`package`] (packing test packages).
//!
//! # Ownership and threads: the rules every function follows
//!
//! - **Handles are opaque boxes.** Every `spell_*_t*` that a `*_new`, `spell_load`,
//!   `spell_cast` or `spell_*_from_*` function writes to an out-parameter is a `Box` turned into a
//!   raw pointer; the caller owns it and frees it with the matching `*_delete`, exactly once.
//!   `*_delete(NULL)` does nothing. Nothing else frees a handle, except `spell_runtime_new`,
//!   which consumes the config it is given.
//! - **Errors**: a function that can fail returns `spell_error_t*`: NULL on success, otherwise
//!   an owned error (free it with `spell_error_delete`) and its out-parameters are untouched.
//!   A NULL handle, a NULL out-parameter, or a string that is not UTF-8 is an
//!   `SPELL_ERROR_INVALID_ARGUMENT` error, never a crash.
//! - **No unwinding into C**: every function body runs under `catch_unwind`; a panic becomes an
//!   `SPELL_ERROR_INTERNAL` error (or the documented fallback value of an accessor).
//! - **Views borrow**: a `spell_str_t` or `spell_bytes_t` a function writes points into the
//!   object it was read from and is valid until that object is deleted (or, inside a callback,
//!   until the callback returns). Views are not NUL-terminated. Input strings and bytes are
//!   `(pointer, length)` pairs that Spell copies before returning, so the caller may free or
//!   reuse them at once; a NULL pointer with length 0 is the empty string.
//! - **Callbacks and their `env`**: a hook or host function is a C function pointer plus an
//!   opaque `void *env` and an optional `finalize(env)`. Spell keeps `env` until the last
//!   object using it is dropped, then calls `finalize` exactly once (also when the registering
//!   call fails). Callbacks may run on any thread that casts, at the same time, so `env` must
//!   be thread-safe. Errors a callback returns are created with `spell_error_new` and owned by
//!   Spell from then on. The Go binding passes a `cgo.Handle` as `env`, never a Go pointer.
//! - **Threads**: runtimes, spells, policies and cancel handles may be used from many threads
//!   at once (`spell_cast` on one spell from many threads is the intended use). Configs,
//!   requests and outcomes belong to one thread at a time. `spell_cast` blocks its thread.

#![deny(missing_docs)]
#![expect(
    non_camel_case_types,
    reason = "C type names follow the `spell_<noun>_t` convention of spell.h"
)]

pub mod cast;
pub mod config;
pub mod error;
mod foreign;
mod handle;
pub mod host;
pub mod ledger;
pub mod meter;
pub mod package;
pub mod policy;
pub mod request;
pub mod runtime;
pub mod trap;
pub mod view;

pub use cast::*;
pub use config::*;
pub use error::*;
pub use foreign::spell_finalize_fn;
pub use host::*;
pub use ledger::*;
pub use meter::*;
pub use package::*;
pub use policy::*;
pub use request::*;
pub use runtime::*;
pub use trap::*;
pub use view::*;
