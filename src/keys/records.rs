//! What authentication and verification know of a presented key once it is
//! found by its hash: the identity records the caches hold, built by the
//! look-ups (`keys::repo::find_api_key`, the clusters repo's
//! `find_by_secret`) and read by `auth` and `verify`.

use chrono::{DateTime, Utc};

use super::model::KeySecretRow;
use super::rights::Rights;
use super::usage::KeyUsage;

/// An API key found by one of its secrets, with its rights parsed once (it
/// is what the authentication cache holds).
pub struct KeyRecord {
    /// The `aky_` id of the key.
    pub key_id: String,
    /// The key's organization.
    pub organization_id: String,
    /// Whether the key authenticates.
    pub enabled: bool,
    /// The key's rights.
    pub rights: Rights,
    /// The secret presented.
    pub secret: KeySecretRow,
    /// Its limits and balance, and its identity's.
    pub usage: KeyUsage,
}

/// Why a known key does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// `enabled` is false.
    Disabled,
    /// Past `expires_at`, or a pending secret past its grace.
    Expired,
}

impl KeyRecord {
    /// Whether the key (and this secret of it) works at `at`.
    pub fn ensure_usable(&self, at: DateTime<Utc>) -> Result<(), Unusable> {
        if !self.enabled {
            return Err(Unusable::Disabled);
        }
        let past = self.rights.expires_at.is_some_and(|t| t <= at);
        if past || self.secret.has_ended(at) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }
}

/// A cluster or cluster service key found by its hash (what the cluster key
/// cache holds).
pub struct ClusterKeyRecord {
    /// The secret presented.
    pub secret: KeySecretRow,
    /// The cluster it belongs to.
    pub cluster_id: String,
    /// The service's name (`eis`, `auto_ops`), for a service key.
    pub service: Option<String>,
}
