//! The Vectara dialect: Vectara v2's API keys under `/v2/api_keys`, so
//! that the `vectara` Python SDK (0.4.3) creates, pages through, gets,
//! disables, enables and deletes keygate's API keys unchanged. Errors are
//! Vectara's `{"messages": [...], "request_id"}` (the SDK needs exactly
//! that on 403 to raise `ForbiddenError`), with keygate's `code` beside.
//! docs/DIALECTS.md records where it departs from Vectara.

pub mod handlers;
pub mod wire;

use actix_web::middleware::from_fn;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::problem::ErrorReport;
use wire::ErrorResponse;

/// The tag of its operations.
pub const TAG: &str = "api-keys";

/// The dialect's path prefix.
pub const PREFIX: &str = "/v2/api_keys";

/// Registers the dialect's operations in one authenticated scope. The
/// server and [`document`] both call it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope(PREFIX)
            .wrap(from_fn(crate::auth::authenticate))
            .service(handlers::vectara_create_api_key)
            .service(handlers::vectara_list_api_keys)
            .service(handlers::vectara_get_api_key)
            .service(handlers::vectara_update_api_key)
            .service(handlers::vectara_delete_api_key),
    );
}

/// The parts of the document not collected from handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keygate: Vectara API keys dialect",
        version = "0.1.0",
        description = "Vectara v2's API key API, served by keygate under `/v2/api_keys` so that the `vectara` Python SDK (0.4.x) works unchanged: `Vectara(api_key=\"kg_ak_...\", client_id=None, client_secret=None, environment=VectaraEnvironment(default=\"http://keygate:8080\", auth=\"http://keygate:8080\"))`. The keys are the same resources as keygate's `/v1/api_keys`, under the same roles and policies (managing keys needs a `personal` key); `secret_key` is shown only by the create, since keygate keeps only a key's hash.\n\nAuthenticate with a keygate API key as `x-api-key: <key>`. Every operation honours `Request-Timeout` and `Request-Timeout-Millis`. Errors are `{\"messages\": [...], \"request_id\"}`, with keygate's stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        contact(name = "keygate maintainers")
    ),
    servers((url = "/", description = "This keygate server")),
    tags(
        (name = "api-keys", description = "API keys (Vectara's API keys): keygate's own keys, their roles, corpus scopes and policies.")
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
                "x-api-key",
                "A keygate API key (the SDK's `api_key=`).",
            ))),
        );
    }
}

/// The error body of a report: one message, or one a field.
fn error_body(report: &ErrorReport, request_id: &str) -> ErrorResponse {
    let messages = if report.errors.is_empty() {
        vec![report.detail.clone()]
    } else {
        report
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    };
    ErrorResponse {
        messages,
        request_id: request_id.to_owned(),
        code: report.code.clone(),
    }
}

/// The Vectara dialect as a surface: it owns every path under
/// `/v2/api_keys`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vectara;

crate::dialects::shared::prefix_dialect!(
    Vectara,
    name = "vectara",
    stem = "vectara",
    tidy = crate::openapi::drop_if_match,
    body = error_body
);

#[cfg(test)]
mod tests {
    // By path, not `super::*`: the layer check reads `super` from the file.
    use crate::dialects::vectara::{error_body, Vectara};
    use crate::http::problem::ErrorReport;
    use crate::surface::Surface;

    #[test]
    fn a_validation_failure_is_one_message_a_field() {
        let report = ErrorReport::of(&crate::error::ApiError::invalid_fields(vec![
            crate::error::FieldError::new("corpus_keys", "length", "must list 1 to 100 scopes"),
            crate::error::FieldError::new("name", "length", "must be 1 to 255 characters"),
        ]));
        let body = serde_json::to_value(error_body(&report, "r1")).unwrap();
        assert_eq!(body["messages"][1], "name: must be 1 to 255 characters");
        assert_eq!(body["request_id"], "r1");
        assert_eq!(body["code"], "validation_failed");
    }

    #[test]
    fn the_dialect_owns_its_prefix_only() {
        let vectara = Vectara;
        assert!(vectara.claims("/v2/api_keys"));
        assert!(vectara.claims("/v2/api_keys/aky_x"));
        assert!(!vectara.claims("/v2/api_keysx"));
        assert!(!vectara.claims("/v1/api_keys"));
    }
}
