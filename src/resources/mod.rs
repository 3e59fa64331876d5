//! One folder a resource (`mod.rs`, `handlers.rs`, `dto.rs`, `model.rs`,
//! `repo.rs`), and what they share: list pagination, path ids, and the serde
//! helpers for PATCH bodies.

pub mod api_keys;
pub mod organizations;
pub mod system;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer};
use utoipa::IntoParams;
use validator::Validate;

use crate::error::ApiError;

/// Deserializes a field that may be absent but, when present, must not be
/// `null` (use with `#[serde(default)]` and `#[schema(nullable = false)]`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `limit` and `cursor` of every list operation.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    #[validate(range(min = 1, max = 100, message = "must be between 1 and 100"))]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// A validated page request: how many, and after which id.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items to return.
    pub limit: i64,
    /// Return ids strictly after this one.
    pub after: Option<String>,
}

impl PageQuery {
    /// Checks the limit and decodes the cursor.
    pub fn page(&self) -> Result<Page, ApiError> {
        self.validate()?;
        let after = match &self.cursor {
            None => None,
            Some(cursor) => Some(
                URL_SAFE_NO_PAD
                    .decode(cursor)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .filter(|id| id.len() <= 100 && id.is_ascii())
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "cursor",
                            "invalid_cursor",
                            "is not a cursor this API returned",
                        )
                    })?,
            ),
        };
        Ok(Page {
            limit: self.limit.unwrap_or(20),
            after,
        })
    }
}

impl Page {
    /// Splits a fetch of `limit + 1` rows into the page and the next cursor.
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|row| URL_SAFE_NO_PAD.encode(id(row)));
        (rows, next)
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
