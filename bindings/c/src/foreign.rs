//! A caller's `void *env` with its finalizer, kept while Spell uses the callbacks it belongs to.

#![expect(unsafe_code, reason = "holds and finalizes a foreign pointer")]

use std::ffi::c_void;

/// Called once with a callback's `env` when Spell no longer needs it (may be NULL).
pub type spell_finalize_fn = Option<unsafe extern "C" fn(env: *mut c_void)>;

/// A callback environment; dropping it runs the finalizer exactly once.
pub(crate) struct ForeignEnv {
    env: *mut c_void,
    finalize: spell_finalize_fn,
}

// SAFETY: spell.h requires every callback `env` to be usable from any thread at once (callbacks
// run on every casting thread); Spell itself only passes the pointer back, never dereferences it.
unsafe impl Send for ForeignEnv {}
// SAFETY: as for `Send`.
unsafe impl Sync for ForeignEnv {}

impl ForeignEnv {
    pub(crate) fn new(env: *mut c_void, finalize: spell_finalize_fn) -> ForeignEnv {
        ForeignEnv { env, finalize }
    }

    pub(crate) fn ptr(&self) -> *mut c_void {
        self.env
    }
}

impl Drop for ForeignEnv {
    fn drop(&mut self) {
        if let Some(finalize) = self.finalize {
            // SAFETY: the caller handed us `env` with this finalizer to call once, at the end.
            unsafe { finalize(self.env) }
        }
    }
}
