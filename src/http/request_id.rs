//! The request id: every request gets one (a valid incoming `X-Request-Id`
//! is echoed), kept in the request's extensions and set on every response
//! by the outermost middleware (`surface::respond`). Also the guard on the
//! request target: its length, and no encoded NUL in a query string.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::middleware::Next;

use crate::error::{shown_name, ApiError};

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

/// The longest request target (path and query) keygate reads: longer is
/// 414. (From 65,534 bytes on, the HTTP parser itself refuses the request
/// with a bare 400 before any keygate code runs; see docs/API-DESIGN.md.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The path with percent-encoded unreserved characters (letters, digits,
/// `-`, `.`, `_`, `~`) decoded, as RFC 3986 normalizes it; `None` when
/// there are none.
fn normalized_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        match decoded {
            Some(b) => {
                out.push(b);
                changed = true;
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    changed.then(|| String::from_utf8(out).ok()).flatten()
}

/// The request's URI with its path normalized (see [`normalized_path`]).
fn normalized_uri(req: &ServiceRequest) -> Option<Uri> {
    let path = normalized_path(req.path())?;
    let target = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

/// Refuses a request target longer than [`MAX_URI_BYTES`] (414), and a
/// query string holding an encoded NUL (`%00`; 400 naming the parameter):
/// no documented query value may contain it, and PostgreSQL text cannot
/// hold it.
///
/// It also gives the request one path for everyone: the router matches the
/// path with percent-encoded characters decoded, so `/v1/se%63rets` is
/// `/v1/secrets` to it, while authentication and the route table read the
/// path as sent. Encoded unreserved characters are decoded in the URI
/// itself (RFC 3986 normalization), so that all of them agree; every
/// literal segment of every route is made of unreserved characters.
pub async fn check_request_target(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(uri) = normalized_uri(&req) {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        let err = ApiError::UriTooLong {
            limit: MAX_URI_BYTES,
        };
        return Ok(req.error_response(err));
    }
    let nul = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'));
    if let Some((name, _)) = nul {
        let err = ApiError::invalid_input(
            "invalid_query_parameter",
            shown_name(&name),
            "invalid_value",
            "must not contain the NUL character (%00)",
        );
        return Ok(req.error_response(err));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::normalized_path;

    #[test]
    fn only_unreserved_characters_are_decoded() {
        assert_eq!(
            normalized_path("/v1/se%63rets").as_deref(),
            Some("/v1/secrets")
        );
        assert_eq!(
            normalized_path("/v1/api%5Fkeys/%61b").as_deref(),
            Some("/v1/api_keys/ab")
        );
        assert_eq!(normalized_path("/v1/secrets/a%20b"), None);
        assert_eq!(normalized_path("/v1/a%2Fb%25"), None);
        assert_eq!(normalized_path("/v1/x%6"), None);
        assert_eq!(normalized_path("/v1/x%"), None);
    }
}
