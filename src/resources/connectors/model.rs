//! Rows of `connectors`. Rows never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::connectors;

/// One connector.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = connectors)]
pub struct ConnectorRow {
    /// Owning organization.
    pub organization_id: String,
    /// Caller-chosen or `con_` id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Target index.
    pub index_name: Option<String>,
    /// Service type.
    pub service_type: Option<String>,
    /// API key the connector uses.
    pub api_key_id: Option<String>,
    /// Secret holding that key's encoded value.
    pub api_key_secret_id: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl ConnectorRow {
    /// The `ETag` of this version of the connector.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}

/// A changeset for PATCH, PUT and `api_key_id`; `None` leaves a column
/// alone, `Some(None)` sets it to NULL.
#[derive(Debug, Default, Clone, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = connectors)]
pub struct ConnectorChanges {
    /// New name, or NULL.
    pub name: Option<Option<String>>,
    /// New description, or NULL.
    pub description: Option<Option<String>>,
    /// New index name, or NULL.
    pub index_name: Option<Option<String>>,
    /// New service type, or NULL.
    pub service_type: Option<Option<String>>,
    /// New API key id, or NULL.
    pub api_key_id: Option<Option<String>>,
    /// New secret id, or NULL.
    pub api_key_secret_id: Option<Option<String>>,
    /// Always set when written.
    pub updated_at: Option<NaiveDateTime>,
}

impl ConnectorChanges {
    /// Whether applying the changes to `row` would change nothing (ignoring
    /// `updated_at`).
    pub fn is_noop_for(&self, row: &ConnectorRow) -> bool {
        fn same(change: &Option<Option<String>>, current: &Option<String>) -> bool {
            change.as_ref().is_none_or(|value| value == current)
        }
        same(&self.name, &row.name)
            && same(&self.description, &row.description)
            && same(&self.index_name, &row.index_name)
            && same(&self.service_type, &row.service_type)
            && same(&self.api_key_id, &row.api_key_id)
            && same(&self.api_key_secret_id, &row.api_key_secret_id)
    }
}
