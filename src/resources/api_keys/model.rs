//! Rows of `api_keys`. Rows never derive `Serialize`; the secrets live in
//! `key_secrets` (see `crate::keys`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use ipnet::IpNet;

use crate::db::schema::api_keys;
use crate::error::ApiError;
use crate::keys::rights::{ApiPolicy, Rights};
use crate::keys::usage::RateLimit;

/// One API key's metadata.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    /// `aky_` id.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Display name.
    pub name: String,
    /// Role name.
    pub api_key_role: String,
    /// Policy JSON.
    pub api_policy: Option<String>,
    /// Whether it authenticates.
    pub enabled: bool,
    /// CIDR list JSON.
    pub allowed_cidrs: Option<String>,
    /// Expiry.
    pub expires_at: Option<NaiveDateTime>,
    /// Resource scopes JSON.
    pub resource_scopes: Option<String>,
    /// Display prefix of the current secret.
    pub key_prefix: String,
    /// Last four characters of the current secret.
    pub key_last4: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Last use.
    pub last_used_at: Option<NaiveDateTime>,
    /// When it was deleted (kept for the recovery window); `None` if live.
    pub deleted_at: Option<NaiveDateTime>,
    /// The identity it belongs to.
    pub identity_id: Option<String>,
    /// Its own rate limits, JSON.
    pub ratelimits: Option<String>,
}

impl ApiKeyRow {
    /// The `ETag` of this version of the key.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }

    /// The rights stored in the row.
    pub fn rights(&self) -> Result<Rights, ApiError> {
        Rights::from_stored(
            &self.api_key_role,
            self.api_policy.as_deref(),
            self.allowed_cidrs.as_deref(),
            self.expires_at.map(|t| t.and_utc()),
            self.resource_scopes.as_deref(),
        )
        .map_err(|what| ApiError::internal(format!("api key {} has a corrupt {what}", self.id)))
    }

    /// The key's own rate limits.
    pub fn ratelimits(&self) -> Result<Vec<RateLimit>, ApiError> {
        RateLimit::from_stored(self.ratelimits.as_deref())
            .map_err(|what| ApiError::internal(format!("api key {} has a corrupt {what}", self.id)))
    }
}

/// The stored form of resource scopes.
pub fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).expect("a list of strings serializes")
}

/// The stored form of a policy.
pub fn policy_json(policy: &ApiPolicy) -> String {
    serde_json::to_string(policy).expect("policy serializes")
}

/// The stored form of a CIDR list.
pub fn cidrs_json(cidrs: &[IpNet]) -> String {
    serde_json::to_string(cidrs).expect("cidrs serialize")
}

/// A changeset for PATCH; `Some(None)` sets a column to NULL.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyChanges {
    /// New name.
    pub name: Option<String>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New policy JSON, or NULL.
    pub api_policy: Option<Option<String>>,
    /// New CIDR JSON, or NULL.
    pub allowed_cidrs: Option<Option<String>>,
    /// New expiry, or NULL.
    pub expires_at: Option<Option<NaiveDateTime>>,
    /// New identity, or NULL.
    pub identity_id: Option<Option<String>>,
    /// New rate limits JSON, or NULL.
    pub ratelimits: Option<Option<String>>,
    /// Always set.
    pub updated_at: Option<NaiveDateTime>,
}
