//! Leak intake: GitHub's secret scanning partner alerts. GitHub sends every
//! match of keygate's registered pattern found in public code to a public
//! endpoint, signed with ECDSA; keygate checks the signature over the raw
//! body, checks each token's format and checksum without the database, and
//! disables or revokes each real key as its organization's key policy says,
//! with an audit event carrying the reported URL.

pub mod dto;
pub mod handlers;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "secret_scanning";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the public alert endpoint at the root (outside the
/// authenticated `/v1` scope: GitHub signs, it presents no key).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::report_leaked_keys);
}
