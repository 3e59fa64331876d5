//! JSON request bodies: the extractors every handler reads its body with
//! (`JsonBody`, `OptionalJson`), with one answer for each way a body can be
//! wrong (413, 415, 400), and the server's body limit.

use crate::error::{body_error, ApiError};

/// `KEYGATE_MAX_BODY_BYTES`: the largest body an operation accepts unless
/// it raises its own limit; app data of the server.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A required JSON request body: `application/json` (415 otherwise), within
/// the size limit (413), a JSON object (an array is not, though serde would
/// take one for a struct), and of the expected shape (400).
///
/// `LIMIT`, when above `KEYGATE_MAX_BODY_BYTES`, raises the size limit for
/// one operation (secrets, whose values may be 65,536 bytes before JSON
/// escaping); it may not exceed [`LARGEST_BODY`].
#[derive(Debug)]
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
        .app_data::<BodyLimit>()
        .map_or(65_536, |l| l.0)
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
            serde_json::from_slice(&bytes).map_err(|e| body_error(&e))?;
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
            .map_err(|e| body_error(&e).into())
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
