//! Liveness, readiness and metrics, without an API key.

pub mod handlers;

/// The tag of its operations in the document.
pub const TAG: &str = "system";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the system operations at the root.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::get_health)
        .service(handlers::get_readiness)
        .service(handlers::get_metrics);
}
