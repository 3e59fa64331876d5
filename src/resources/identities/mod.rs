//! Identities: a customer's keys grouped under its own id (`external_id`,
//! unique per organization), with free-form metadata and the rate limits
//! and credits all its keys share. A key belongs to at most one identity;
//! an identity that still has keys cannot be deleted.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "identities";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the identity operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_identity)
        .service(handlers::list_identities)
        .service(handlers::get_identity)
        .service(handlers::update_identity)
        .service(handlers::delete_identity)
        .service(handlers::change_identity_credits);
}
