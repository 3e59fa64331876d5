//! Organizations: the tenants every resource belongs to, with their
//! subscription state and terms-and-conditions acceptance.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "organizations";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the organization operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_organization)
        .service(handlers::get_organization)
        .service(handlers::get_organization_subscription)
        .service(handlers::update_organization_subscription)
        .service(handlers::get_organization_terms_and_conditions)
        .service(handlers::accept_organization_terms_and_conditions)
        .service(handlers::get_key_policy)
        .service(handlers::update_key_policy);
}
