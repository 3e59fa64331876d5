//! Rows of `api_proxies` and `api_proxy_keys`. Rows never derive
//! `Serialize`, and `Debug` leaves the sealed secret key out.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{api_proxies, api_proxy_keys};

/// One API proxy.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_proxies)]
pub struct ApiProxyRow {
    /// `apx_` id.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// The project.
    pub project_id: String,
    /// Name, unique per project.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Where the proxy forwards to.
    pub upstream_url: Option<String>,
    /// The public key, as set.
    pub public_key: Option<String>,
    /// The secret key's AES-256-GCM envelope.
    pub secret_key: Option<Vec<u8>>,
    /// Last four characters of a secret key of at least 12 characters.
    pub secret_key_last4: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for ApiProxyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiProxyRow")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("secret_key_set", &self.secret_key.is_some())
            .finish_non_exhaustive()
    }
}

impl ApiProxyRow {
    /// The `ETag` of this version of the proxy.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}

/// A PATCH changeset: `None` leaves a column alone, `Some(None)` sets NULL.
#[derive(Debug, Default, Clone, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = api_proxies)]
pub struct ApiProxyChanges {
    /// New description, or NULL.
    pub description: Option<Option<String>>,
    /// New upstream URL, or NULL.
    pub upstream_url: Option<Option<String>>,
    /// Always set when written.
    pub updated_at: Option<NaiveDateTime>,
}

/// The keyed hash of one key a proxy holds. No `Debug`, so the hash of a
/// low-entropy key cannot reach a log line.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_proxy_keys)]
pub struct ApiProxyKeyRow {
    /// Owning organization.
    pub organization_id: String,
    /// Hex HMAC-SHA256 of the key.
    pub key_hash: String,
    /// The proxy.
    pub api_proxy_id: String,
    /// `public` or `secret`.
    pub kind: String,
    /// When the key was set.
    pub created_at: NaiveDateTime,
}

/// What `set_keys` writes to the proxy: a `None` key stays as it is.
/// `Debug` leaves the sealed secret out.
#[derive(Clone, AsChangeset)]
#[diesel(table_name = api_proxies)]
pub struct KeyChanges {
    /// New public key.
    pub public_key: Option<String>,
    /// New sealed secret key.
    pub secret_key: Option<Vec<u8>>,
    /// Its last four characters, or NULL for a short key.
    pub secret_key_last4: Option<Option<String>>,
    /// The change time.
    pub updated_at: NaiveDateTime,
}
