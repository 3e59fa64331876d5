//! The Elasticsearch dialect: the connector and connector-secret APIs at
//! Elasticsearch's own paths (`/_connector`, `/_connector/_secret`) and
//! `GET`/`HEAD /`, so that elasticsearch-py works against keygate
//! unchanged. Every answer carries `X-Elastic-Product: Elasticsearch` (the
//! client refuses a 2xx without it) and every error is Elasticsearch's
//! `{"error": {"root_cause", "type", "reason"}, "status"}` with a JSON
//! content type (the client cannot read problem+json). docs/DIALECTS.md
//! records where it departs from Elasticsearch.

pub mod handlers;
pub mod wire;

use std::sync::LazyLock;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::middleware::from_fn;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ErrorReport;
use crate::openapi::SharedResponse;
use crate::surface::{ErrorContext, Surface};
use wire::{ErrorCause, ErrorDetail, ErrorResponse};

/// The tag of its operations.
pub const TAG: &str = "connector";

/// The header elasticsearch-py checks on every 2xx.
pub const PRODUCT_HEADER: &str = "x-elastic-product";

/// Registers the dialect's operations: `GET`/`HEAD /` (public) and the
/// authenticated `/_connector` scope. The server and [`document`] both
/// call it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::es_info)
        .service(handlers::es_ping)
        .service(
            scope::scope("/_connector")
                .wrap(from_fn(crate::auth::authenticate))
                .service(handlers::es_create_secret)
                // Any other method on `/_connector/_secret` is a 405 (the
                // concrete path is never the `{connector_id}` template's),
                // not a connector named `_secret`.
                .route(
                    "/_secret",
                    actix_web::web::route().to(crate::routes::no_route),
                )
                .service(handlers::es_get_secret)
                .service(handlers::es_put_secret)
                .service(handlers::es_delete_secret)
                .service(handlers::es_create_connector)
                .service(handlers::es_create_connector_by_put)
                .service(handlers::es_list_connectors)
                .service(handlers::es_get_connector)
                .service(handlers::es_put_connector)
                .service(handlers::es_delete_connector)
                .service(handlers::es_update_connector_api_key_id),
        );
}

/// The parts of the document not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate: Elasticsearch connectors dialect",
        version = "0.1.0",
        description = "Elasticsearch's connector and connector-secret APIs, served by keygate at Elasticsearch's own paths so that elasticsearch-py (9.x) works unchanged: `Elasticsearch(\"http://keygate:8080\", api_key=\"kg_ak_...\")`. The connectors and secrets are the same resources as keygate's `/v1/connectors` and `/v1/secrets`, under the same roles and policies.\n\nAuthenticate with a keygate API key: `Authorization: ApiKey <key>` (what the client sends for `api_key=\"...\"`) or `Authorization: Bearer <key>`. Every answer carries `X-Elastic-Product: Elasticsearch`; errors are Elasticsearch's `{\"error\": {\"root_cause\", \"type\", \"reason\"}, \"status\"}`, with keygate's stable `code` beside `type`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "connector", description = "Elasticsearch connectors and connector secrets, and the server information clients read at start.")
    ),
    components(schemas(ErrorResponse)),
    modifiers(&SecuritySchemes),
    security(("api_key_auth" = []), ("bearer_auth" = []))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key_auth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A keygate API key as `Authorization: ApiKey kg_ak_...` (elasticsearch-py's `api_key=\"kg_ak_...\"`).",
            ))),
        );
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kg_ak_...")
                    .description(Some(
                        "A keygate API key as a bearer token (elasticsearch-py's `bearer_auth=`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The dialect's complete document, built once (`openapi/elasticsearch.json`).
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        crate::openapi::build(
            ApiDoc::openapi(),
            configure,
            &render_error,
            crate::openapi::drop_if_match,
        )
    });
    &DOCUMENT
}

/// The document as committed in `openapi/elasticsearch.json`.
pub fn document_pretty() -> String {
    crate::openapi::pretty(document())
}

/// Elasticsearch's exception type for a keygate error.
fn exception_type(status: u16, code: &str) -> &'static str {
    match (status, code) {
        (_, "validation_failed") => "action_request_validation_exception",
        (_, "invalid_body" | "invalid_json") => "x_content_parse_exception",
        (400, _) => "illegal_argument_exception",
        (401 | 403, _) => "security_exception",
        (404, _) => "resource_not_found_exception",
        (409 | 412, _) => "version_conflict_engine_exception",
        (415, _) => "media_type_header_exception",
        (500, _) => "exception",
        _ => "status_exception",
    }
}

/// The error body of a report: `reason` lists the fields of a validation
/// failure as Elasticsearch does (`Validation Failed: 1: name: ...;`).
fn error_body(report: &ErrorReport) -> ErrorResponse {
    let status = report.status.as_u16();
    let kind = exception_type(status, &report.code);
    let reason = if report.code == "validation_failed" && !report.errors.is_empty() {
        let listed: String = report
            .errors
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{}: {}: {};", i + 1, e.field, e.message))
            .collect();
        format!("Validation Failed: {listed}")
    } else {
        report.detail.clone()
    };
    ErrorResponse {
        error: ErrorDetail {
            root_cause: vec![ErrorCause {
                kind: kind.to_owned(),
                reason: reason.clone(),
            }],
            kind: kind.to_owned(),
            reason,
            code: report.code.clone(),
            missing_permission: report.missing_permission.clone(),
        },
        status,
    }
}

/// The example of a handler's own error response, in Elasticsearch's envelope.
pub(super) fn error_example(status: u16, code: &str, detail: &str) -> Value {
    serde_json::to_value(error_body(&ErrorReport::example(status, code, detail)))
        .unwrap_or_default()
}

/// A shared error response in Elasticsearch's envelope, with an example.
fn render_error(shared: &SharedResponse) -> Value {
    shared.json("ErrorResponse", error_body(&shared.report()))
}

/// The Elasticsearch dialect as a surface: it owns `/` and every path
/// starting `/_` (Elasticsearch's API namespace; no other surface uses
/// it), so an Elasticsearch client calling an API keygate lacks gets an
/// Elasticsearch 404 it can read, not problem+json.
#[derive(Debug, Clone, Copy, Default)]
pub struct Elasticsearch;

impl Surface for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn document_stem(&self) -> &'static str {
        "elasticsearch"
    }

    fn claims(&self, path: &str) -> bool {
        path == "/" || path.starts_with("/_")
    }

    fn configure(&self, cfg: &mut ServiceConfig) {
        configure(cfg);
    }

    fn document(&self) -> &'static Value {
        document()
    }

    fn write_error(
        &self,
        error: &ErrorReport,
        _at: ErrorContext<'_>,
        headers: &mut HeaderMap,
    ) -> Vec<u8> {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        serde_json::to_vec(&error_body(error)).unwrap_or_default()
    }

    fn finish(&self, headers: &mut HeaderMap) {
        headers.insert(
            HeaderName::from_static(PRODUCT_HEADER),
            HeaderValue::from_static("Elasticsearch"),
        );
    }
}

#[cfg(test)]
mod tests {
    // By path, not `super::*`: the layer check reads `super` from the file.
    use crate::dialects::elasticsearch::{error_body, Elasticsearch};
    use crate::http::problem::ErrorReport;
    use crate::surface::Surface;

    #[test]
    fn validation_failures_list_their_fields_as_elasticsearch_does() {
        let report = ErrorReport::of(&crate::error::ApiError::invalid_fields(vec![
            crate::error::FieldError::new("api_key_id", "reference_not_found", "no API key"),
            crate::error::FieldError::new("api_key_secret_id", "reference_not_found", "no secret"),
        ]));
        let body = serde_json::to_value(error_body(&report)).unwrap();
        assert_eq!(body["error"]["type"], "action_request_validation_exception");
        assert_eq!(
            body["error"]["reason"],
            "Validation Failed: 1: api_key_id: no API key;2: api_key_secret_id: no secret;"
        );
        assert_eq!(
            body["error"]["root_cause"][0]["reason"],
            body["error"]["reason"]
        );
        assert_eq!(body["status"], 400);
    }

    #[test]
    fn the_dialect_owns_the_root_and_the_underscore_namespace_only() {
        let es = Elasticsearch;
        for path in ["/", "/_connector", "/_connector/x", "/_cat/indices"] {
            assert!(es.claims(path), "{path}");
        }
        for path in [
            "/v1/connectors",
            "/healthz",
            "/swagger-ui/",
            "/api-docs/elasticsearch.json",
        ] {
            assert!(!es.claims(path), "{path}");
        }
    }
}
