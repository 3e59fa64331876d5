//! The wire shapes every key-rotating operation shares: the optional body
//! of `rotate_*`, the answer of `revoke_pending_*`, and the view of a
//! pending key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::model::{KeySecretRow, DEFAULT_GRACE_SECONDS};

/// Body of every `rotate` operation.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the previous key keeps working, in seconds: 0 (stops at
    /// once) to 2,592,000 (30 days); default 604,800 (7 days).
    #[serde(default, deserialize_with = "crate::fields::present_whole")]
    #[validate(range(min = 0, max = 2_592_000, message = "must be between 0 and 2592000"))]
    #[schema(
        nullable = false,
        minimum = 0,
        maximum = 2_592_000,
        default = 604_800,
        example = 86_400
    )]
    pub grace_period_seconds: Option<i64>,
}

impl RotateKey {
    /// The grace period to use.
    pub fn grace_seconds(&self) -> i64 {
        self.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS)
    }
}

/// Body of every `revoke_pending` operation's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedPending {
    /// How many pending keys stopped working.
    #[schema(example = 1, minimum = 0)]
    pub revoked: usize,
}

/// A previous key still valid during its grace period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingKey {
    /// The first ten characters of the previous key.
    #[schema(example = "kg_ak_Zx81")]
    pub key_prefix: String,
    /// The last four characters of the previous key.
    #[schema(example = "Qw3e")]
    pub key_last4: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl From<&KeySecretRow> for PendingKey {
    fn from(row: &KeySecretRow) -> Self {
        PendingKey {
            key_prefix: row.key_prefix.clone(),
            key_last4: row.key_last4.clone(),
            expires_at: row
                .pending_expires_at
                .map(|t| t.and_utc())
                .unwrap_or_default(),
        }
    }
}
