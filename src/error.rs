//! Every failure keygate knows: `ApiError`, each variant with its status
//! and stable `code`, and every conversion from a library error (diesel,
//! r2d2, validator, serde). How an error is written on the wire is the
//! HTTP toolkit's: problem+json on the native surface (`http::problem`),
//! each dialect's own envelope under its prefix (`surface`).

use std::borrow::Cow;

use actix_web::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::metrics;

/// One invalid input field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Where the input is wrong: a body member's dotted path with `[i]` for
    /// array items (`allowed_cidrs[0]`, `api_policy.allowed_operations.get_me`;
    /// a member name that is not a lowercase identifier shows as `*`),
    /// `body` for the body as a whole, or the name of a path or query
    /// parameter or of a header. Never the value sent.
    #[schema(example = "allowed_cidrs[0]")]
    pub field: String,
    /// Stable snake_case reason.
    #[schema(example = "invalid_value")]
    pub code: String,
    /// What the input must be; it never repeats the value sent.
    #[schema(example = "must be an IPv4 or IPv6 CIDR network such as 10.0.0.0/8")]
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
    /// 408: the body did not arrive within the body read timeout.
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout {
        /// The timeout, in whole seconds (rounded up).
        seconds: u64,
    },
    /// 414: the request target is longer than the server reads.
    #[error("the request URL is longer than {limit} bytes")]
    UriTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: body is not JSON.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// 429: a rate limit of the calling key (or its identity) is exhausted.
    #[error("the rate limit {name} of this key allows {limit} requests per {window} s; retry after {retry_after} s")]
    RateLimited {
        /// The exhausted limit's name.
        name: String,
        /// Its limit per window.
        limit: i64,
        /// Its window in whole seconds (rounded up).
        window: i64,
        /// Seconds until its window resets (rounded up).
        retry_after: i64,
    },
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

    /// A 400 with its own `code` (`invalid_header`, `invalid_body`, ...)
    /// about one field, header or parameter.
    pub fn invalid_input(
        code: &'static str,
        field: impl Into<String>,
        field_code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let error = FieldError::new(field, field_code, message);
        ApiError::BadRequest {
            code,
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
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
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "service_unavailable",
            ApiError::MasterKeyMissing => "master_key_missing",
            ApiError::Timeout => "request_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

thread_local! {
    static LOST_RACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes, on this thread, that the database ended a transaction with a
/// serialization failure or a deadlock: `db::retry` runs the write again.
pub fn note_lost_race() {
    LOST_RACE.with(|r| r.set(true));
}

/// Whether [`note_lost_race`] was called on this thread since the last
/// call; clears it.
pub fn take_lost_race() -> bool {
    LOST_RACE.with(|r| r.replace(false))
}

/// Whether a database error is one a new attempt can cure: SQLSTATE 40001
/// (serialization failure) or 40P01 (deadlock).
pub fn is_lost_race(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match err {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        // diesel has no kind for 40P01; the message is PostgreSQL's fixed
        // text for that code.
        Error::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
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
            // The connection was closed or reset under the query (it is
            // then closed, see `db::Lent`): the database is unavailable.
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                metrics().db_error("unavailable");
                ApiError::Unavailable
            }
            // A serialization failure or deadlock: `Db::write` runs the
            // transaction again; when it gives up, "retry" (503).
            ref lost if is_lost_race(lost) => {
                metrics().db_error(match lost {
                    Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                        "serialization"
                    }
                    _ => "deadlock",
                });
                note_lost_race();
                ApiError::Unavailable
            }
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
                metrics().db_error("timeout");
                log::warn!("database: {}", info.message());
                ApiError::Unavailable
            }
            other => {
                metrics().db_error("other");
                ApiError::internal(format!("database: {other}"))
            }
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        metrics().db_error("pool_timeout");
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

/// Where a request input sits, for the 400 of a value that does not
/// deserialize: each place has its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The JSON body (`invalid_body`, or `invalid_json` when it is not JSON).
    Body,
    /// A query parameter (`invalid_query_parameter`).
    Query,
    /// A path parameter (`invalid_path_parameter`).
    Path,
}

/// The error of a member given twice in one JSON object (found before the
/// body's type is asked, so that a proxy in front and keygate cannot read
/// one body two ways).
pub const DUPLICATE_MEMBER: &str = "must appear only once in its object";

/// The `field` of an error about the request body as a whole (it is not
/// JSON, not an object, or an unknown member at its top level).
pub const WHOLE_BODY: &str = "body";

/// A path segment a caller wrote (an object member's name) as it may be
/// shown: a lowercase identifier of up to 64 characters is, anything else is
/// `*`. A member name can itself be a pasted secret, and an error names
/// the place, never what was sent.
pub fn shown_name(name: &str) -> &str {
    let mut chars = name.chars();
    let identifier = name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if identifier {
        name
    } else {
        "*"
    }
}

/// The field path serde reached: `allowed_cidrs[0]`, `api_policy.allowed_operations.*`
/// (member names through [`shown_name`]); empty at the top.
pub fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(shown_name(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The name between the first pair of backticks: serde's way of naming a
/// field of the type (`missing field `name``), never a value.
fn first_quoted(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// What serde says was expected (`a boolean`, `struct ApiPolicy`, `i64`),
/// in the document's words.
fn expected(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("struct ") || text == "a map" {
        return "an object".to_owned();
    }
    match text {
        "a sequence" => "an array".to_owned(),
        "u8" => "an integer from 0 to 255".to_owned(),
        "u16" => "an integer from 0 to 65535".to_owned(),
        "u32" => "an integer from 0 to 4294967295".to_owned(),
        "u64" | "usize" => "an integer of 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        other => other.to_owned(),
    }
}

/// Messages of the parsers behind `Deserialize` impls keygate uses (std's
/// numbers and booleans in query strings, chrono's timestamps), in the
/// document's words.
fn library_message(text: &str) -> Option<(&'static str, &'static str)> {
    const TABLE: &[(&str, &str, &str)] = &[
        (
            "invalid digit found in string",
            "invalid_type",
            "must be an integer",
        ),
        (
            "cannot parse integer from empty string",
            "invalid_type",
            "must be an integer",
        ),
        (
            "number too large to fit in target type",
            "invalid_value",
            "must be a smaller integer",
        ),
        (
            "number too small to fit in target type",
            "invalid_value",
            "must be a larger integer",
        ),
        ("invalid float literal", "invalid_type", "must be a number"),
        (
            "provided string was not `true` or `false`",
            "invalid_type",
            "must be true or false",
        ),
        (
            "input contains invalid characters",
            "invalid_value",
            TIMESTAMP,
        ),
        ("premature end of input", "invalid_value", TIMESTAMP),
        ("trailing input", "invalid_value", TIMESTAMP),
        ("input is out of range", "invalid_value", TIMESTAMP),
        (
            "input is not enough for unique date and time",
            "invalid_value",
            TIMESTAMP,
        ),
        (
            "no possible date and time matching input",
            "invalid_value",
            TIMESTAMP,
        ),
        (
            "invalid IP address syntax",
            "invalid_value",
            "must be an IP address or CIDR network",
        ),
    ];
    TABLE
        .iter()
        .find(|(said, _, _)| text == *said)
        .map(|(_, code, message)| (*code, *message))
}

const TIMESTAMP: &str = "must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z";

/// Turns serde's message into a field error at `at` (the path serde
/// reached, see [`field_path`]) without the value sent: serde quotes the
/// value it got (`invalid type: string "...", expected a boolean`), so only
/// what was expected and names of the type's own fields are kept.
pub fn deserialize_error(at: &str, text: &str) -> FieldError {
    let here = |code: &str, message: String| {
        let field = if at.is_empty() { WHOLE_BODY } else { at };
        FieldError::new(field, code, message)
    };
    if let Some(rest) = text.strip_prefix("missing field ") {
        let name = first_quoted(rest).unwrap_or("?");
        return FieldError::new(join(at, shown_name(name)), "required", "is required");
    }
    if text == DUPLICATE_MEMBER {
        return here("duplicate_member", text.to_owned());
    }
    if let Some(rest) = text.strip_prefix("duplicate field ") {
        let name = first_quoted(rest).unwrap_or("?");
        return FieldError::new(
            join(at, shown_name(name)),
            "duplicate_member",
            "is given more than once",
        );
    }
    if let Some(rest) = text.strip_prefix("unknown field ") {
        // The name sent is not repeated: it may be a secret pasted as a key.
        let known = rest
            .split_once(", expected ")
            .map(|(_, e)| format!("; expected {e}"))
            .unwrap_or_default();
        // serde's path ends at the member itself; `*` stands for it.
        let parent = at.rsplit_once('.').map_or("", |(parent, _)| parent);
        return FieldError::new(
            join(parent, "*"),
            "unknown_field",
            format!("a member of this object is not one of its fields{known}"),
        );
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let choices = rest
            .split_once(", expected ")
            .map_or_else(|| "a known value".to_owned(), |(_, e)| e.to_owned());
        return here("invalid_value", format!("must be {choices}"));
    }
    for (prefix, code) in [
        ("invalid type: ", "invalid_type"),
        ("invalid value: ", "invalid_value"),
        ("invalid length ", "invalid_length"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let want = rest
                .rsplit_once(", expected ")
                .map_or_else(|| "of another kind".to_owned(), |(_, e)| expected(e));
            return here(code, format!("must be {want}"));
        }
    }
    if let Some((code, message)) = library_message(text) {
        return here(code, message.to_owned());
    }
    // keygate's own `Deserialize` impls say what they expect ("must be
    // ..."); anything else is shown without the quoted parts.
    here("invalid_value", redact_quoted(text))
}

/// A 400 for a request input that does not deserialize: the field serde
/// reached, what was expected, never the value.
pub fn input_error(input: Input, at: &str, text: &str) -> ApiError {
    let error = deserialize_error(at, text);
    let code = match input {
        Input::Body => "invalid_body",
        Input::Query => "invalid_query_parameter",
        Input::Path => "invalid_path_parameter",
    };
    ApiError::invalid_input(code, error.field, error.code, error.message)
}

/// A 400 for a body that does not deserialize from JSON: `invalid_json`
/// (with the line and column) when it is not JSON at all, else as
/// [`input_error`].
pub fn body_error(at: String, inner: &serde_json::Error) -> ApiError {
    if inner.is_data() {
        // serde_json appends the position; the field says where instead.
        let text = inner.to_string();
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(t, _)| t);
        return input_error(Input::Body, &at, text);
    }
    let field = if at.is_empty() {
        WHOLE_BODY.to_owned()
    } else {
        at
    };
    let message = match inner.classify() {
        serde_json::error::Category::Eof => "ends before the JSON is complete".to_owned(),
        _ => {
            // Syntax errors name what the parser wanted, never the input.
            let text = inner.to_string();
            let what = text
                .rsplit_once(" at line ")
                .map_or(text.as_str(), |(t, _)| t);
            format!(
                "is not valid JSON: {} (line {}, column {})",
                redact_quoted(what),
                inner.line(),
                inner.column()
            )
        }
    };
    ApiError::invalid_input("invalid_json", field, "invalid_json", message)
}

// A last guard for messages of `Deserialize` impls keygate does not own:
// whatever they quote (`"..."`, `` `...` ``) is dropped.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Body {
        enabled: Option<bool>,
        count: Option<u32>,
        kind: Option<Kind>,
        cidrs: Option<Vec<crate::net::Cidr>>,
        at: Option<chrono::DateTime<chrono::Utc>>,
        nested: Option<Nested>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Nested {
        name: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        One,
    }

    fn error_of(json: &str) -> FieldError {
        let de = &mut serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Body>(de).unwrap_err();
        match body_error(field_path(err.path()), err.inner()) {
            ApiError::BadRequest { mut errors, .. } => errors.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deserialize_errors_name_the_field_and_never_the_value() {
        let cases = [
            (r#"{"enabled": "x\"SECRET"}"#, "enabled", "invalid_type", "must be a boolean"),
            (r#"{"count": 123456789012}"#, "count", "invalid_value", "must be an integer from 0 to 4294967295"),
            (r#"{"count": -5}"#, "count", "invalid_value", "must be an integer from 0 to 4294967295"),
            (r#"{"kind": "SECRET"}"#, "kind", "invalid_value", "must be `one`"),
            (r#"{"cidrs": ["10.0.0.0/33"]}"#, "cidrs[0]", "invalid_value", "must be an IPv4 or IPv6 CIDR network such as 10.0.0.0/8"),
            (r#"{"at": "SECRET"}"#, "at", "invalid_value", TIMESTAMP),
            (r#"{"SECRET": 1}"#, "*", "unknown_field", "a member of this object is not one of its fields; expected one of `enabled`, `count`, `kind`, `cidrs`, `at`, `nested`"),
            (r#"{"nested": {"SECRET": 1}}"#, "nested.*", "unknown_field", "a member of this object is not one of its fields; expected `name`"),
            (r#"{"nested": {}}"#, "nested.name", "required", "is required"),
            (r#"{"nested": "SECRET"}"#, "nested", "invalid_type", "must be an object"),
            (r#"{"enabled": nul, "count": 1}"#, "enabled", "invalid_json", "is not valid JSON: expected ident (line 1, column 16)"),
            (r#"{"enabled": "#, "enabled", "invalid_json", "ends before the JSON is complete"),
        ];
        let mut wrong = Vec::new();
        for (json, field, code, message) in cases {
            let e = error_of(json);
            assert!(
                !e.message.contains("SECRET") && !e.field.contains("SECRET"),
                "{json}"
            );
            if (e.field.as_str(), e.code.as_str(), e.message.as_str()) != (field, code, message) {
                wrong.push(format!("{json}: {e:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn member_names_are_shown_only_when_they_are_identifiers() {
        assert_eq!(shown_name("allowed_cidrs"), "allowed_cidrs");
        assert_eq!(shown_name("kg_ak_3FQx"), "*");
        assert_eq!(shown_name("1234"), "*");
        assert_eq!(shown_name(""), "*");
        assert_eq!(
            redact_quoted(r#"bad "SECRET" and `x` here"#),
            "bad and here"
        );
    }
}
