//! The audit trail, read side: `GET /v1/audit_events`. Events are written by
//! `crate::audit` inside each mutation's transaction.

pub mod dto;
pub mod handlers;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "audit_events";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the audit operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::list_audit_events);
}
