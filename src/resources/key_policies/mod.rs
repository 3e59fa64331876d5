//! Each organization's key safety settings: what a leak report does to a
//! reported key (`leak_response`), and the lifetime policy its API keys are
//! held to (`max_key_lifetime_seconds`, `require_expiry`).

pub mod domain;
pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "key_policies";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the key policy operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::get_key_policy)
        .service(handlers::update_key_policy);
}
