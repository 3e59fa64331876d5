//! Issued keys, in one room: their format and checksum (`format`), the
//! rights an API key holds (`rights`), the `key_secrets` rows and the one
//! rotation machinery for API keys, cluster keys and cluster service keys
//! (`model`, `repo`, `dto`), the identity records a look-up finds
//! (`records`), the look-up caches and their invalidation after commit
//! (`cache`), `last_used_at` written behind (`last_used`), the verify
//! outcomes counted for analytics, written behind too (`analytics`), and
//! usage control: rate limits and credit leases on the hot path (`usage`)
//! over the balances (`credits`).

pub mod analytics;
pub mod cache;
pub mod credits;
pub mod dto;
pub mod format;
pub mod last_used;
pub mod model;
pub mod records;
pub mod repo;
pub mod rights;
pub mod usage;

/// `owner_kind` of API key secrets.
pub const OWNER_API_KEY: &str = "api_key";
/// `owner_kind` of a connected cluster's key.
pub const OWNER_CLUSTER: &str = "cluster";
/// `owner_kind` of a connected cluster's per-service keys.
pub const OWNER_CLUSTER_SERVICE: &str = "cluster_service";
