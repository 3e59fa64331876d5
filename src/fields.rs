//! Field rules shared by the wire shapes and the domain: the serde helpers
//! for fields that may be absent but never `null`, the not-blank text rule
//! (its pattern for the document and its check for the server, which agree
//! on what whitespace is), and path ids (caller-chosen and prefixed) checked
//! when the path is parsed.

use serde::{Deserialize, Deserializer};

/// Deserializes a field that may be absent but, when present, must not be
/// `null` (use with `#[serde(default)]` and `#[schema(nullable = false)]`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Deserializes a whole number, which JSON Schema also allows to be
/// written with a zero fraction (`86400.0`): for a required `integer`
/// field.
pub fn whole<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    // The number sent is not repeated (error::deserialize_error).
    whole.ok_or_else(|| serde::de::Error::custom("must be a whole number"))
}

/// Like [`present`] for a whole number (see [`whole`]).
pub fn present_whole<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    whole(deserializer).map(Some)
}

/// Like [`present_whole`] for a field whose `null` means "none" (use with
/// `#[serde(default)]`): absent is `None`, `null` is `Some(None)`.
pub fn nullable_whole<'de, D>(deserializer: D) -> Result<Option<Option<i64>>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(Some(None)),
        Some(number) => present_whole(number)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The document's pattern for a text that must not be blank: no NUL, and at
/// least one character that is not whitespace. "Whitespace" is the union of
/// what Rust, ECMAScript and Python call whitespace, spelled out instead of
/// `\s`, so every client's regex engine agrees with the server on what is
/// blank (see [`is_blank`]). Used by proxy keys and credential data values.
pub const NOT_BLANK_PATTERN: &str = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$";

/// Whether a character counts as whitespace for [`NOT_BLANK_PATTERN`].
pub fn is_blank_char(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1C}'..='\u{1F}' | '\u{FEFF}')
}

/// Whether a text is empty or only whitespace (by [`is_blank_char`]).
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_blank_char)
}

/// An id a caller may choose (secrets, connectors): a lowercase letter or
/// digit, then up to 127 lowercase letters, digits, `_` or `-`; checked when
/// the path is parsed. Server-made ids (`sec_…`, `con_…`) follow it too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResourceId(pub String);

impl ResourceId {
    /// The pattern, as in the document.
    pub const PATTERN: &'static str = "^[a-z0-9][a-z0-9_-]{0,127}$";

    /// Whether a text is a well-formed id.
    pub fn is_valid(text: &str) -> bool {
        let bytes = text.as_bytes();
        (1..=128).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes[1..]
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if ResourceId::is_valid(&text) {
            Ok(ResourceId(text))
        } else {
            Err(serde::de::Error::custom(
                "must be a lowercase letter or digit, then up to 127 lowercase letters, digits, '_' or '-'",
            ))
        }
    }
}

/// Declares a path id type: a prefix and 32 lowercase hex digits, checked
/// when the path is parsed (a malformed id is a 400, not a 404).
#[macro_export]
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct $name(pub String);

        impl $name {
            /// The id's prefix.
            pub const PREFIX: &'static str = $prefix;
            /// The pattern, as in the document.
            pub const PATTERN: &'static str = concat!("^", $prefix, "[0-9a-f]{32}$");

            /// Whether a text is a well-formed id of this type.
            pub fn is_valid(text: &str) -> bool {
                text.strip_prefix($prefix).is_some_and(|hex| {
                    hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                if $name::is_valid(&text) {
                    Ok($name(text))
                } else {
                    Err(serde::de::Error::custom(concat!(
                        "must be ", $prefix, " followed by 32 lowercase hex digits"
                    )))
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
