//! Strings and bytes across the boundary: borrowed views out (`spell_str_t`, `spell_bytes_t`),
//! owned buffers out (`spell_buf_t`), and `(pointer, length)` pairs in.

#![expect(unsafe_code, reason = "C ABI functions dereference caller pointers")]

use crate::error::{shield, spell_error_t};
use std::ffi::c_char;

/// A borrowed UTF-8 string: `len` bytes at `data`, not NUL-terminated. Valid as long as the
/// object it was read from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spell_str_t {
    /// The first byte.
    pub data: *const c_char,
    /// The length in bytes.
    pub len: usize,
}

/// Borrowed bytes: `len` bytes at `data`. Valid as long as the object they were read from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spell_bytes_t {
    /// The first byte.
    pub data: *const u8,
    /// The length in bytes.
    pub len: usize,
}

/// Bytes the caller owns; free them with `spell_buf_delete`.
#[repr(C)]
#[derive(Debug)]
pub struct spell_buf_t {
    /// The first byte (NULL when empty).
    pub data: *mut u8,
    /// The length in bytes.
    pub len: usize,
}

impl spell_str_t {
    /// The empty string.
    pub const EMPTY: spell_str_t = spell_str_t {
        data: std::ptr::null(),
        len: 0,
    };

    pub(crate) fn of(s: &str) -> spell_str_t {
        spell_str_t {
            data: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    /// The string the view points to.
    ///
    /// # Safety
    /// The view is valid and its bytes are UTF-8 (true of every view Spell writes).
    #[cfg(test)]
    pub(crate) unsafe fn as_str(&self) -> &str {
        // SAFETY: the caller's contract above.
        std::str::from_utf8(unsafe { bytes_in(self.data.cast(), self.len) }.expect("a valid view"))
            .expect("UTF-8")
    }
}

impl spell_bytes_t {
    pub(crate) fn of(b: &[u8]) -> spell_bytes_t {
        spell_bytes_t {
            data: b.as_ptr(),
            len: b.len(),
        }
    }
}

impl From<Vec<u8>> for spell_buf_t {
    fn from(v: Vec<u8>) -> spell_buf_t {
        if v.is_empty() {
            return spell_buf_t {
                data: std::ptr::null_mut(),
                len: 0,
            };
        }
        let len = v.len();
        spell_buf_t {
            data: Box::into_raw(v.into_boxed_slice()).cast(),
            len,
        }
    }
}

/// Writes a view of `s` to `out`; false when `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn write_view(out: *mut spell_str_t, s: &str) -> bool {
    // SAFETY: the caller's contract above.
    unsafe { out.as_mut() }
        .map(|o| *o = spell_str_t::of(s))
        .is_some()
}

/// The bytes of an input `(pointer, length)` pair; NULL with length 0 is empty.
///
/// # Safety
/// `data` points to `len` readable bytes that outlive `'a`, or is NULL.
pub(crate) unsafe fn bytes_in<'a>(data: *const u8, len: usize) -> Result<&'a [u8], spell_error_t> {
    match (data.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(spell_error_t::invalid(format!(
            "NULL pointer with length {len}"
        ))),
        // SAFETY: the caller's contract above.
        (false, _) => Ok(unsafe { std::slice::from_raw_parts(data, len) }),
    }
}

/// The UTF-8 string of an input `(pointer, length)` pair, named `what` in errors.
///
/// # Safety
/// As [`bytes_in`].
pub(crate) unsafe fn str_in<'a>(
    data: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, spell_error_t> {
    // SAFETY: the caller's contract above.
    let bytes = unsafe { bytes_in(data.cast(), len) }?;
    std::str::from_utf8(bytes)
        .map_err(|e| spell_error_t::invalid(format!("{what} is not UTF-8: {e}")))
}

/// Frees the bytes of a buffer Spell filled and empties it. NULL does nothing.
///
/// # Safety
/// `buf` is NULL or a buffer written by this library (or already emptied by this function).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spell_buf_delete(buf: *mut spell_buf_t) {
    shield((), || {
        // SAFETY: the caller's contract above.
        let Some(buf) = (unsafe { buf.as_mut() }) else {
            return;
        };
        if !buf.data.is_null() {
            // SAFETY: `data`/`len` came from a leaked `Box<[u8]>` in `From<Vec<u8>>`.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buf.data, buf.len)) });
        }
        *buf = spell_buf_t {
            data: std::ptr::null_mut(),
            len: 0,
        };
    })
}
