//! The body and view of an organization's key policy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::domain::{KeyPolicy, LeakResponse};
use super::model::KeyPolicyRow;
use super::repo::KeyPolicyPatch;
use crate::error::ApiError;
use crate::fields::present;

/// The longest `max_key_lifetime_seconds`: ten years.
pub const MAX_LIFETIME_LIMIT: i64 = 315_360_000;

/// An organization's key policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPolicyView {
    /// The organization.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// What a GitHub secret scanning alert does to a reported key:
    /// `disable` (the default) or `revoke`.
    pub leak_response: LeakResponse,
    /// The longest lifetime an API key may be given, in seconds, counted
    /// from the create, update or rotate that gives it; `null`: no limit. A
    /// limit also requires every key to have an `expires_at`.
    #[schema(required = true, nullable = true, example = 7_776_000)]
    pub max_key_lifetime_seconds: Option<i64>,
    /// Whether every API key must have an `expires_at`.
    pub require_expiry: bool,
    /// Last change (the organization's creation while it has the defaults).
    pub updated_at: DateTime<Utc>,
}

impl From<&KeyPolicyRow> for KeyPolicyView {
    fn from(row: &KeyPolicyRow) -> Self {
        let policy = KeyPolicy::from_row(row);
        KeyPolicyView {
            organization_id: row.organization_id.clone(),
            leak_response: policy.leak_response,
            max_key_lifetime_seconds: policy.max_key_lifetime_seconds,
            require_expiry: policy.require_expiry,
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// Body of `update_key_policy`: only the fields present change; `null`
/// lifts the lifetime limit. Keys that break a stricter policy keep
/// working; `GET /v1/api_keys?violates_policy=true` lists them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyPolicy {
    /// `disable` or `revoke`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub leak_response: Option<LeakResponse>,
    /// New limit in seconds (60 to 315,360,000), or `null` for none.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(minimum = 60, maximum = 315_360_000, example = 7_776_000)]
    pub max_key_lifetime_seconds: Option<Option<i64>>,
    /// Whether every API key must have an `expires_at`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub require_expiry: Option<bool>,
}

impl UpdateKeyPolicy {
    /// The change, once the limit is within its range.
    pub fn into_patch(self) -> Result<KeyPolicyPatch, ApiError> {
        if let Some(Some(seconds)) = self.max_key_lifetime_seconds {
            if !(60..=MAX_LIFETIME_LIMIT).contains(&seconds) {
                return Err(ApiError::invalid_field(
                    "max_key_lifetime_seconds",
                    "range",
                    "must be 60 to 315360000 seconds",
                ));
            }
        }
        Ok(KeyPolicyPatch {
            leak_response: self.leak_response,
            max_key_lifetime_seconds: self.max_key_lifetime_seconds,
            require_expiry: self.require_expiry,
        })
    }
}
