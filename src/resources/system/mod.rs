//! Liveness and readiness, without authentication.

pub mod handlers;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the system operations at the root.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::get_health)
        .service(handlers::get_readiness);
}
