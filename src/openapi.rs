//! The OpenAPI document: `ApiDoc` pins the parts utoipa cannot see (info,
//! tags, security schemes), `document()` collects the operations from the
//! same `configure` functions that build the server, then adds the error
//! responses every operation shares by the rules the server follows. The
//! route index used for 405 answers and authorization is read from it, so
//! the document, the routes and the permission checks cannot drift apart.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::http::Method;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::ProblemDetails;

/// Prefix of every authenticated operation.
pub const API_PREFIX: &str = "/v1";

/// The parts of the document that are not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate",
        version = "0.1.0",
        description = "keygate issues and verifies API keys for your callers and keeps the secrets your integrations run on.\n\nAuthenticate every `/v1` operation with a keygate API key: `Authorization: Bearer <key>` (also `Authorization: ApiKey <key>` or `x-api-key: <key>`). Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "api_keys", description = "API keys: the credentials callers authenticate with, with roles, policies, address rules and expiry."),
        (name = "api_proxies", description = "API proxies of a project (Apinizer family): a public key that identifies callers, a secret key that authenticates them (stored encrypted, never shown), and a constant-time check of a presented pair."),
        (name = "audit_events", description = "The audit trail: every mutation, and every mutation refused with 401 or 403."),
        (name = "clusters", description = "Connected clusters (Elastic Cloud Connect family): self-managed Elasticsearch clusters linked to the organization, their services, and their rotating cluster and service keys."),
        (name = "connectors", description = "Connectors (Elasticsearch family): a data source (`service_type`) synced into an index, with the API key it writes with and the secret holding that key."),
        (name = "organizations", description = "Organizations: the tenants every resource belongs to."),
        (name = "projects", description = "Projects (Apinizer family): named groups of API proxies, addressed by name."),
        (name = "providers", description = "Providers and provider credentials (Nylas family): the app credentials that let a platform act on a provider (Google service accounts, Microsoft admin consent, connector overrides), stored encrypted and never returned, and each provider's active credential."),
        (name = "secrets", description = "Connector secrets: values stored encrypted with AES-256-GCM and given back only to `personal` keys, every read audited."),
        (name = "system", description = "Liveness and readiness, without authentication."),
        (name = "verify", description = "Verification of keys your callers present, for services holding a `serving` key.")
    ),
    components(schemas(ProblemDetails)),
    modifiers(&SecuritySchemes),
    security(("bearer_auth" = []), ("api_key" = []))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kg_ak_...")
                    .description(Some("A keygate API key: `Authorization: Bearer kg_ak_...`. `Authorization: ApiKey kg_ak_...` is accepted too."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A keygate API key in the `x-api-key` header.",
            ))),
        );
    }
}

/// The complete document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build_document);
    &DOCUMENT
}

/// The document as committed in `openapi/openapi.json`: pretty JSON with a
/// trailing newline.
pub fn document_pretty() -> String {
    let mut text = serde_json::to_string_pretty(document()).expect("document serializes");
    text.push('\n');
    text
}

fn build_document() -> Value {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::startup::configure_api)
        .split_for_parts();
    let mut doc = serde_json::to_value(api).expect("document serializes");
    add_shared_responses(&mut doc);
    add_policy_names(&mut doc);
    add_links(&mut doc);
    tidy_for_generators(&mut doc);
    forbid_nul(&mut doc);
    doc
}

/// The pattern every free-form string carries: no NUL character, which
/// PostgreSQL text cannot hold (the server refuses it in bodies and queries).
pub const NO_NUL_PATTERN: &str = "^[^\\x00]*$";

fn is_free_string(schema: &Map<String, Value>) -> bool {
    let string = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    string
        && !schema.contains_key("pattern")
        && !schema.contains_key("enum")
        && !schema.contains_key("format")
}

fn add_no_nul(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if is_free_string(map) {
                map.insert("pattern".into(), json!(NO_NUL_PATTERN));
            }
            for (key, child) in map.iter_mut() {
                // Examples are data, not schemas.
                if key != "example" && key != "examples" {
                    add_no_nul(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_no_nul),
        _ => {}
    }
}

fn forbid_nul(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        add_no_nul(schemas);
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                    continue;
                };
                for param in params.iter_mut().filter(|p| p["in"] == "query") {
                    if let Some(schema) = param.get_mut("schema") {
                        add_no_nul(schema);
                    }
                }
            }
        }
    }
}

fn is_null_branch(v: &Value) -> bool {
    v["type"] == "null"
}

// Two shapes utoipa emits that client generators read badly:
// - an optional body as `oneOf: [X, null]`: generators then offer a JSON
//   `null` body (openapi-python-client even sends an unset one); an optional
//   body is `required: false` with schema X;
// - a description inside the `$ref` branch of a nullable `oneOf`: some
//   generators drop it; it belongs on the property.
fn tidy_for_generators(doc: &mut Value) {
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let Some(body) = op.get_mut("requestBody") else {
                    continue;
                };
                let Some(schema) = body.pointer_mut("/content/application~1json/schema") else {
                    continue;
                };
                let branches = schema
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let [a, b] = &branches[..] {
                    let single = if is_null_branch(b) {
                        a
                    } else if is_null_branch(a) {
                        b
                    } else {
                        continue;
                    };
                    *schema = single.clone();
                    body["required"] = json!(false);
                }
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            for prop in props.values_mut() {
                let Some(branches) = prop.get_mut("oneOf").and_then(Value::as_array_mut) else {
                    continue;
                };
                let description = branches
                    .iter_mut()
                    .find_map(|b| b.as_object_mut()?.remove("description"));
                if let (Some(description), Some(prop)) = (description, prop.as_object_mut()) {
                    prop.entry("description").or_insert(description);
                }
            }
        }
    }
}

// Where a schema keeps the value of a new resource's path parameter: a
// `*_name` parameter is the resource's `name`, any other its `id`; found at
// the top (`/id`) or in a property holding the resource
// (CreatedOrganization.organization: `/organization/id`).
fn key_pointer(doc: &Value, schema: &Value, param: &str) -> Option<String> {
    let field = if param.ends_with("_name") {
        "name"
    } else {
        "id"
    };
    let resolve = |s: &Value| -> Value {
        match s["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            Some(name) => doc["components"]["schemas"][name].clone(),
            None => s.clone(),
        }
    };
    let schema = resolve(schema);
    let parts: Vec<Value> = match schema["allOf"].as_array() {
        Some(all) => all.iter().map(resolve).collect(),
        None => vec![schema],
    };
    if parts.iter().any(|p| p["properties"][field].is_object()) {
        return Some(format!("/{field}"));
    }
    parts.iter().find_map(|p| {
        p["properties"]
            .as_object()?
            .iter()
            .find_map(|(name, prop)| {
                resolve(prop)["properties"][field]
                    .is_object()
                    .then(|| format!("/{name}/{field}"))
            })
    })
}

// OpenAPI links from each create operation (POST answering 201) to every
// operation under its path that takes the create's own path parameters
// (passed on from the request) and one more, the new resource's (from the
// response body), so stateful tests and readers can follow a resource from
// its creation.
fn add_links(doc: &mut Value) {
    let routes = Routes::from_document(doc);
    let mut plan = Vec::new();
    for create in routes.all().iter().filter(|r| r.method == Method::POST) {
        let created = &doc["paths"][&create.path]["post"]["responses"]["201"];
        if created.is_null() {
            continue;
        }
        let schema = &created["content"]["application/json"]["schema"];
        let prefix = format!("{}/{{", create.path);
        let mut links = Map::new();
        for target in routes.all().iter().filter(|r| r.path.starts_with(&prefix)) {
            let Some((param, inherited)) = target.path_params.split_last() else {
                continue;
            };
            if inherited != create.path_params.as_slice() {
                continue;
            }
            let Some(pointer) = key_pointer(doc, schema, param) else {
                continue;
            };
            let mut parameters = Map::new();
            for name in inherited {
                parameters.insert(name.clone(), json!(format!("$request.path.{name}")));
            }
            parameters.insert(param.clone(), json!(format!("$response.body#{pointer}")));
            links.insert(
                target.operation_id.clone(),
                json!({
                    "operationId": target.operation_id,
                    "parameters": parameters,
                    "description": format!("The `{}` of the created resource, for {}.", param, target.operation_id)
                }),
            );
        }
        if !links.is_empty() {
            plan.push((create.path.clone(), Value::Object(links)));
        }
    }
    for (path, links) in plan {
        doc["paths"][&path]["post"]["responses"]["201"]["links"] = links;
    }
}

// `api_policy` names operations and path parameters: list them in the
// document, from the same route index the server checks them against.
fn add_policy_names(doc: &mut Value) {
    let routes = Routes::from_document(doc);
    let mut ops: Vec<&str> = Vec::new();
    let mut params: Vec<&str> = Vec::new();
    for route in routes.all() {
        if route.path.starts_with(API_PREFIX) {
            ops.push(&route.operation_id);
            params.extend(route.path_params.iter().map(String::as_str));
        }
    }
    ops.sort_unstable();
    ops.dedup();
    params.sort_unstable();
    params.dedup();
    let (ops, params) = (json!(ops), json!(params));
    let schemas = &mut doc["components"]["schemas"];
    schemas["ApiPolicy"]["properties"]["allowed_operations"]["propertyNames"] =
        json!({ "enum": ops });
    schemas["OperationPolicy"]["properties"]["allowed_resources"]["propertyNames"] =
        json!({ "enum": params });
}

fn problem_response(description: &str, code: &str, status: u16, detail: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/ProblemDetails" },
                "example": {
                    "type": format!("urn:keygate:problem:{code}"),
                    "title": actix_web::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error"),
                    "status": status,
                    "detail": detail,
                    "instance": "/v1/api_keys",
                    "code": code,
                    "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3"
                }
            }
        }
    })
}

// The error responses that follow from an operation's shape. A handler's own
// attribute declares only its success and its particular errors (409, ...).
fn add_shared_responses(doc: &mut Value) {
    let mut unauthorized = problem_response(
        "No usable credentials: the key is missing, malformed, unknown, disabled or expired.",
        "unauthorized",
        401,
        "a valid API key is required",
    );
    unauthorized["headers"] = json!({
        "WWW-Authenticate": {
            "description": "Always `Bearer`.",
            "schema": { "type": "string", "example": "Bearer" }
        }
    });
    let mut unavailable = problem_response(
        "The database cannot be reached now (`service_unavailable`: retry after `Retry-After` seconds), or the operation seals or opens a secret value and no master key is configured (`master_key_missing`: an operator must set `KEYGATE_MASTER_KEY`).",
        "service_unavailable",
        503,
        "the database is unavailable",
    );
    unavailable["headers"] = json!({
        "Retry-After": {
            "description": "Seconds to wait before retrying (sent with `service_unavailable`).",
            "schema": { "type": "integer", "example": 1 }
        }
    });
    let shared = json!({
        "BadRequest": problem_response("The input is invalid: a malformed body, path or query value, or a field that breaks a rule (see `errors`).", "validation_failed", 400, "name: must be 1 to 255 characters"),
        "Unauthorized": unauthorized,
        "Forbidden": problem_response("The key's role, policy or allowed addresses do not permit this operation; `missing_permission` names it.", "operation_not_allowed", 403, "this key's policy does not allow get_api_key"),
        "NotFound": problem_response("No such resource in the caller's organization.", "not_found", 404, "api key aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 was not found"),
        "PayloadTooLarge": problem_response("The request body is larger than the server's limit.", "payload_too_large", 413, "request body is larger than 65536 bytes"),
        "UnsupportedMediaType": problem_response("The request body is not `application/json`.", "unsupported_media_type", 415, "request body must be application/json"),
        "InternalError": problem_response("An unexpected error; the body says nothing of the cause, the server log does.", "internal_error", 500, "an internal error occurred; the request id identifies it in the server log"),
        "ServiceUnavailable": unavailable,
        "PreconditionFailed": problem_response("`If-Match` names a version that is no longer current; nothing was changed. Read the resource again for its `ETag`.", "precondition_failed", 412, "the resource has changed since the given ETag"),
        "GatewayTimeout": problem_response("The budget of `Request-Timeout` or `Request-Timeout-Millis` ran out; nothing was changed (the transaction was rolled back).", "request_timeout", 504, "the request timeout ran out"),
    });
    doc["components"]["responses"] = shared;
    doc["components"]["parameters"] = json!({
        "RequestTimeout": {
            "name": "Request-Timeout",
            "in": "header",
            "required": false,
            "description": "Budget for this request in whole seconds (1 to 86,400). When it runs out the answer is 504 and nothing is changed. With `Request-Timeout-Millis` too, the smaller budget applies.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 86400 }
        },
        "RequestTimeoutMillis": {
            "name": "Request-Timeout-Millis",
            "in": "header",
            "required": false,
            "description": "Budget for this request in milliseconds (1 to 86,400,000). When it runs out the answer is 504 and nothing is changed.",
            "schema": { "type": "integer", "minimum": 1, "maximum": 86400000 }
        },
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "Apply the change only if the resource's current `ETag` is one of these (or `*`); otherwise 412 and nothing is changed.",
            "schema": { "type": "string", "minLength": 1 }
        }
    });

    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let authenticated = path.starts_with(API_PREFIX);
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let conditional = matches!(method.as_str(), "patch" | "put" | "delete")
                || op["operationId"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("rotate_"));
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
            if conditional {
                params.push(json!({ "$ref": "#/components/parameters/IfMatch" }));
            }
            params.push(json!({ "$ref": "#/components/parameters/RequestTimeout" }));
            params.push(json!({ "$ref": "#/components/parameters/RequestTimeoutMillis" }));
            // Every operation takes the timeout headers, so every one can
            // answer 400 (a bad header) and 504.
            let mut add = vec![("400", "BadRequest"), ("504", "GatewayTimeout")];
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
                add.extend([("413", "PayloadTooLarge"), ("415", "UnsupportedMediaType")]);
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
            sort_responses(responses);
        }
    }
}

fn sort_responses(responses: &mut Map<String, Value>) {
    let sorted: BTreeMap<String, Value> = std::mem::take(responses).into_iter().collect();
    responses.extend(sorted);
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template as in the document, e.g. `/v1/api_keys/{api_key_id}`.
    pub path: String,
    /// The operationId.
    pub operation_id: String,
    /// Names of the path parameters.
    pub path_params: Vec<String>,
}

impl Route {
    /// The path parameters of a concrete path matching this route's
    /// template, percent-decoded as the handlers see them (`My%41PI` is
    /// `MyAPI`), so a policy is checked against the resource actually
    /// addressed.
    pub fn params_of(&self, path: &str) -> Vec<(String, String)> {
        self.path
            .split('/')
            .zip(path.split('/'))
            .filter_map(|(t, p)| {
                let name = t.strip_prefix('{')?.strip_suffix('}')?;
                let value = percent_encoding::percent_decode_str(p).decode_utf8_lossy();
                Some((name.to_owned(), value.into_owned()))
            })
            .collect()
    }
}

/// Every documented operation, for 405 answers and authorization.
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    fn from_document(doc: &Value) -> Routes {
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let (Ok(method), Some(operation_id)) = (
                    Method::from_bytes(method.to_ascii_uppercase().as_bytes()),
                    op["operationId"].as_str(),
                ) else {
                    continue;
                };
                let path_params = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .map(str::to_owned)
                    .collect();
                routes.push(Route {
                    method,
                    path: path.clone(),
                    operation_id: operation_id.to_owned(),
                    path_params,
                });
            }
        }
        Routes { routes }
    }

    /// The operation registered for a method and a matched path template.
    pub fn find(&self, method: &Method, template: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.method == *method && r.path == template)
    }

    /// The operation a concrete request path and method address; a template
    /// with more literal segments wins over one with parameters.
    pub fn find_for_path(&self, method: &Method, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.method == *method && template_matches(&r.path, path))
            .min_by_key(|r| r.path_params.len())
    }

    /// The operation with this operationId.
    pub fn by_operation_id(&self, operation_id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.operation_id == operation_id)
    }

    /// Every documented operation.
    pub fn all(&self) -> &[Route] {
        &self.routes
    }

    /// Methods documented for a concrete request path (empty: no such path).
    pub fn methods_for(&self, path: &str) -> Vec<Method> {
        let mut methods: Vec<Method> = self
            .routes
            .iter()
            .filter(|r| template_matches(&r.path, path))
            .map(|r| r.method.clone())
            .collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        methods
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => {}
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The route index of the document.
pub fn routes() -> &'static Routes {
    static ROUTES: LazyLock<Routes> = LazyLock::new(|| Routes::from_document(document()));
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates_match_whole_segments_only() {
        assert!(template_matches("/v1/api_keys/{id}", "/v1/api_keys/aky_1"));
        assert!(!template_matches("/v1/api_keys/{id}", "/v1/api_keys/"));
        assert!(!template_matches("/v1/api_keys/{id}", "/v1/api_keys/a/b"));
        assert!(!template_matches("/v1/api_keys", "/v1/api_keys/x"));
    }
}
