//! Rows of `secrets`. The `value` column holds an AES-256-GCM envelope,
//! never plaintext; rows have no `Debug` and never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::secrets;

/// One stored secret.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = secrets)]
pub struct SecretRow {
    /// Owning organization.
    pub organization_id: String,
    /// Id, unique in the organization.
    pub id: String,
    /// Optional description.
    pub description: Option<String>,
    /// The sealed value.
    pub value: Vec<u8>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When it was deleted; such a secret is kept only for the recovery
    /// window, and only a list with `include_deleted` and `undelete` see it.
    pub deleted_at: Option<NaiveDateTime>,
}

impl SecretRow {
    /// The `ETag` of this version.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}
