//! Connector secrets: values stored encrypted (AES-256-GCM, bound to their
//! row) and given back only to `personal` keys, every read audited.

pub mod domain;
pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "secrets";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the secret operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_secret)
        .service(handlers::list_secrets)
        .service(handlers::get_secret)
        .service(handlers::list_secret_versions)
        .service(handlers::restore_secret_version)
        .service(handlers::put_secret)
        .service(handlers::delete_secret)
        .service(handlers::undelete_secret);
}
