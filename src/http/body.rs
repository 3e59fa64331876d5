//! JSON request bodies: the extractors every handler reads its body with
//! (`JsonBody`, `OptionalJson`), with one answer for each way a body can be
//! wrong (408, 413, 415, 400), and the server's body limits. Every 400
//! names the field at fault (`allowed_cidrs[0]`) and never repeats a value.

use std::collections::HashSet;
use std::time::Duration;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{body_error, field_path, ApiError, DUPLICATE_MEMBER, WHOLE_BODY};

/// `KEYGATE_MAX_BODY_BYTES`: the largest body an operation accepts unless
/// it raises its own limit; app data of the server.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// `KEYGATE_BODY_TIMEOUT_MS`: how long a body may take to arrive once the
/// request's headers did (408 after, and the connection is closed); app
/// data of the server.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

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

/// What every body must be before its type is asked: JSON, an object at
/// the top, no member twice in one object (a proxy in front and keygate
/// must not read one body two ways), no string or member name holding
/// U+0000 (PostgreSQL text cannot store it; the document forbids it by
/// pattern). A pass over the text, so that each fault has its path.
struct Shape;

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

const NUL: &str = "must not contain the NUL character (U+0000)";

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Shape, E> {
        if v.contains('\0') {
            return Err(E::custom(NUL));
        }
        Ok(Shape)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Shape>()?.is_some() {}
        Ok(Shape)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('\0') {
                return Err(serde::de::Error::custom(NUL));
            }
            if !seen.insert(key) {
                // Raised from inside the value, so the path names the member.
                return map.next_value_seed(Duplicate);
            }
            map.next_value::<Shape>()?;
        }
        Ok(Shape)
    }
}

/// The value of a member seen before: refused where it stands.
struct Duplicate;

impl<'de> DeserializeSeed<'de> for Duplicate {
    type Value = Shape;
    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Shape, D::Error> {
        Err(serde::de::Error::custom(DUPLICATE_MEMBER))
    }
}

fn not_an_object() -> actix_web::Error {
    ApiError::invalid_input(
        "invalid_body",
        WHOLE_BODY,
        "invalid_type",
        "must be a JSON object",
    )
    .into()
}

/// Parses a body as `T`: its [`Shape`] first, then the type, each fault a
/// 400 naming its field.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, actix_web::Error> {
    let shape = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, Shape>(&mut *shape)
        .map_err(|e| body_error(field_path(e.path()), e.inner()))?;
    shape.end().map_err(|e| body_error(String::new(), &e))?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_an_object());
    }
    let typed = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(typed)
        .map_err(|e| body_error(field_path(e.path()), e.inner()).into())
}

/// Reads the body within the operation's size limit and time: `Ok(None)`
/// for an empty optional body; otherwise JSON only (415).
fn read_bytes(
    req: &actix_web::HttpRequest,
    payload: &mut actix_web::dev::Payload,
    optional: bool,
    min_limit: usize,
) -> BodyFuture<Option<actix_web::web::Bytes>> {
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
    let timeout = req
        .app_data::<BodyTimeout>()
        .map_or(Duration::from_secs(10), |t| t.0);
    Box::pin(async move {
        let bytes = actix_web::rt::time::timeout(timeout, bytes)
            .await
            .map_err(|_| ApiError::BodyTimeout {
                seconds: timeout.as_millis().div_ceil(1000) as u64,
            })?
            .map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
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
        Ok(Some(bytes))
    })
}

/// Reads the body and parses it as `T` when present: `Ok(None)` for no body.
fn read_body<T: serde::de::DeserializeOwned + 'static>(
    req: &actix_web::HttpRequest,
    payload: &mut actix_web::dev::Payload,
    optional: bool,
    min_limit: usize,
) -> BodyFuture<Option<T>> {
    let bytes = read_bytes(req, payload, optional, min_limit);
    Box::pin(async move {
        match bytes.await? {
            Some(bytes) => parse_body(&bytes).map(Some),
            None => Ok(None),
        }
    })
}

/// A required JSON body kept as its bytes, for an operation that checks a
/// signature over them before it parses them ([`parse_array_body`]); the
/// size, time and media type rules of [`JsonBody`].
#[derive(Debug)]
pub struct RawJsonBody<const LIMIT: usize = 0>(pub actix_web::web::Bytes);

impl<const LIMIT: usize> actix_web::FromRequest for RawJsonBody<LIMIT> {
    type Error = actix_web::Error;
    type Future = BodyFuture<Self>;

    fn from_request(
        req: &actix_web::HttpRequest,
        payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let bytes = read_bytes(req, payload, false, LIMIT);
        Box::pin(async move {
            let bytes = bytes
                .await?
                .ok_or_else(|| ApiError::internal("a required body was None"))?;
            Ok(RawJsonBody(bytes))
        })
    }
}

/// Parses a body whose top level is a JSON array of `T` (a webhook's
/// batch): its [`Shape`] first, then the type, each fault a 400 naming its
/// field (`[3].token`).
pub fn parse_array_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, ApiError> {
    let shape = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize::<_, Shape>(&mut *shape)
        .map_err(|e| body_error(field_path(e.path()), e.inner()))?;
    shape.end().map_err(|e| body_error(String::new(), &e))?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return Err(ApiError::invalid_input(
            "invalid_body",
            WHOLE_BODY,
            "invalid_type",
            "must be a JSON array",
        ));
    }
    let typed = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(typed).map_err(|e| body_error(field_path(e.path()), e.inner()))
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
