//! The Elastic Cloud Connect dialect: Elastic's cluster API under
//! `/api/v1/cloud-connected`, so that the Beats AutoOps agent and Kibana's
//! `cloud_connect` plugin register, read, change, rotate and disconnect
//! clusters against keygate unchanged. Errors are Elastic's `{"errors":
//! [{"code", "message"}]}`. docs/DIALECTS.md records where it departs from
//! Elastic.

pub mod handlers;
pub mod wire;

use actix_web::middleware::from_fn;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ErrorReport;
use wire::{ErrorItem, ErrorResponse};

/// The tag of its operations.
pub const TAG: &str = "cloud-connected";

/// The dialect's path prefix.
pub const PREFIX: &str = "/api/v1/cloud-connected";

/// Registers the dialect's operations in one authenticated scope. The
/// server and [`document`] both call it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope(PREFIX)
            .wrap(from_fn(crate::auth::authenticate))
            .service(handlers::cc_list_clusters)
            .service(handlers::cc_create_cluster)
            .service(handlers::cc_get_cluster)
            .service(handlers::cc_update_cluster)
            .service(handlers::cc_delete_cluster)
            .service(handlers::cc_rotate_cluster_api_key)
            .service(handlers::cc_revoke_pending_cluster_api_key)
            .service(handlers::cc_rotate_cluster_service_api_key)
            .service(handlers::cc_revoke_pending_cluster_service_api_key)
            .service(handlers::cc_get_organization_subscription)
            .service(handlers::cc_get_organization_terms_and_conditions)
            .service(handlers::cc_accept_organization_terms_and_conditions),
    );
}

/// The parts of the document not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate: Elastic Cloud Connect dialect",
        version = "0.1.0",
        description = "Elastic Cloud Connect's cluster API, served by keygate under `/api/v1/cloud-connected` so that Elastic's own callers (the Beats AutoOps agent, Kibana's Cloud Connect plugin) work unchanged. The clusters are the same resources as keygate's `/v1/clusters`, under the same roles and policies; cluster and service keys rotate with a grace period (seven days by default) and the previous key is revoked with `_revoke-pending`.\n\nAuthenticate with a keygate API key: `Authorization: ApiKey <key>` (the scheme in any case: Kibana sends `apiKey`). Errors are `{\"errors\": [{\"code\", \"message\"}]}`, with keygate's stable code.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "cloud-connected", description = "Connected clusters, their cluster and service keys, and the organization's subscription and terms.")
    ),
    components(schemas(ErrorResponse)),
    modifiers(&SecuritySchemes),
    security(("api_key_auth" = []))
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
                "A keygate API key as `Authorization: ApiKey kg_ak_...` (any case of the scheme; `Bearer` works too).",
            ))),
        );
    }
}

/// The error body of a report: one error, or one a field for a validation
/// failure.
fn error_body(report: &ErrorReport) -> ErrorResponse {
    let errors = if report.errors.is_empty() {
        vec![ErrorItem {
            code: report.code.clone(),
            message: report.detail.clone(),
            field: None,
        }]
    } else {
        report
            .errors
            .iter()
            .map(|e| ErrorItem {
                code: report.code.clone(),
                message: format!("{}: {}", e.field, e.message),
                field: Some(e.field.clone()),
            })
            .collect()
    };
    ErrorResponse { errors }
}

/// The Cloud Connect dialect as a surface: it owns every path under
/// `/api/v1/cloud-connected`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudConnect;

crate::dialects::shared::prefix_dialect!(
    CloudConnect,
    name = "cloud-connect",
    stem = "cloud-connect",
    tidy = |_: &mut serde_json::Value| {},
    body = |report: &ErrorReport, _: &str| error_body(report)
);

#[cfg(test)]
mod tests {
    // By path, not `super::*`: the layer check reads `super` from the file.
    use crate::dialects::cloud_connect::{error_body, CloudConnect};
    use crate::http::problem::ErrorReport;
    use crate::surface::Surface;

    #[test]
    fn a_validation_failure_is_one_error_a_field() {
        let report = ErrorReport::of(&crate::error::ApiError::invalid_fields(vec![
            crate::error::FieldError::new("name", "length", "must be 1 to 255 characters"),
            crate::error::FieldError::new("license.uid", "length", "must be 1 to 255 characters"),
        ]));
        let body = serde_json::to_value(error_body(&report)).unwrap();
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
        assert_eq!(body["errors"][1]["field"], "license.uid");
        assert_eq!(body["errors"][0]["code"], "validation_failed");
    }

    #[test]
    fn the_dialect_owns_its_prefix_only() {
        let cc = CloudConnect;
        assert!(cc.claims("/api/v1/cloud-connected/clusters"));
        assert!(cc.claims("/api/v1/cloud-connected"));
        assert!(!cc.claims("/api/v1/cloud-connectedx"));
        assert!(!cc.claims("/v1/clusters"));
    }
}
