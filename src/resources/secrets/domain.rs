//! The rule a secret's value follows on every surface.

use crate::error::{ApiError, FieldError};

/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 65_536;

/// What is wrong with a value, if anything: it must be 1 to 65,536 bytes
/// (bytes, not characters: it is what is sealed and stored).
pub fn value_error(value: &str) -> Option<FieldError> {
    (value.is_empty() || value.len() > MAX_VALUE_BYTES)
        .then(|| FieldError::new("value", "length", "must be 1 to 65536 bytes"))
}

/// 400 `validation_failed` on `value` unless the value follows the rule.
pub fn check_value(value: &str) -> Result<(), ApiError> {
    ApiError::check_fields(value_error(value).into_iter().collect())
}
