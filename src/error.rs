//! Every error keygate returns: `ApiError`, its RFC 9457 problem+json body,
//! the conversions from library errors, and the handlers that turn extractor
//! failures (body, path, query) and unknown routes into the same shape.
//!
//! `request_id` and `instance` are filled in by the request-id middleware,
//! which sees the [`ProblemDetails`] this module leaves in the response's
//! extensions.

use std::borrow::Cow;

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `api_policy.allowed_operations.get_thing`.
    #[schema(example = "name")]
    pub field: String,
    /// Stable snake_case reason.
    #[schema(example = "length")]
    pub code: String,
    /// Human-readable explanation.
    #[schema(example = "must be 1 to 255 characters")]
    pub message: String,
}

impl FieldError {
    /// A field error with the given path, code and message.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
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

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: input is invalid; `code` says how, `errors` where.
    #[error("{detail}")]
    BadRequest {
        /// Stable code, e.g. `validation_failed`, `invalid_json`.
        code: &'static str,
        /// Explanation.
        detail: String,
        /// Field details.
        errors: Vec<FieldError>,
    },
    /// 401: no usable credentials.
    #[error("{0}")]
    Unauthorized(Cow<'static, str>),
    /// 403: authenticated, but a role, policy or address rule forbids it.
    #[error("{detail}")]
    Forbidden {
        /// `insufficient_role`, `operation_not_allowed`, `ip_not_allowed`, ...
        code: &'static str,
        /// Explanation.
        detail: String,
        /// The permission (operationId) that was missing.
        missing_permission: Option<String>,
    },
    /// 404: no such resource in the caller's organization, or no such route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// Methods the path supports.
        allow: Vec<Method>,
    },
    /// 409: a duplicate or a still-referenced resource.
    #[error("{detail}")]
    Conflict {
        /// Stable code, e.g. `already_exists`.
        code: &'static str,
        /// Explanation.
        detail: String,
    },
    /// 412: `If-Match` did not match.
    #[error("the resource has changed since the given ETag")]
    PreconditionFailed,
    /// 413: body larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: body is not JSON.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// 503: the database cannot be reached now.
    #[error("the database is unavailable")]
    Unavailable,
    /// 503: no master key is configured, so secrets cannot be stored or read.
    #[error("no master key is configured (KEYGATE_MASTER_KEY); secrets cannot be stored or read")]
    MasterKeyMissing,
    /// 504: the caller's `Request-Timeout` ran out.
    #[error("the request timeout ran out")]
    Timeout,
    /// 500: anything unexpected; the cause goes to the log, never the body.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 `validation_failed` for one field.
    pub fn invalid_field(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::invalid_fields(vec![FieldError::new(field, code, message)])
    }

    /// A 400 `validation_failed` listing fields.
    pub fn invalid_fields(errors: Vec<FieldError>) -> ApiError {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        ApiError::BadRequest {
            code: "validation_failed",
            detail,
            errors,
        }
    }

    /// Ok when no field failed, else a 400 `validation_failed` listing them.
    pub fn check_fields(errors: Vec<FieldError>) -> Result<(), ApiError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }

    /// A 404 naming what was looked for.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::NotFound(format!("{what} {id} was not found"))
    }

    /// A database error, with `detail` for the conflict it may be (the code,
    /// `already_exists` or `still_referenced`, still comes from its kind).
    pub fn from_db_with_conflict(
        err: diesel::result::Error,
        detail: impl FnOnce() -> String,
    ) -> ApiError {
        match ApiError::from(err) {
            ApiError::Conflict { code, .. } => ApiError::Conflict {
                code,
                detail: detail(),
            },
            other => other,
        }
    }

    /// An opaque 500 whose cause is only logged.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable => "service_unavailable",
            ApiError::MasterKeyMissing => "master_key_missing",
            ApiError::Timeout => "request_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The problem body, without `request_id` and `instance`.
    pub fn problem(&self) -> ProblemDetails {
        let status = self.status_code();
        let detail = match self {
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
        let (missing_permission, errors) = match self {
            ApiError::Forbidden {
                missing_permission, ..
            } => (missing_permission.clone(), Vec::new()),
            ApiError::BadRequest { errors, .. } => (None, errors.clone()),
            _ => (None, Vec::new()),
        };
        problem(status, self.code(), detail, missing_permission, errors)
    }
}

/// Builds a problem body for a status and code.
pub fn problem(
    status: StatusCode,
    code: &str,
    detail: String,
    missing_permission: Option<String>,
    errors: Vec<FieldError>,
) -> ProblemDetails {
    ProblemDetails {
        problem_type: format!("urn:keygate:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        instance: None,
        code: code.to_owned(),
        request_id: None,
        missing_permission,
        errors,
    }
}

/// A problem+json response carrying the problem in its extensions, so the
/// request-id middleware can complete it.
pub fn problem_response(status: StatusCode, problem: ProblemDetails) -> HttpResponse {
    let mut res = HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .body(serde_json::to_vec(&problem).unwrap_or_default());
    res.extensions_mut().insert(problem);
    res
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable | ApiError::MasterKeyMissing => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut res = problem_response(self.status_code(), self.problem());
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
            _ => {}
        }
        res
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => ApiError::NotFound("the resource was not found".to_owned()),
            // SQLite names no constraints, so conflicts are told apart by kind.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ApiError::Conflict {
                code: "already_exists",
                detail: "a resource with the same unique value already exists".to_owned(),
            },
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => ApiError::Conflict {
                code: "still_referenced",
                detail: "the resource is referenced by another resource".to_owned(),
            },
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => ApiError::Unavailable,
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                ApiError::Unavailable
            }
            other => ApiError::internal(format!("database: {other}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        log::warn!("database pool: {err}");
        ApiError::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        ApiError::internal(format!("blocking task: {err}"))
    }
}

/// The field errors of a `validator` check (none when it passes), for a
/// body that adds checks of its own before answering.
pub fn field_errors(value: &impl validator::Validate) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Err(errors) = value.validate() {
        flatten_validation("", &errors, &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
    }
    out
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut out = Vec::new();
        flatten_validation("", &errors, &mut out);
        out.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::invalid_fields(out)
    }
}

fn flatten_validation(
    prefix: &str,
    errors: &validator::ValidationErrors,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("is invalid ({})", e.code));
                    out.push(FieldError::new(path.clone(), e.code.to_string(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_validation(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

/// A 400 for a JSON body that does not parse into the expected type.
pub fn body_error(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        code: if e.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        },
        detail: format!("request body: {}", redact_serde(e)),
        errors: Vec::new(),
    }
}

// serde repeats offending values in its messages (`string "..."`,
// `unknown variant `...``); a mistyped field could carry a secret, so the
// quoted values are dropped and only the shape of the mistake is kept.
fn redact_serde(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    loop {
        let string = rest.find("string \"").map(|i| (i, "string \"", '"'));
        let variant = rest.find("variant `").map(|i| (i, "variant `", '`'));
        let next = [string, variant]
            .into_iter()
            .flatten()
            .min_by_key(|(i, _, _)| *i);
        let Some((at, opener, close)) = next else {
            out.push_str(rest);
            return out;
        };
        let value_start = at + opener.len();
        let Some(len) = rest[value_start..].find(close) else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(opener.trim_end_matches(['"', '`']).trim_end());
        rest = &rest[value_start + len + 1..];
    }
}

/// `PathConfig` error handler: 400 `invalid_path_parameter`.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest {
        code: "invalid_path_parameter",
        detail,
        errors: Vec::new(),
    }
    .into()
}

/// `QueryConfig` error handler: 400 `invalid_query_parameter`.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::BadRequest {
        code: "invalid_query_parameter",
        detail,
        errors: Vec::new(),
    }
    .into()
}

/// The default service: 405 with `Allow` when the path exists with other
/// methods (as the OpenAPI document says), otherwise 404.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = crate::openapi::routes().methods_for(req.path());
    if allow.is_empty() {
        Err(ApiError::NotFound(format!("no route for {}", req.path())))
    } else {
        Err(ApiError::MethodNotAllowed { allow })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serde_messages_lose_the_values_they_quote() {
        let cases = [r#"{"a": "kg_ak_secret"}"#];
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only deserialized")]
        struct Numeric {
            a: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            One,
        }
        #[derive(Debug, serde::Deserialize)]
        #[expect(dead_code, reason = "only deserialized")]
        struct Variant {
            a: Kind,
        }
        for case in cases {
            let e1 = serde_json::from_str::<Numeric>(case).unwrap_err();
            let e2 = serde_json::from_str::<Variant>(case).unwrap_err();
            for e in [e1, e2] {
                let text = super::redact_serde(&e);
                assert!(!text.contains("kg_ak_secret"), "{text}");
                assert!(text.contains("line 1"), "{text}");
            }
        }
    }
}
