//! Rows of `organizations`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::organizations;

/// One organization.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    /// `org_` id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Whether this is the first organization.
    pub is_root: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl OrganizationRow {
    /// The `ETag` of the organization (it changes only by being recreated).
    pub fn etag(&self) -> String {
        crate::conditional::etag(&self.id, self.created_at)
    }
}
