//! The Apinizer dialect: Apinizer's management API calls for projects and
//! API proxies (list projects; create a reverse proxy from a URL; list,
//! get and delete proxies; set a proxy's keys, `PATCH /apiops/projects/
//! {projectName}/apiProxies/{apiProxyName}/settings/keys/`), at Apinizer's
//! paths with their trailing slash, so that Apinizer's documented curl
//! calls work against keygate unchanged. Errors
//! are `{"error", "error_description"}` with Apinizer's codes.
//! docs/DIALECTS.md records where it departs from Apinizer.

pub mod handlers;
pub mod wire;

use actix_web::middleware::from_fn;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ErrorReport;
use wire::ErrorResponse;

/// The tag of its operations.
pub const TAG: &str = "api-proxies";

/// The dialect's path prefix.
pub const PREFIX: &str = "/apiops";

/// Registers the dialect's operations in one authenticated scope. The
/// server and [`document`] both call it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope(PREFIX)
            .wrap(from_fn(crate::auth::authenticate))
            .service(handlers::apinizer_list_projects)
            .service(handlers::apinizer_create_api_proxy)
            .service(handlers::apinizer_list_api_proxies)
            .service(handlers::apinizer_get_api_proxy)
            .service(handlers::apinizer_update_api_proxy_keys)
            .service(handlers::apinizer_delete_api_proxy),
    );
}

/// The parts of the document not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate: Apinizer projects and API proxies dialect",
        version = "0.1.0",
        description = "Apinizer's management API calls for projects and API proxies (list projects; create a reverse proxy from a URL; list, get and delete proxies; set a proxy's keys), served by keygate at Apinizer's own paths (with their trailing slash) so that Apinizer's documented curl calls work unchanged against `http://keygate:8080/apiops/`. The projects and API proxies are keygate's `/v1/projects/{project_name}/api_proxies`, under the same roles and policies; the secret key is encrypted at rest and never shown.\n\nAuthenticate with a keygate API key as `Authorization: Bearer <key>`. A change answers `{\"success\": true}`; errors are `{\"error\", \"error_description\"}` with Apinizer's codes, and keygate's stable `code` beside.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "api-proxies", description = "Projects, API proxies and their keys (Apinizer's management API).")
    ),
    components(schemas(ErrorResponse)),
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
                    .description(Some("A keygate API key as a bearer token."))
                    .build(),
            ),
        );
    }
}

/// Apinizer's code for a status.
fn apinizer_code(status: u16) -> &'static str {
    match status {
        401 => "unauthorized_client",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        500.. => "internal_error",
        _ => "bad_request",
    }
}

/// keygate's field names as Apinizer writes them.
fn camel_case(text: &str) -> String {
    text.replace("public_key", "publicKey")
        .replace("secret_key", "secretKey")
}

/// The error body of a report: a validation failure lists its fields.
fn error_body(report: &ErrorReport) -> ErrorResponse {
    let description = if report.errors.len() > 1 && !report.detail.starts_with("At least one key") {
        let fields: Vec<String> = report
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        fields.join("; ")
    } else {
        report.detail.clone()
    };
    ErrorResponse {
        error: apinizer_code(report.status.as_u16()).to_owned(),
        error_description: camel_case(&description),
        code: report.code.clone(),
    }
}

/// The Apinizer dialect as a surface: it owns every path under `/apiops`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apinizer;

crate::dialects::shared::prefix_dialect!(
    Apinizer,
    name = "apinizer",
    stem = "apinizer",
    tidy = crate::openapi::drop_if_match,
    body = |report: &ErrorReport, _: &str| error_body(report)
);

#[cfg(test)]
mod tests {
    // By path, not `super::*`: the layer check reads `super` from the file.
    use crate::dialects::apinizer::{error_body, Apinizer};
    use crate::http::problem::ErrorReport;
    use crate::surface::Surface;

    #[test]
    fn errors_take_apinizer_codes_and_field_names() {
        let report = ErrorReport::of(&crate::error::ApiError::invalid_field(
            "secret_key",
            "blank",
            "must not be empty or only whitespace",
        ));
        let body = serde_json::to_value(error_body(&report)).unwrap();
        assert_eq!(body["error"], "bad_request");
        assert_eq!(
            body["error_description"],
            "secretKey: must not be empty or only whitespace"
        );
        assert_eq!(body["code"], "validation_failed");
    }

    #[test]
    fn debug_never_shows_a_spec_header_value() {
        let body: crate::dialects::apinizer::wire::CreateProxy = serde_json::from_value(serde_json::json!({
            "apiProxyName": "petstore-api",
            "apiProxyCreationType": "REVERSE_PROXY",
            "specAuthorizationValueList": [{"headerName": "Authorization", "headerValue": "Bearer token123"}]
        }))
        .unwrap();
        let shown = format!("{body:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(!shown.contains("token123"), "{shown}");
    }

    #[test]
    fn the_dialect_owns_its_prefix_only() {
        assert!(Apinizer.claims("/apiops/projects/"));
        assert!(!Apinizer.claims("/apiopsx"));
        assert!(!Apinizer.claims("/v1/projects"));
    }
}
