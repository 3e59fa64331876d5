//! The Nylas dialect: Nylas v3's connector credentials under
//! `/v3/connectors/{provider}/creds`, so that the `nylas` Python SDK
//! (6.18.0) creates, lists, finds, updates and destroys keygate's provider
//! credentials unchanged. Every answer is JSON with the request's id in
//! its body (`{request_id, data}`; the SDK reads a body on every status),
//! and every error is `{request_id, error: {type, message}}`, which the
//! SDK raises as `NylasApiError` with that `type`. docs/DIALECTS.md records
//! where it departs from Nylas.

pub mod handlers;
pub mod wire;

use actix_web::middleware::from_fn;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ErrorReport;
use crate::resources::providers::model::Provider;
use wire::{ErrorDetail, ErrorResponse};

/// The tag of its operations.
pub const TAG: &str = "connector-credentials";

/// The dialect's path prefix.
pub const PREFIX: &str = "/v3/connectors";

/// Registers the dialect's operations in one authenticated scope. The
/// server and [`document`] both call it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope(PREFIX)
            .wrap(from_fn(crate::auth::authenticate))
            .service(handlers::nylas_create_credential)
            .service(handlers::nylas_list_credentials)
            .service(handlers::nylas_find_credential)
            .service(handlers::nylas_update_credential)
            .service(handlers::nylas_destroy_credential),
    );
}

/// The parts of the document not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate: Nylas connector credentials dialect",
        version = "0.1.0",
        description = "Nylas v3's connector credentials API, served by keygate under `/v3/connectors/{provider}/creds` so that the `nylas` Python SDK (6.x) works unchanged: `Client(api_key=\"kg_ak_...\", api_uri=\"http://keygate:8080\")`, then `client.connectors.credentials`. The credentials are the same resources as keygate's `/v1/providers/{provider}/credentials`, under the same roles and policies; `credential_data` is encrypted at rest and never returned.\n\nAuthenticate with a keygate API key as `Authorization: Bearer <key>`. Every answer is `{\"request_id\", \"data\"}` (a delete: `{\"request_id\"}`), times are unix seconds, and errors are `{\"request_id\", \"error\": {\"type\", \"message\"}}` with keygate's stable code as `type`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "connector-credentials", description = "Provider credentials (Nylas's connector credentials): the app credentials keygate keeps for each provider.")
    ),
    components(schemas(ErrorResponse, Provider)),
    modifiers(&SecuritySchemes),
    security(("bearer_auth" = []))
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
                    .description(Some(
                        "A keygate API key as a bearer token (the SDK's `api_key=`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The error body of a report: a validation failure lists its fields in
/// `message`.
fn error_body(report: &ErrorReport, request_id: &str) -> ErrorResponse {
    let message = if report.errors.is_empty() {
        report.detail.clone()
    } else {
        let fields: Vec<String> = report
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        format!("{}: {}", report.detail, fields.join("; "))
    };
    ErrorResponse {
        request_id: request_id.to_owned(),
        error: ErrorDetail {
            kind: report.code.clone(),
            message,
        },
    }
}

/// The Nylas dialect as a surface: it owns every path under
/// `/v3/connectors`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nylas;

crate::dialects::shared::prefix_dialect!(
    Nylas,
    name = "nylas",
    stem = "nylas",
    tidy = crate::openapi::drop_if_match,
    body = error_body
);

#[cfg(test)]
mod tests {
    // By path, not `super::*`: the layer check reads `super` from the file.
    use crate::dialects::nylas::{error_body, Nylas};
    use crate::http::problem::ErrorReport;
    use crate::surface::Surface;

    #[test]
    fn a_validation_failure_names_each_field_in_the_message() {
        let report = ErrorReport::of(&crate::error::ApiError::invalid_fields(vec![
            crate::error::FieldError::new("credential_data.client_id", "required", "is required"),
            crate::error::FieldError::new("name", "length", "must be 1 to 255 characters"),
        ]));
        let body = serde_json::to_value(error_body(&report, "r1")).unwrap();
        assert_eq!(body["request_id"], "r1");
        assert_eq!(body["error"]["type"], "validation_failed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("credential_data.client_id: is required"),
            "{message}"
        );
        assert!(
            message.contains("name: must be 1 to 255 characters"),
            "{message}"
        );
    }

    #[test]
    fn the_dialect_owns_its_prefix_only() {
        let nylas = Nylas;
        assert!(nylas.claims("/v3/connectors/google/creds"));
        assert!(nylas.claims("/v3/connectors"));
        assert!(!nylas.claims("/v3/connectorsx"));
        assert!(!nylas.claims("/v1/providers/google/credentials"));
    }
}
