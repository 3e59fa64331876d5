//! The request id: every request gets one (a valid incoming `X-Request-Id`
//! is echoed), kept in the request's extensions and set on every response
//! by the outermost middleware (`surface::respond`). Also the guard that
//! refuses an encoded NUL in a query string.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::error::ApiError;

/// The response and request header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// This request's id, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The incoming id, when it is one keygate echoes: 1 to 128 characters of
/// letters, digits, `-`, `_`, `.` and `:`.
pub fn valid_incoming(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| text.to_owned())
}

/// Refuses a query string holding an encoded NUL (`%00`): no documented
/// query value may contain it, and PostgreSQL text cannot hold it.
pub async fn reject_nul_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.query_string().to_ascii_lowercase().contains("%00") {
        let err = ApiError::BadRequest {
            code: "invalid_query_parameter",
            detail: "query values must not contain the NUL character (%00)".to_owned(),
            errors: Vec::new(),
        };
        return Ok(req.error_response(err));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
