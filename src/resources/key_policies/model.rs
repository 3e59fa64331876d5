//! Rows of `key_policies`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::key_policies;

/// One organization's key safety settings, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_policies)]
pub struct KeyPolicyRow {
    /// The organization.
    pub organization_id: String,
    /// `disable` or `revoke`.
    pub leak_response: String,
    /// Longest lifetime of an API key, if limited.
    pub max_key_lifetime_seconds: Option<i64>,
    /// Whether API keys must expire.
    pub require_expiry: bool,
    /// Last change (the organization's creation for the defaults).
    pub updated_at: NaiveDateTime,
}

impl KeyPolicyRow {
    /// The `ETag` of the policy.
    pub fn etag(&self) -> String {
        crate::db::version::etag(
            &format!("{}/key_policy", self.organization_id),
            self.updated_at,
        )
    }
}
