//! Each organization's key safety settings: what a leak report does to a
//! reported key (`leak_response`), and the lifetime policy its API keys are
//! held to (`max_key_lifetime_seconds`, `require_expiry`).

//!
//! The domain room only: API keys and leak reports read the policy here,
//! and its operations (`get_key_policy`, `update_key_policy`) are the
//! organizations' (`resources::organizations`), so this room needs none.

pub mod domain;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "key_policies";
