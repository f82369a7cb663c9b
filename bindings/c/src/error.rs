//! `spell_error_t`: NULL on success, otherwise an owned error carrying a code from the one catalog
//! (`spell_core::ErrorCode`, numbered by `as_u16()`; `spell.h` lists them as `SPELL_ERROR_*`).
//! Also the `catch_unwind` guards every exported function runs its body under.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::view::{spell_str_t, write_view};
use spell_core::{ErrorCode, HasCode};
use std::any::Any;
use std::ffi::c_char;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A numeric error code: `ErrorCode::as_u16()` of the Spell catalog, one of the `SPELL_ERROR_*`
/// constants.
pub type spell_error_code_t = u16;

/// An error: a catalog code and a message. Free it with `spell_error_delete`.
#[derive(Debug)]
pub struct spell_error_t {
    code: ErrorCode,
    message: String,
}

impl spell_error_t {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> spell_error_t {
        spell_error_t {
            code,
            message: message.into(),
        }
    }

    /// An `invalid_argument` error.
    pub(crate) fn invalid(message: impl Into<String>) -> spell_error_t {
        spell_error_t::new(ErrorCode::InvalidArgument, message)
    }

    fn panicked(payload: &(dyn Any + Send)) -> spell_error_t {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        spell_error_t::new(
            ErrorCode::Internal,
            format!("panic caught at the C boundary: {what}"),
        )
    }

    pub(crate) fn into_raw(self) -> *mut spell_error_t {
        Box::into_raw(Box::new(self))
    }

    /// Takes ownership of an error a callback returned (NULL: none).
    ///
    /// # Safety
    /// `error` is NULL or came from this library and is not used afterwards.
    pub(crate) unsafe fn take(error: *mut spell_error_t) -> Option<spell_error_t> {
        // SAFETY: per the contract, a non-NULL `error` is a box this library leaked.
        (!error.is_null()).then(|| *unsafe { Box::from_raw(error) })
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn code(&self) -> ErrorCode {
        self.code
    }

    /// What a callback's error says, with its code when it is not the usual `hook_failed`.
    pub(crate) fn callback_message(self) -> String {
        match self.code {
            ErrorCode::HookFailed => self.message,
            other => format!("{}: {}", other.code(), self.message),
        }
    }

    /// As the failure of `hook`, for a callback's error.
    pub(crate) fn into_hook_error(self, hook: &str) -> spell_runtime::HookError {
        spell_runtime::HookError::new(hook, self.callback_message())
    }

    /// What a callback of `hook` returned: NULL is success, an error its failure.
    ///
    /// # Safety
    /// As [`spell_error_t::take`].
    pub(crate) unsafe fn hook_result(
        error: *mut spell_error_t,
        hook: &str,
    ) -> Result<(), spell_runtime::HookError> {
        // SAFETY: the caller's contract above.
        match unsafe { spell_error_t::take(error) } {
            Some(e) => Err(e.into_hook_error(hook)),
            None => Ok(()),
        }
    }
}

impl<E: HasCode + Display> From<E> for spell_error_t {
    fn from(e: E) -> spell_error_t {
        spell_error_t::new(e.code(), e.to_string())
    }
}

/// Runs the body of a function that reports through `spell_error_t*`: NULL on success, the
/// error otherwise, and an `internal` error for a panic instead of unwinding into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), spell_error_t>) -> *mut spell_error_t {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(e)) => e.into_raw(),
        Err(payload) => spell_error_t::panicked(&*payload).into_raw(),
    }
}

/// Runs the body of a function without an error channel; a panic returns `fallback`.
pub(crate) fn shield<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A new error with code `SPELL_ERROR_HOOK_FAILED` and this message (invalid UTF-8 is
/// replaced), for a hook or host function callback to return. Never NULL.
///
/// # Safety
/// `message` points to `len` readable bytes, or is NULL with `len` 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_new(message: *const c_char, len: usize) -> *mut spell_error_t {
    shield(std::ptr::null_mut(), || {
        // SAFETY: the caller's contract above.
        let bytes = unsafe { crate::view::bytes_in(message.cast(), len) }.unwrap_or_default();
        spell_error_t::new(ErrorCode::HookFailed, String::from_utf8_lossy(bytes)).into_raw()
    })
}

/// A refusal for an authorize hook to return: the outcome is `SPELL_OUTCOME_DENIED` with this
/// message (invalid UTF-8 is replaced) as its detail. Its code is `SPELL_ERROR_DENIED`; an
/// authorize hook returning any other error failed rather than refused (see `spell_authorize_fn`).
/// Never NULL.
///
/// # Safety
/// `message` points to `len` readable bytes, or is NULL with `len` 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_denied_new(
    message: *const c_char,
    len: usize,
) -> *mut spell_error_t {
    shield(std::ptr::null_mut(), || {
        // SAFETY: the caller's contract above.
        let bytes = unsafe { crate::view::bytes_in(message.cast(), len) }.unwrap_or_default();
        spell_error_t::new(ErrorCode::Denied, String::from_utf8_lossy(bytes)).into_raw()
    })
}

/// The error's catalog code (`SPELL_ERROR_*`); 0 for NULL.
///
/// # Safety
/// `error` is NULL or a live error from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_code(error: *const spell_error_t) -> spell_error_code_t {
    // SAFETY: the caller's contract above.
    shield(0, || {
        unsafe { error.as_ref() }.map_or(0, |e| e.code.as_u16())
    })
}

/// Writes a view of the error's message (valid until the error is deleted) to `out`.
///
/// # Safety
/// `error` is NULL or a live error; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_message(error: *const spell_error_t, out: *mut spell_str_t) {
    shield((), || {
        // SAFETY: the caller's contract above.
        if let Some(e) = unsafe { error.as_ref() } {
            unsafe { write_view(out, &e.message) };
        }
    })
}

/// Frees an error. NULL does nothing.
///
/// # Safety
/// `error` is NULL or a live error, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_delete(error: *mut spell_error_t) {
    // SAFETY: the caller's contract above.
    shield((), || drop(unsafe { spell_error_t::take(error) }))
}

/// Writes the public code of `code` (`"E-PKG-003"`, static) to `out`. Returns false for a
/// number that is not in the catalog.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_code_str(
    code: spell_error_code_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    shield(false, || {
        ErrorCode::from_u16(code).is_some_and(|c| unsafe { write_view(out, c.code()) })
    })
}

/// Writes the snake_case name of `code` (`"package_path_invalid"`, static) to `out`. Returns
/// false for a number that is not in the catalog.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_error_code_name(
    code: spell_error_code_t,
    out: *mut spell_str_t,
) -> bool {
    // SAFETY: the caller's contract above.
    shield(false, || {
        ErrorCode::from_u16(code).is_some_and(|c| unsafe { write_view(out, c.name()) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(e: *mut spell_error_t) -> spell_error_t {
        unsafe { spell_error_t::take(e) }.expect("an error")
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let e = taken(guard(|| panic!("boom")));
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(e.message.contains("boom"), "{}", e.message);
        assert_eq!(shield(7, || panic!("boom")), 7);
    }

    #[test]
    fn success_is_null_and_errors_keep_code_and_message() {
        assert!(guard(|| Ok(())).is_null());
        let e = guard(|| Err(spell_error_t::invalid("bad")));
        assert_eq!(
            unsafe { spell_error_code(e) },
            ErrorCode::InvalidArgument.as_u16()
        );
        let mut msg = spell_str_t::EMPTY;
        unsafe { spell_error_message(e, &mut msg) };
        assert_eq!(unsafe { msg.as_str() }, "bad");
        unsafe { spell_error_delete(e) };
    }

    #[test]
    fn code_strings_cover_the_whole_catalog() {
        for c in ErrorCode::ALL {
            let (mut code, mut name) = (spell_str_t::EMPTY, spell_str_t::EMPTY);
            assert!(unsafe { spell_error_code_str(c.as_u16(), &mut code) });
            assert!(unsafe { spell_error_code_name(c.as_u16(), &mut name) });
            assert_eq!(
                unsafe { (code.as_str(), name.as_str()) },
                (c.code(), c.name())
            );
        }
        assert!(!unsafe { spell_error_code_str(0, std::ptr::null_mut()) });
    }

    #[test]
    fn callback_errors_are_hook_failures_with_lossy_messages() {
        let e = taken(unsafe { spell_error_new(b"bad \xff".as_ptr().cast(), 5) });
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::HookFailed, "bad \u{fffd}")
        );
    }
}
