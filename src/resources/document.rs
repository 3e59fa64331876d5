//! The native surface's document, `openapi/openapi.json`: the parts
//! utoipa cannot see from the handlers (`info`, tags, security schemes),
//! problem+json as the body of every shared error response, and the names
//! an `api_policy` may use.

use std::sync::LazyLock;

use serde_json::{json, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::problem::{problem_example, ProblemDetails};
use crate::openapi::{SharedResponse, BAD_REQUEST_EXAMPLES};
use crate::routes::Routes;

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
    // In the order of docs/API-DESIGN.md ("Tags"): keys first, then one
    // family after another, then what every family shares.
    tags(
        (name = "api_keys", description = "API keys: the credentials callers authenticate with, with roles, policies, address rules and expiry."),
        (name = "verify", description = "Verification of keys your callers present, for services holding a `serving` key."),
        (name = "identities", description = "Identities: your customers, under your own id for each, grouping their keys under shared rate limits and credits."),
        (name = "analytics", description = "Verification analytics: how many verifies ended in each outcome, by time bucket, key, identity and outcome."),
        (name = "key_policies", description = "Each organization's key policy: the lifetime rules its API keys are held to, and what a leak report does to a reported key."),
        (name = "secret_scanning", description = "Leak intake: GitHub's secret scanning partner alerts, signed by GitHub, that disable or revoke keygate keys found in public code."),
        (name = "connectors", description = "Connectors (Elasticsearch family): a data source (`service_type`) synced into an index, with the API key it writes with and the secret holding that key."),
        (name = "secrets", description = "Connector secrets: values stored encrypted with AES-256-GCM and given back only to `personal` keys, every read audited."),
        (name = "projects", description = "Projects (Apinizer family): named groups of API proxies, addressed by name."),
        (name = "api_proxies", description = "API proxies of a project (Apinizer family): a public key that identifies callers, a secret key that authenticates them (stored encrypted, never shown), and a constant-time check of a presented pair."),
        (name = "providers", description = "Providers and provider credentials (Nylas family): the app credentials that let a platform act on a provider (Google service accounts, Microsoft admin consent, connector overrides), stored encrypted and never returned, and each provider's active credential."),
        (name = "organizations", description = "Organizations: the tenants every resource belongs to."),
        (name = "clusters", description = "Connected clusters (Elastic Cloud Connect family): self-managed Elasticsearch clusters linked to the organization, their services, and their rotating cluster and service keys."),
        (name = "audit_events", description = "The audit trail: every mutation, and every mutation refused with 401 or 403."),
        (name = "system", description = "Liveness and readiness, without authentication.")
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

/// The complete native document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        crate::openapi::build(
            ApiDoc::openapi(),
            super::configure,
            &problem_response,
            |doc| {
                add_policy_names(doc);
                add_unique_items(doc);
                add_rate_limited(doc);
            },
        )
    });
    &DOCUMENT
}

/// The native document as committed in `openapi/openapi.json`.
pub fn document_pretty() -> String {
    crate::openapi::pretty(document())
}

// `api_policy` names operations and path parameters: list them in the
// document, from the same route table the server checks them against.
fn add_policy_names(doc: &mut Value) {
    let names = Routes::from_document(doc).policy_names();
    let (ops, params) = (json!(names.operations), json!(names.parameters));
    let schemas = &mut doc["components"]["schemas"];
    schemas["ApiPolicy"]["properties"]["allowed_operations"]["propertyNames"] =
        json!({ "enum": ops });
    schemas["OperationPolicy"]["properties"]["allowed_resources"]["propertyNames"] =
        json!({ "enum": params });
}

/// Arrays whose items must be distinct (`dto::check_resource_scopes`
/// refuses a repeated scope) say so: utoipa 6's field attributes have no
/// `uniqueItems`.
fn add_unique_items(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    schemas["CreateApiKey"]["properties"]["resource_scopes"]["uniqueItems"] = json!(true);
}

/// Every authenticated operation counts against the calling key's rate
/// limits (`auth::authenticate`): each can answer 429, with the headers of
/// draft-ietf-httpapi-ratelimit-headers.
fn add_rate_limited(doc: &mut Value) {
    let example = problem_example(
        429,
        "rate_limited",
        "the rate limit api of this key allows 100 requests per 60 s; retry after 12 s",
        "/v1/api_keys",
    );
    doc["components"]["responses"]["TooManyRequests"] = json!({
        "description": "A rate limit of the calling key, or of its identity, is exhausted for its window (`rate_limited`): nothing was done. Retry after `Retry-After` seconds.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the exhausted limit's window resets.",
                "schema": { "type": "integer", "minimum": 1, "example": 12 }
            },
            "RateLimit-Policy": {
                "description": "The exhausted limit: its name, `q` units per window of `w` seconds (draft-ietf-httpapi-ratelimit-headers).",
                "schema": { "type": "string", "example": "\"api\";q=100;w=60" }
            },
            "RateLimit": {
                "description": "What is left of it: `r` units for `t` more seconds.",
                "schema": { "type": "string", "example": "\"api\";r=0;t=12" }
            }
        },
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/ProblemDetails" },
            "example": example
        } }
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        if op.get(crate::routes::ROLE_EXTENSION).is_some() {
            if let Some(responses) = op["responses"].as_object_mut() {
                responses.insert(
                    "429".into(),
                    json!({ "$ref": "#/components/responses/TooManyRequests" }),
                );
                let sorted: std::collections::BTreeMap<String, Value> =
                    std::mem::take(responses).into_iter().collect();
                responses.extend(sorted);
            }
        }
    }
}

/// A shared error response as problem+json, with an example (the 400: one
/// for each kind of input error, `errors` and all).
fn problem_response(shared: &SharedResponse) -> Value {
    let SharedResponse {
        description,
        code,
        status,
        detail,
        ..
    } = *shared;
    let example = |code: &str, detail: &str| problem_example(status, code, detail, "/v1/api_keys");
    let mut content = json!({ "schema": { "$ref": "#/components/schemas/ProblemDetails" } });
    if status == 400 {
        let examples: serde_json::Map<String, Value> = BAD_REQUEST_EXAMPLES
            .iter()
            .map(|(name, summary, code, field, field_code, message)| {
                let mut value = example(code, &format!("{field}: {message}"));
                value["errors"] = json!([{"field": field, "code": field_code, "message": message}]);
                (
                    (*name).to_owned(),
                    json!({ "summary": summary, "value": value }),
                )
            })
            .collect();
        content["examples"] = Value::Object(examples);
    } else {
        content["example"] = example(code, detail);
    }
    json!({
        "description": description,
        "content": { "application/problem+json": content }
    })
}
