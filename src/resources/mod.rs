//! The native surface: one folder a resource (`mod.rs` with its tag and
//! `configure`, `handlers.rs`, `dto.rs`, `model.rs`, `repo.rs`, and
//! `domain.rs` where a resource has domain types of its own), the `/v1`
//! scope they are registered under, its OpenAPI document (`document`), and
//! how it reads keys and writes errors ([`Native`]).

pub mod analytics;
pub mod api_keys;
pub mod api_proxies;
pub mod audit_events;
pub mod clusters;
pub mod connectors;
pub mod document;
pub mod identities;
pub mod key_policies;
pub mod leaks;
pub mod organizations;
pub mod projects;
pub mod providers;
pub mod secrets;
pub mod system;
pub mod verify;

use actix_web::http::header::HeaderMap;
use actix_web::middleware::from_fn;
use serde_json::Value;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use document::{document, document_pretty};

use crate::http::problem::{write_problem, ErrorReport};
use crate::surface::{ErrorContext, Surface};

/// Prefix of every authenticated native operation.
pub const API_PREFIX: &str = "/v1";

/// Registers every native operation: the public ones (`/healthz`,
/// `/readyz`) and the authenticated `/v1` scope. The server and
/// [`document`] both call it, so they cannot disagree.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.configure(system::configure)
        .configure(leaks::configure)
        .service(
            scope::scope(API_PREFIX)
                .wrap(from_fn(crate::auth::authenticate))
                .configure(api_keys::configure)
                .configure(verify::configure)
                .configure(identities::configure)
                .configure(analytics::configure)
                .configure(audit_events::configure)
                .configure(secrets::configure)
                .configure(connectors::configure)
                .configure(projects::configure)
                .configure(api_proxies::configure)
                .configure(providers::configure)
                .configure(organizations::configure)
                .configure(clusters::configure),
        );
}

/// The native `/v1` API as a surface: keys as `Bearer`, `ApiKey` or
/// `x-api-key`, errors as RFC 9457 problem+json, `openapi/openapi.json`.
/// It answers every path no dialect claims.
#[derive(Debug, Clone, Copy, Default)]
pub struct Native;

impl Surface for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn document_stem(&self) -> &'static str {
        "openapi"
    }

    fn claims(&self, path: &str) -> bool {
        path == API_PREFIX || path.starts_with("/v1/")
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
        at: ErrorContext<'_>,
        headers: &mut HeaderMap,
    ) -> Vec<u8> {
        write_problem(error, Some(at.request_id), Some(at.path), headers)
    }
}
