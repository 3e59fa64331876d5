//! Rows of `identities`. Rows never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::identities;

/// One identity.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct IdentityRow {
    /// `idn_` id.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// The customer's own id, unique per organization.
    pub external_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Metadata JSON.
    pub metadata: Option<String>,
    /// Shared rate limits JSON.
    pub ratelimits: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl IdentityRow {
    /// The `ETag` of this version of the identity.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}

/// A PATCH changeset: `None` leaves a column alone, `Some(None)` sets NULL.
#[derive(Debug, Default, Clone, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = identities)]
pub struct IdentityChanges {
    /// New external id.
    pub external_id: Option<String>,
    /// New name, or NULL.
    pub name: Option<Option<String>>,
    /// New metadata JSON, or NULL.
    pub metadata: Option<Option<String>>,
    /// New rate limits JSON, or NULL.
    pub ratelimits: Option<Option<String>>,
    /// Always set when written.
    pub updated_at: Option<NaiveDateTime>,
}
