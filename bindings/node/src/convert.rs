//! Reading arguments from JS: every mismatch is an `invalid_argument` SpellError naming the
//! argument, never napi's own untyped error, and async methods reject rather than throw.

use crate::errors::Failure;
use napi::JsValue;
use napi::bindgen_prelude::{Either, FromNapiValue, Uint8Array, Unknown, ValidateNapiValue};

/// Converts a JS value into `T` (options objects, class instances, strings, buffers).
pub(crate) fn from_js<T: FromNapiValue + ValidateNapiValue>(
    value: Unknown<'_>,
    what: &str,
) -> Result<T, Failure> {
    let (env, raw) = (value.value().env, value.raw());
    // SAFETY: `env` and `raw` come from one live handle of the current call on the JS thread;
    // `validate` checks the JS type before `from_napi_value` reads it, and both check every
    // property they read (this is the path napi's generated code takes for typed arguments).
    #[expect(
        unsafe_code,
        reason = "napi's checked conversions are unsafe fns; see SAFETY"
    )]
    let converted = unsafe { T::validate(env, raw).and_then(|_| T::from_napi_value(env, raw)) };
    converted.map_err(|e| Failure::invalid(format!("{what}: {}", e.reason)))
}

/// Converts an optional JS value (`undefined` and `null` are `None`), as napi's derived
/// conversion of an options object does for each of its properties.
pub(crate) fn optional_from_js<T: FromNapiValue>(
    value: Unknown<'_>,
    what: &str,
) -> Result<Option<T>, Failure> {
    let (env, raw) = (value.value().env, value.raw());
    // SAFETY: as in `from_js`; `Option`'s conversion reads the JS type first, and `T`'s checks
    // every value it reads.
    #[expect(
        unsafe_code,
        reason = "napi's checked conversions are unsafe fns; see SAFETY"
    )]
    let converted = unsafe { Option::<T>::from_napi_value(env, raw) };
    converted.map_err(|e| Failure::invalid(format!("{what}: {}", e.reason)))
}

/// A JS number that must be a whole number of units (bytes, fuel, milliseconds).
pub(crate) fn whole(value: f64, what: &str) -> Result<u64, Failure> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE {
        Ok(value as u64)
    } else {
        Err(Failure::invalid(format!(
            "{what} must be a whole number from 0 to 2^53-1, got {value}"
        )))
    }
}

/// An optional whole number.
pub(crate) fn whole_opt(value: Option<f64>, what: &str) -> Result<Option<u64>, Failure> {
    value.map(|v| whole(v, what)).transpose()
}

/// Text as its UTF-8 bytes, or a copy of a `Uint8Array` (a `Buffer` is one).
pub(crate) fn bytes(value: Either<String, Uint8Array>) -> Vec<u8> {
    match value {
        Either::A(text) => text.into_bytes(),
        Either::B(array) => array.to_vec(),
    }
}
