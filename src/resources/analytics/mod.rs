//! Verification analytics, read side: `GET /v1/analytics/verifications`,
//! the verifies of the caller's organization counted by time bucket, key,
//! identity and outcome. The counts are noted on the verify path and
//! written behind by `crate::keys::analytics`.

pub mod dto;
pub mod handlers;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "analytics";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the analytics operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::get_verification_analytics);
}
