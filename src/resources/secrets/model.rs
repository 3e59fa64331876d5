//! Rows of `secrets`. The `value` column holds an AES-256-GCM envelope,
//! never plaintext; rows have no `Debug` and never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{secret_versions, secrets};

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
    /// Number of the current value (1 for the first).
    pub version: i64,
    /// When it was deleted; such a secret is kept only for the recovery
    /// window, and only a list with `include_deleted` and `undelete` see it.
    pub deleted_at: Option<NaiveDateTime>,
}

/// A value a secret had before its current one.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = secret_versions)]
pub struct SecretVersionRow {
    /// Owning organization.
    pub organization_id: String,
    /// `<secret_id>/<version>`: the place its envelope is bound to.
    pub id: String,
    /// The secret.
    pub secret_id: String,
    /// Its number.
    pub version: i64,
    /// The sealed value.
    pub value: Vec<u8>,
    /// When this value was set.
    pub created_at: NaiveDateTime,
}

impl SecretRow {
    /// The `ETag` of this version.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}
