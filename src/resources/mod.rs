//! One folder a resource (`mod.rs`, `handlers.rs`, `dto.rs`, `model.rs`,
//! `repo.rs`), and what they share: list pagination, path ids, and the serde
//! helpers for PATCH bodies.

pub mod api_keys;
pub mod api_proxies;
pub mod audit_events;
pub mod clusters;
pub mod connectors;
pub mod organizations;
pub mod projects;
pub mod providers;
pub mod secrets;
pub mod system;
pub mod verify;

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

/// A required JSON request body: `application/json` (415 otherwise), within
/// the size limit (413), a JSON object (an array is not, though serde would
/// take one for a struct), and of the expected shape (400).
#[derive(Debug)]
///
/// `LIMIT`, when above `KEYGATE_MAX_BODY_BYTES`, raises the size limit for
/// one operation (secrets, whose values may be 65,536 bytes before JSON
/// escaping); it may not exceed [`LARGEST_BODY`].
pub struct JsonBody<T, const LIMIT: usize = 0>(pub T);

/// The largest body any operation accepts: a 65,536-byte secret with every
/// character JSON-escaped, plus its description.
pub const LARGEST_BODY: usize = 512 * 1024;

impl<T, const LIMIT: usize> JsonBody<T, LIMIT> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// A JSON body that may be left out entirely (an empty body is `None`); a
/// body that is present follows the rules of [`JsonBody`] (so JSON `null` is
/// refused, as the document's `required: false` object body says).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

type BodyFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, actix_web::Error>>>>;

/// Whether any string (or object key) in a JSON value holds U+0000, which
/// PostgreSQL text cannot store; the document forbids it by pattern.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Reads the body and parses it as `T` when present: `Ok(None)` for no body.
fn read_body<T: serde::de::DeserializeOwned + 'static>(
    req: &actix_web::HttpRequest,
    payload: &mut actix_web::dev::Payload,
    optional: bool,
    min_limit: usize,
) -> BodyFuture<Option<T>> {
    use actix_web::{FromRequest, HttpMessage};
    let bytes = actix_web::web::Bytes::from_request(req, payload);
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    // The payload reader's own ceiling is LARGEST_BODY (startup.rs); the
    // operation's limit is checked here.
    let limit = req
        .app_data::<actix_web::web::Data<crate::startup::AppState>>()
        .map_or(65_536, |s| s.max_body_bytes)
        .max(min_limit.min(LARGEST_BODY));
    Box::pin(async move {
        let bytes = bytes.await.map_err(|e| {
            if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::PayloadTooLarge { limit }.into()
            } else {
                e
            }
        })?;
        if bytes.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit }.into());
        }
        if optional && bytes.is_empty() {
            return Ok(None);
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType.into());
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| crate::error::body_error(&e))?;
        if has_nul(&value) {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                detail: "request body: strings must not contain the NUL character (U+0000)"
                    .to_owned(),
                errors: Vec::new(),
            }
            .into());
        }
        if !value.is_object() {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                detail: "request body: must be a JSON object".to_owned(),
                errors: Vec::new(),
            }
            .into());
        }
        T::deserialize(value)
            .map(Some)
            .map_err(|e| crate::error::body_error(&e).into())
    })
}

impl<T: serde::de::DeserializeOwned + 'static, const LIMIT: usize> actix_web::FromRequest
    for JsonBody<T, LIMIT>
{
    type Error = actix_web::Error;
    type Future = BodyFuture<Self>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let body = read_body::<T>(req, payload, false, LIMIT);
        Box::pin(async move {
            let value = body
                .await?
                .ok_or_else(|| ApiError::internal("a required body was None"))?;
            Ok(JsonBody(value))
        })
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = BodyFuture<Self>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let body = read_body::<T>(req, payload, true, 0);
        Box::pin(async move { Ok(OptionalJson(body.await?)) })
    }
}

/// Like [`present`] for a whole number, which JSON Schema also allows to be
/// written with a zero fraction (`86400.0`).
pub fn present_whole<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
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
    whole
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {number}")))
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
            Some(cursor) => {
                let well_formed = (1..=200).contains(&cursor.len())
                    && cursor
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !well_formed {
                    return Err(ApiError::invalid_field(
                        "cursor",
                        "pattern",
                        "must be 1 to 200 characters of A-Z, a-z, 0-9, '-' and '_'",
                    ));
                }
                // A cursor is the base64url of the last id seen. Any text the
                // document allows is accepted: one this API did not return
                // simply pages from its position in id order (possibly an
                // empty page), so the contract holds for every valid value.
                Some(
                    URL_SAFE_NO_PAD
                        .decode(cursor)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        // Ids are printable ASCII; anything else (a NUL
                        // PostgreSQL cannot compare, say) came from no id.
                        .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
                        .unwrap_or_else(|| cursor.clone()),
                )
            }
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
