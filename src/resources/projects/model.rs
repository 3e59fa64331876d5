//! Rows of `projects`. Rows never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::projects;

/// One project.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    /// `prj_` id.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Name, unique per organization.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl ProjectRow {
    /// The `ETag` of this version of the project.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}

/// A PATCH changeset: `None` leaves a column alone, `Some(None)` sets NULL.
#[derive(Debug, Default, Clone, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = projects)]
pub struct ProjectChanges {
    /// New description, or NULL.
    pub description: Option<Option<String>>,
    /// Always set when written.
    pub updated_at: Option<NaiveDateTime>,
}
