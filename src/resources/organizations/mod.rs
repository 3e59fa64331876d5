//! Organizations: the tenants every resource belongs to.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the organization operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_organization)
        .service(handlers::get_organization);
}
