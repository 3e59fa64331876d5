//! Errors on the wire. Every error response is made here, from an
//! [`ApiError`]: its status and headers (`WWW-Authenticate`, `Allow`,
//! `Retry-After`), the surface-neutral [`ErrorReport`] left in the
//! response's extensions, and a native problem+json body. The outermost
//! middleware (`surface::respond`) then writes the body again through the
//! surface that owns the path, with `request_id` and `instance`: RFC 9457
//! problem details on the native surface, each dialect's envelope under its
//! prefix.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};

/// Media type of every native error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error on its way out, before any surface has written it: what every
/// surface's error writer receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorReport {
    /// The status.
    pub status: StatusCode,
    /// keygate's stable snake_case code (`not_found`, `validation_failed`).
    pub code: String,
    /// What went wrong, safe to show (a 500 says nothing of its cause).
    pub detail: String,
    /// The permission (operationId) a 403 was missing.
    pub missing_permission: Option<String>,
    /// Field details of a 400.
    pub errors: Vec<FieldError>,
}

impl ErrorReport {
    /// The report of a documented example: a status, a code and a detail.
    pub fn example(status: u16, code: &str, detail: &str) -> ErrorReport {
        ErrorReport {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_owned(),
            detail: detail.to_owned(),
            missing_permission: None,
            errors: Vec::new(),
        }
    }

    /// The report of an error.
    pub fn of(err: &ApiError) -> ErrorReport {
        let detail = match err {
            ApiError::Internal(_) => {
                "an internal error occurred; the request id identifies it in the server log"
                    .to_owned()
            }
            ApiError::MethodNotAllowed { allow } => format!(
                "this path supports {}",
                allow
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        };
        let (missing_permission, errors) = match err {
            ApiError::Forbidden {
                missing_permission, ..
            } => (missing_permission.clone(), Vec::new()),
            ApiError::BadRequest { errors, .. } => (None, errors.clone()),
            _ => (None, Vec::new()),
        };
        ErrorReport {
            status: err.status(),
            code: err.code().to_owned(),
            detail,
            missing_permission,
            errors,
        }
    }

    /// The report of an error response no `ApiError` made (actix itself, a
    /// mounted service): its status, and the status's name as code.
    pub fn of_status(status: StatusCode) -> ErrorReport {
        let reason = status.canonical_reason().unwrap_or("error");
        ErrorReport {
            status,
            code: reason.to_ascii_lowercase().replace(' ', "_"),
            detail: reason.to_owned(),
            missing_permission: None,
            errors: Vec::new(),
        }
    }
}

/// The `request_id` of every example in the documents.
pub const EXAMPLE_REQUEST_ID: &str = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3";

/// An example problem+json body for a document: what the server writes
/// for `status` and `code` at `instance`.
pub fn problem_example(status: u16, code: &str, detail: &str, instance: &str) -> serde_json::Value {
    serde_json::json!({
        "type": format!("urn:keygate:problem:{code}"),
        "title": StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": EXAMPLE_REQUEST_ID,
    })
}

/// RFC 9457 problem details, keygate's only error body.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProblemDetails {
    /// URI reference naming the problem type: `urn:keygate:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:keygate:problem:not_found")]
    pub problem_type: String,
    /// Short summary of the problem type.
    #[schema(example = "Not Found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404, minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request.
    #[schema(example = "api key aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 was not found")]
    pub detail: String,
    /// The request path.
    #[schema(example = "/v1/api_keys/aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub instance: Option<String>,
    /// Stable snake_case error code for programs to match on.
    #[schema(example = "not_found")]
    pub code: String,
    /// The request's `X-Request-Id`.
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: Option<String>,
    /// The permission a 403 was missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "delete_api_key")]
    pub missing_permission: Option<String>,
    /// Field-level details of a validation failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ProblemDetails {
    /// The problem body of a report, for a request (its id and path).
    pub fn of(
        report: &ErrorReport,
        request_id: Option<&str>,
        instance: Option<&str>,
    ) -> ProblemDetails {
        ProblemDetails {
            problem_type: format!("urn:keygate:problem:{}", report.code),
            title: report
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned(),
            status: report.status.as_u16(),
            detail: report.detail.clone(),
            instance: instance.map(str::to_owned),
            code: report.code.clone(),
            request_id: request_id.map(str::to_owned),
            missing_permission: report.missing_permission.clone(),
            errors: report.errors.clone(),
        }
    }
}

/// Writes a report as problem+json: the native surface's error writer.
pub fn write_problem(
    report: &ErrorReport,
    request_id: Option<&str>,
    instance: Option<&str>,
    headers: &mut header::HeaderMap,
) -> Vec<u8> {
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(PROBLEM_JSON),
    );
    serde_json::to_vec(&ProblemDetails::of(report, request_id, instance)).unwrap_or_default()
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let report = ErrorReport::of(self);
        let mut res = HttpResponse::new(report.status);
        let headers = res.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            ApiError::MethodNotAllowed { allow } => {
                let allow = allow
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(value) = header::HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            ApiError::RateLimited {
                name,
                limit,
                window,
                retry_after,
            } => {
                // draft-ietf-httpapi-ratelimit-headers: the policy and the
                // state of the exhausted limit (`name` is 1 to 64 of
                // A-Z a-z 0-9 . _ -, safe in a quoted string).
                let pairs = [
                    (header::RETRY_AFTER.as_str(), retry_after.to_string()),
                    (
                        "ratelimit-policy",
                        format!("\"{name}\";q={limit};w={window}"),
                    ),
                    ("ratelimit", format!("\"{name}\";r=0;t={retry_after}")),
                ];
                for (name, value) in pairs {
                    if let (Ok(name), Ok(value)) = (
                        header::HeaderName::try_from(name),
                        header::HeaderValue::from_str(&value),
                    ) {
                        headers.insert(name, value);
                    }
                }
            }
            // The rest of the body may still come; the connection is not
            // reused for another request.
            ApiError::BodyTimeout { .. } => {
                headers.insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        let body = write_problem(&report, None, None, res.headers_mut());
        res.extensions_mut().insert(report);
        res.set_body(actix_web::body::BoxBody::new(body))
    }
}
