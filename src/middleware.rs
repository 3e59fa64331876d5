//! The outermost middleware: gives every request an id (echoing a valid
//! incoming `X-Request-Id`), sets it on every response, completes problem
//! bodies with `request_id` and `instance`, and turns any other error
//! response (from actix itself or a mounted service) into problem+json.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::error::{problem, ProblemDetails, PROBLEM_JSON};

/// The response and request header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// This request's id, in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn valid_incoming(value: &HeaderValue) -> Option<String> {
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
        let err = crate::error::ApiError::BadRequest {
            code: "invalid_query_parameter",
            detail: "query values must not contain the NUL character (%00)".to_owned(),
            errors: Vec::new(),
        };
        return Ok(req.error_response(err));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The middleware function; wrap the app with `from_fn(request_id)`.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(valid_incoming)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // Handlers' errors arrive here as responses; an `Err` can only come from
    // actix itself and is passed on as it is.
    let res = next.call(req).await?.map_into_boxed_body();
    let mut res = complete_problem(res, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(res)
}

fn complete_problem(res: ServiceResponse<BoxBody>, id: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let existing = res.response().extensions().get::<ProblemDetails>().cloned();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let mut body = match existing {
        Some(body) => body,
        None if (status.is_client_error() || status.is_server_error()) && !is_problem => {
            if let Some(err) = res.response().error() {
                log::error!("unhandled error: {err}");
            }
            let code = status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace(' ', "_");
            problem(
                status,
                &code,
                status.canonical_reason().unwrap_or("error").to_owned(),
                None,
                Vec::new(),
            )
        }
        None => return res,
    };
    body.request_id = Some(id.to_owned());
    body.instance = Some(res.request().path().to_owned());
    let (req, resp) = res.into_parts();
    let mut resp = resp.set_body(BoxBody::new(serde_json::to_vec(&body).unwrap_or_default()));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.extensions_mut().insert(body);
    ServiceResponse::new(req, resp)
}
