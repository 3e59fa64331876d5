//! The error responses every operation shares, as data plus one rule: which
//! of them an operation can answer follows from its shape (its contract,
//! path parameters, body and `If-Match`). A handler's own attribute
//! declares only its success and its particular errors (409, ...). Each
//! surface renders the bodies in its own envelope.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::http::conditional::{IF_MATCH_DESCRIPTION, IF_MATCH_HEADER};
use crate::http::problem::ErrorReport;
use crate::routes::ROLE_EXTENSION;

/// One shared error response: its component name, status, code and the
/// example's texts.
#[derive(Debug, Clone, Copy)]
pub struct SharedResponse {
    /// Name under `components/responses`.
    pub name: &'static str,
    /// The status.
    pub status: u16,
    /// keygate's stable code.
    pub code: &'static str,
    /// The response's description.
    pub description: &'static str,
    /// The description in a dialect's own envelope, where `description`
    /// names fields of problem+json (`errors`, `missing_permission`) that
    /// the dialects' envelopes do not have.
    pub in_envelope: Option<&'static str>,
    /// The example's detail.
    pub detail: &'static str,
}

impl SharedResponse {
    /// The report of this response, as an error writer receives it: for a
    /// surface rendering the example in its own envelope.
    pub fn report(&self) -> ErrorReport {
        ErrorReport::example(self.status, self.code, self.detail)
    }

    /// This response with an `application/json` body of the component
    /// schema `schema` and an example: how a dialect whose errors are plain
    /// JSON renders it.
    pub fn json(&self, schema: &str, example: impl serde::Serialize) -> Value {
        json!({
            "description": self.in_envelope.unwrap_or(self.description),
            "content": {
                "application/json": {
                    "schema": { "$ref": format!("#/components/schemas/{schema}") },
                    "example": example,
                }
            }
        })
    }
}

const fn shared(
    name: &'static str,
    status: u16,
    code: &'static str,
    description: &'static str,
    detail: &'static str,
) -> SharedResponse {
    SharedResponse {
        name,
        status,
        code,
        description,
        in_envelope: None,
        detail,
    }
}

impl SharedResponse {
    /// The same response with its description in a dialect's envelope.
    const fn in_envelope(self, description: &'static str) -> SharedResponse {
        SharedResponse {
            in_envelope: Some(description),
            ..self
        }
    }
}

/// The shared responses, in the document's order.
pub const SHARED: &[SharedResponse] = &[
    shared("BadRequest", 400, "validation_failed", "The input is invalid: a malformed body, path or query value, or a field that breaks a rule. `errors` names each field (`allowed_cidrs[0]`, `api_policy.allowed_operations.get_me`, a parameter or header name, `body` for the body as a whole) with a stable `code` and what was expected; no error repeats the value sent.", "name: must be 1 to 255 characters")
        .in_envelope("The input is invalid: a malformed body, path or query value, or a field that breaks a rule. The error's message names each field (`allowed_cidrs[0]`, a parameter or header name, `body` for the body as a whole) and what was expected; no error repeats the value sent."),
    shared("Unauthorized", 401, "unauthorized", "No usable credentials: the key is missing, malformed, unknown, disabled or expired.", "a valid API key is required"),
    shared("Forbidden", 403, "operation_not_allowed", "The key's role, policy or allowed addresses do not permit this operation; `missing_permission` names it.", "this key's policy does not allow get_api_key")
        .in_envelope("The key's role, policy or allowed addresses do not permit this operation; the error's message names the operation."),
    shared("NotFound", 404, "not_found", "No such resource in the caller's organization.", "api key aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 was not found"),
    shared("RequestTimeout", 408, "body_timeout", "The request body did not arrive within the server's body timeout (`KEYGATE_BODY_TIMEOUT_MS`); the connection is closed.", "the request body did not arrive within 10 s"),
    shared("PayloadTooLarge", 413, "payload_too_large", "The request body is larger than the server's limit.", "request body is larger than 65536 bytes"),
    shared("UriTooLong", 414, "uri_too_long", "The request URL (path and query) is longer than 8192 bytes.", "the request URL is longer than 8192 bytes"),
    shared("UnsupportedMediaType", 415, "unsupported_media_type", "The request body is not `application/json`.", "request body must be application/json"),
    shared("InternalError", 500, "internal_error", "An unexpected error; the body says nothing of the cause, the server log does.", "an internal error occurred; the request id identifies it in the server log"),
    shared("ServiceUnavailable", 503, "service_unavailable", "The database cannot be reached now, or did not answer within the server's request deadline (`service_unavailable`: retry after `Retry-After` seconds; a write answered so was rolled back, unless the database stopped answering during its very commit), or the operation seals or opens a secret value and no master key is configured (`master_key_missing`: an operator must set `KEYGATE_MASTER_KEY`).", "the database is unavailable"),
    shared("PreconditionFailed", 412, "precondition_failed", "`If-Match` names a version that is no longer current; nothing was changed. Read the resource again for its `ETag`.", "the resource has changed since the given ETag"),
    shared("GatewayTimeout", 504, "request_timeout", "The budget of `Request-Timeout` or `Request-Timeout-Millis` ran out before the work was done; nothing was changed (the transaction was rolled back). A write that had begun to commit is answered with its outcome instead.", "the request timeout ran out"),
];

/// The examples of the shared 400, as the server writes them: (name,
/// summary, code, field, field code, message).
pub const BAD_REQUEST_EXAMPLES: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "validation_failed",
        "A field breaks a rule",
        "validation_failed",
        "name",
        "length",
        "must be 1 to 255 characters",
    ),
    (
        "invalid_body",
        "A value of the wrong shape",
        "invalid_body",
        "allowed_cidrs[0]",
        "invalid_value",
        "must be an IPv4 or IPv6 CIDR network such as 10.0.0.0/8",
    ),
    (
        "duplicate_member",
        "A member given twice",
        "invalid_body",
        "api_key_role",
        "duplicate_member",
        "must appear only once in its object",
    ),
    (
        "invalid_json",
        "Not JSON",
        "invalid_json",
        "name",
        "invalid_json",
        "is not valid JSON: expected value (line 1, column 10)",
    ),
    (
        "invalid_query_parameter",
        "A query parameter",
        "invalid_query_parameter",
        "limit",
        "invalid_type",
        "must be an integer",
    ),
    (
        "invalid_header",
        "A header",
        "validation_failed",
        "Request-Timeout",
        "invalid_header",
        "must be a whole number from 1 to 86400",
    ),
];

/// Headers a shared response carries besides its body.
fn headers_of(name: &str) -> Option<Value> {
    match name {
        "Unauthorized" => Some(json!({
            "WWW-Authenticate": {
                "description": "Always `Bearer`.",
                "schema": { "type": "string", "example": "Bearer" }
            }
        })),
        "ServiceUnavailable" => Some(json!({
            "Retry-After": {
                "description": "Seconds to wait before retrying (sent with `service_unavailable`).",
                "schema": { "type": "integer", "example": 1 }
            }
        })),
        _ => None,
    }
}

fn parameters() -> Value {
    json!({
        "RequestTimeout": {
            "name": "Request-Timeout",
            "in": "header",
            "required": false,
            "description": "Budget for this request in whole seconds (1 to 86,400). When it runs out the answer is 504 and nothing is changed. With `Request-Timeout-Millis` too, the smaller budget applies. The server's own request deadline (5 s by default) caps it: when that is the shorter and runs out, the answer is 503.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 86400 }
        },
        "RequestTimeoutMillis": {
            "name": "Request-Timeout-Millis",
            "in": "header",
            "required": false,
            "description": "Budget for this request in milliseconds (1 to 86,400,000). When it runs out the answer is 504 and nothing is changed. The server's own request deadline (5 s by default) caps it: when that is the shorter and runs out, the answer is 503.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 86400000 }
        },
        "IfMatch": {
            "name": IF_MATCH_HEADER,
            "in": "header",
            "required": false,
            "description": IF_MATCH_DESCRIPTION,
            "schema": { "type": "string", "minLength": 1 }
        }
    })
}

/// Adds the shared responses and parameters to the components, with bodies
/// from `render` (the surface's envelope: `{description, content}`), and to
/// each operation the ones its shape calls for. An operation with
/// `x-keygate-role` is authenticated; one whose handler lists
/// `params(IfMatch)` is conditional (its `If-Match` becomes the shared
/// parameter).
pub fn add_shared_responses(doc: &mut Value, render: &dyn Fn(&SharedResponse) -> Value) {
    let mut components = Map::new();
    for response in SHARED {
        let mut body = render(response);
        if let Some(headers) = headers_of(response.name) {
            body["headers"] = headers;
        }
        components.insert(response.name.to_owned(), body);
    }
    doc["components"]["responses"] = Value::Object(components);
    doc["components"]["parameters"] = parameters();

    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let authenticated = op.contains_key(ROLE_EXTENSION);
            let has = |location: &str| {
                op.get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
            };
            let has_path = has("path");
            let has_body = op.contains_key("requestBody");
            let params = op
                .entry("parameters")
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .expect("parameters is an array");
            let mut conditional = false;
            for param in params.iter_mut() {
                if param["in"] == "header" && param["name"] == IF_MATCH_HEADER {
                    *param = json!({ "$ref": "#/components/parameters/IfMatch" });
                    conditional = true;
                }
            }
            params.push(json!({ "$ref": "#/components/parameters/RequestTimeout" }));
            params.push(json!({ "$ref": "#/components/parameters/RequestTimeoutMillis" }));
            // Every operation takes the timeout headers, so every one can
            // answer 400 (a bad header) and 504; any URL can be too long.
            let mut add = vec![
                ("400", "BadRequest"),
                ("414", "UriTooLong"),
                ("504", "GatewayTimeout"),
            ];
            if conditional {
                add.push(("412", "PreconditionFailed"));
            }
            if authenticated {
                add.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
            } else {
                op.insert("security".into(), json!([]));
            }
            if has_path {
                add.push(("404", "NotFound"));
            }
            if has_body {
                add.extend([
                    ("408", "RequestTimeout"),
                    ("413", "PayloadTooLarge"),
                    ("415", "UnsupportedMediaType"),
                ]);
            }
            add.push(("500", "InternalError"));
            if authenticated {
                // Authentication reads the database; public operations that do
                // (readyz) declare 503 themselves.
                add.push(("503", "ServiceUnavailable"));
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("responses is an object");
            for (status, name) in add {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({ "$ref": format!("#/components/responses/{name}") }));
            }
            let sorted: BTreeMap<String, Value> = std::mem::take(responses).into_iter().collect();
            responses.extend(sorted);
        }
    }
}
