//! Rows of `key_secrets`: the hash of every issued key and whose it is,
//! current or pending. Rows have no `Debug`, so a hash cannot reach a log.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::key_secrets;

/// `state` of the secret a key was last issued or rotated to.
pub const STATE_CURRENT: &str = "current";
/// `state` of a secret that works until its grace period ends.
pub const STATE_PENDING: &str = "pending";
/// Grace period when a rotation names none: seven days.
pub const DEFAULT_GRACE_SECONDS: i64 = 604_800;
/// Longest grace period: thirty days.
pub const MAX_GRACE_SECONDS: i64 = 2_592_000;

/// A usable secret: the hash of a key and whose it is. No `Debug`, so a
/// hash cannot reach a log line.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_secrets)]
pub struct KeySecretRow {
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// Owning organization.
    pub organization_id: String,
    /// `api_key`, ...
    pub owner_kind: String,
    /// Id of the owner.
    pub owner_id: String,
    /// First ten characters of the key.
    pub key_prefix: String,
    /// Last four characters of the key.
    pub key_last4: String,
    /// `current` or `pending`.
    pub state: String,
    /// When a pending secret stops working.
    pub pending_expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl KeySecretRow {
    /// Whether this is a pending (rotated-away) secret.
    pub fn is_pending(&self) -> bool {
        self.state == STATE_PENDING
    }

    /// Whether this is a pending secret whose grace period has ended by
    /// `at` (so it no longer works, though it may not be deleted yet).
    pub fn has_ended(&self, at: DateTime<Utc>) -> bool {
        self.pending_expires_at.is_some_and(|t| t.and_utc() <= at)
    }
}
