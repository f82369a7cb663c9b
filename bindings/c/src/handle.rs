//! Handle and out-parameter arguments: boxes handed to C, borrowed back, and freed once.

#![expect(unsafe_code, reason = "turns caller pointers back into references")]

use crate::error::spell_error_t;

/// Borrows a handle argument; NULL is an `invalid_argument` error naming it.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` from this library, not freed during `'a`.
pub(crate) unsafe fn borrow<'a, T>(p: *const T, what: &str) -> Result<&'a T, spell_error_t> {
    // SAFETY: the caller's contract above.
    unsafe { p.as_ref() }.ok_or_else(|| spell_error_t::invalid(format!("`{what}` is NULL")))
}

/// Borrows a handle argument mutably; NULL is an `invalid_argument` error naming it.
///
/// # Safety
/// As [`borrow`], and no other reference to it exists during `'a`.
pub(crate) unsafe fn borrow_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, spell_error_t> {
    // SAFETY: the caller's contract above.
    unsafe { p.as_mut() }.ok_or_else(|| spell_error_t::invalid(format!("`{what}` is NULL")))
}

/// An out-parameter to write a result to; NULL is an `invalid_argument` error naming it.
/// Checked before any work, so a call with nowhere to put its result does nothing.
///
/// # Safety
/// `p` is NULL or writable for `T` during `'a`.
pub(crate) unsafe fn out_param<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, spell_error_t> {
    // SAFETY: the caller's contract above. Writing through the reference never drops the old
    // value's contents: every out-parameter type is a plain pointer or a `repr(C)` struct.
    unsafe { p.as_mut() }
        .ok_or_else(|| spell_error_t::invalid(format!("out-parameter `{what}` is NULL")))
}

/// Hands a new handle to C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Frees a handle. NULL does nothing.
///
/// # Safety
/// `p` is NULL or a live handle from [`into_handle`], not used afterwards.
pub(crate) unsafe fn delete<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: the caller's contract above.
        drop(unsafe { Box::from_raw(p) });
    }
}
