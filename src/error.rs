//! Every failure keygate knows: `ApiError`, each variant with its status
//! and stable `code`, and every conversion from a library error (diesel,
//! r2d2, validator, serde). How an error is written on the wire is the
//! HTTP toolkit's: problem+json on the native surface (`http::problem`),
//! each dialect's own envelope under its prefix (`surface`).

use std::borrow::Cow;

use actix_web::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
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
            // SQLite's SQLITE_BUSY after busy_timeout: diesel has no kind for
            // it, and the message is SQLite's fixed text for that code. The
            // writer is busy, so the answer is "retry", not an opaque 500.
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                ApiError::Unavailable
            }
            // PostgreSQL cancelled a statement at keygate's statement_timeout
            // (a lock held too long, an overloaded server) or ended a session
            // left idle in a transaction: the database did not answer within
            // its bound, so the answer is "retry", not an opaque 500.
            Error::DatabaseError(_, info)
                if info.message().contains("statement timeout")
                    || info.message().contains("idle-in-transaction") =>
            {
                log::warn!("database: {}", info.message());
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
