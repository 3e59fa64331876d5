//! Storage of API proxies and their keys: plain functions over a
//! connection, each mutation in one transaction with its audit event.
//!
//! Keys are unique in the organization, public and secret alike: each key a
//! proxy holds has a row in `api_proxy_keys` whose primary key is
//! (organization, keyed hash). The hash is an HMAC under a key derived from
//! the master key, so a stolen database cannot be searched for guessed
//! keys; the secret key's value is sealed with the envelope, bound to its
//! row and field.

use diesel::prelude::*;
use subtle::{Choice, ConstantTimeEq};

use super::model::{ApiProxyChanges, ApiProxyKeyRow, ApiProxyRow, KeyChanges};
use crate::audit::AuditEvent;
use crate::crypto::envelope::Place;
use crate::crypto::rekey::{Batch, Cursor, SealedColumn, Store};
use crate::crypto::vault::Vault;
use crate::db::page::Page;
use crate::db::schema::{api_proxies, api_proxy_keys};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::resources::projects::model::ProjectRow;
use crate::resources::projects::repo as projects;

/// Domain of the keyed hashes of proxy keys (scope: the organization).
const KEY_HASH_DOMAIN: &str = "api_proxy_key";
/// `kind` of a public key's hash row.
const PUBLIC: &str = "public";
/// `kind` of a secret key's hash row.
const SECRET: &str = "secret";
/// Secret keys shorter than this show no last four characters.
pub const LAST4_MIN_LENGTH: usize = 12;

/// The 404 of an API proxy that does not exist, in Apinizer's words.
pub fn proxy_not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("ApiProxy (name: {name}) was not found!"))
}

/// The secret keys' envelopes, for `keygate rekey`.
pub const SEALED_SECRET_KEY: SealedColumn = SealedColumn {
    table: "api_proxies",
    column: "secret_key",
};

fn secret_place<'a>(organization_id: &'a str, id: &'a str) -> Place<'a> {
    SEALED_SECRET_KEY.place(organization_id, id)
}

/// What `create` stores.
#[derive(Debug, Clone, Default)]
pub struct NewApiProxy {
    /// Name, unique in the project.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Absolute http(s) URL.
    pub upstream_url: Option<String>,
}

/// The keys `set_keys` sets; `None` leaves a key as it is. `Debug` hides
/// the secret key.
#[derive(Clone, Default)]
pub struct NewKeys {
    /// New public key.
    pub public_key: Option<String>,
    /// New secret key.
    pub secret_key: Option<String>,
}

impl std::fmt::Debug for NewKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeys")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The project of this name and its proxy of this name; 404 naming the
/// project, or the proxy, whichever is missing.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    name: &str,
) -> Result<(ProjectRow, ApiProxyRow), ApiError> {
    let project = projects::get(conn, organization_id, project_name)?;
    let proxy = proxy_of(conn, &project, name)?;
    Ok((project, proxy))
}

fn proxy_of(
    conn: &mut AnyConnection,
    project: &ProjectRow,
    name: &str,
) -> Result<ApiProxyRow, ApiError> {
    api_proxies::table
        .filter(api_proxies::project_id.eq(&project.id))
        .filter(api_proxies::name.eq(name))
        .select(ApiProxyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| proxy_not_found(name))
}

/// [`get`] for a write: the proxy is taken for the write's transaction
/// (`db::version::lock`) before it is loaded, and `If-Match` is checked.
fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    name: &str,
    if_match: &IfMatch,
) -> Result<(ProjectRow, ApiProxyRow), ApiError> {
    let project = projects::get(conn, organization_id, project_name)?;
    version::lock(
        conn,
        api_proxies::table
            .filter(api_proxies::project_id.eq(&project.id))
            .filter(api_proxies::name.eq(name)),
    )?;
    let proxy = proxy_of(conn, &project, name)?;
    if_match.check(&proxy.etag())?;
    Ok((project, proxy))
}

/// Creates a proxy in the project with its audit event; 409
/// `already_exists` when the project has a proxy of that name.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    input: &NewApiProxy,
    audit: AuditEvent,
) -> Result<(ProjectRow, ApiProxyRow), ApiError> {
    conn.transaction(|conn| {
        let project = projects::get(conn, organization_id, project_name)?;
        let at = now().naive_utc();
        let row = ApiProxyRow {
            id: new_id("apx_"),
            organization_id: organization_id.to_owned(),
            project_id: project.id.clone(),
            name: input.name.clone(),
            description: input.description.clone(),
            upstream_url: input.upstream_url.clone(),
            public_key: None,
            secret_key: None,
            secret_key_last4: None,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(api_proxies::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!(
                        "project {project_name} already has an API proxy named {}",
                        input.name
                    )
                })
            })?;
        audit.for_resource(&row.id).record(conn)?;
        Ok((project, row))
    })
}

/// One page of the project's proxies by id (one extra row tells whether
/// there is a next page).
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    page: &Page,
) -> Result<(ProjectRow, Vec<ApiProxyRow>), ApiError> {
    let project = projects::get(conn, organization_id, project_name)?;
    let mut query = api_proxies::table
        .filter(api_proxies::project_id.eq(&project.id))
        .select(ApiProxyRow::as_select())
        .order(api_proxies::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(api_proxies::id.gt(after.clone()));
    }
    let rows = query.load(conn)?;
    Ok((project, rows))
}

fn reload(conn: &mut AnyConnection, id: &str) -> Result<ApiProxyRow, ApiError> {
    Ok(api_proxies::table
        .find(id)
        .select(ApiProxyRow::as_select())
        .first(conn)?)
}

/// Applies PATCH changes after `If-Match`, with the audit event.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    name: &str,
    if_match: &IfMatch,
    mut changes: ApiProxyChanges,
    audit: AuditEvent,
) -> Result<(ProjectRow, ApiProxyRow), ApiError> {
    conn.transaction(|conn| {
        let (project, current) =
            get_for_write(conn, organization_id, project_name, name, if_match)?;
        changes.updated_at = Some(now().naive_utc());
        diesel::update(api_proxies::table.find(&current.id))
            .set(&changes)
            .execute(conn)?;
        audit.for_resource(&current.id).record(conn)?;
        Ok((project, reload(conn, &current.id)?))
    })
}

/// Deletes a proxy and its key hashes after `If-Match`, with the audit
/// event; its keys become free for other proxies.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    project_name: &str,
    name: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        let (_, current) = get_for_write(conn, organization_id, project_name, name, if_match)?;
        diesel::delete(api_proxy_keys::table.filter(api_proxy_keys::api_proxy_id.eq(&current.id)))
            .execute(conn)?;
        diesel::delete(api_proxies::table.find(&current.id)).execute(conn)?;
        audit.for_resource(&current.id).record(conn)?;
        Ok(())
    })
}

/// The last four characters of a secret key long enough to show them.
pub fn last4(secret: &str) -> Option<String> {
    let count = secret.chars().count();
    (count >= LAST4_MIN_LENGTH).then(|| secret.chars().skip(count - 4).collect())
}

/// Sets the keys given (the other stays) after `If-Match`, with the audit
/// event. A key held by another proxy of the organization, or equal to the
/// proxy's other key that is not being replaced, is 409 `duplicate_key`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub fn set_keys(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    project_name: &str,
    name: &str,
    if_match: &IfMatch,
    keys: &NewKeys,
    audit: AuditEvent,
) -> Result<(ProjectRow, ApiProxyRow), ApiError> {
    conn.transaction(|conn| {
        let (project, current) =
            get_for_write(conn, organization_id, project_name, name, if_match)?;
        // Stored keyed hashes depend on the master key: the vault records it,
        // so a start with another key is refused, as for secrets.
        // While a rekeying is under way a key may still be stored under a
        // retired key's hash: the look-up for holders takes every key's.
        let mut given: Vec<(&str, &str, String, Vec<String>)> = Vec::new();
        for (field, kind, value) in [
            ("public_key", PUBLIC, keys.public_key.as_deref()),
            ("secret_key", SECRET, keys.secret_key.as_deref()),
        ] {
            if let Some(value) = value {
                let hash =
                    vault.stored_hash(conn, KEY_HASH_DOMAIN, organization_id, value.as_bytes())?;
                let every = vault
                    .keyed_hashes(KEY_HASH_DOMAIN, organization_id, value.as_bytes())
                    .into_iter()
                    .map(|(_, hash)| hash)
                    .collect();
                given.push((field, kind, hash, every));
            }
        }
        // The kinds being replaced give up their hashes first, so a proxy
        // may swap its two keys or set a key again.
        let kinds: Vec<&str> = given.iter().map(|(_, kind, _, _)| *kind).collect();
        diesel::delete(
            api_proxy_keys::table
                .filter(api_proxy_keys::api_proxy_id.eq(&current.id))
                .filter(api_proxy_keys::kind.eq_any(&kinds)),
        )
        .execute(conn)?;
        let mut taken = Vec::new();
        for (field, _, _, every) in &given {
            let holder: Option<String> = api_proxy_keys::table
                .filter(api_proxy_keys::organization_id.eq(organization_id))
                .filter(api_proxy_keys::key_hash.eq_any(every))
                .select(api_proxy_keys::api_proxy_id)
                .first(conn)
                .optional()?;
            match holder {
                Some(id) if id == current.id => {
                    taken.push(format!("{field} is already this API proxy's other key"));
                }
                Some(_) => taken.push(format!(
                    "{field} is already a key of another API proxy in the organization"
                )),
                None => {}
            }
        }
        if !taken.is_empty() {
            return Err(duplicate_key(taken.join("; ")));
        }
        let at = now().naive_utc();
        // One insert a row: the multi-backend connection has no batch insert.
        for (_, kind, hash, _) in &given {
            let row = ApiProxyKeyRow {
                organization_id: organization_id.to_owned(),
                key_hash: hash.clone(),
                api_proxy_id: current.id.clone(),
                kind: (*kind).to_owned(),
                created_at: at,
            };
            diesel::insert_into(api_proxy_keys::table)
                .values(&row)
                .execute(conn)
                // Another request took the key at the same moment.
                .map_err(|e| match ApiError::from(e) {
                    ApiError::Conflict { .. } => duplicate_key(
                        "a key was taken by another API proxy at the same moment".to_owned(),
                    ),
                    other => other,
                })?;
        }
        let changes = KeyChanges {
            public_key: keys.public_key.clone(),
            secret_key: keys
                .secret_key
                .as_ref()
                .map(|secret| {
                    vault.seal(
                        conn,
                        secret_place(organization_id, &current.id),
                        secret.as_bytes(),
                    )
                })
                .transpose()?,
            secret_key_last4: keys.secret_key.as_deref().map(last4),
            updated_at: at,
        };
        diesel::update(api_proxies::table.find(&current.id))
            .set(&changes)
            .execute(conn)?;
        audit.for_resource(&current.id).record(conn)?;
        Ok((project, reload(conn, &current.id)?))
    })
}

fn duplicate_key(detail: String) -> ApiError {
    ApiError::Conflict {
        code: "duplicate_key",
        detail,
    }
}

/// Whether a presented key pair is the proxy's. The same work is done
/// whatever is wrong: one look-up of the proxy's key hashes, both keyed
/// hashes computed, both compared in constant time and combined without
/// branching, also when the proxy has no keys yet.
pub fn check_keys(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    project_name: &str,
    name: &str,
    public_key: &str,
    secret_key: &str,
) -> Result<bool, ApiError> {
    let (_, proxy) = get(conn, organization_id, project_name, name)?;
    let stored: Vec<(String, String)> = api_proxy_keys::table
        .filter(api_proxy_keys::api_proxy_id.eq(&proxy.id))
        .select((api_proxy_keys::kind, api_proxy_keys::key_hash))
        .load(conn)?;
    // Under every key of the ring: a key stored before a rekeying finished
    // carries a retired key's hash.
    let presented_public =
        vault.keyed_hashes(KEY_HASH_DOMAIN, organization_id, public_key.as_bytes());
    let presented_secret =
        vault.keyed_hashes(KEY_HASH_DOMAIN, organization_id, secret_key.as_bytes());
    let matches = |kind: &str, presented: &[(String, String)]| -> Choice {
        // A hash of the right length stands in for a missing key, so the
        // comparison runs all the same; `present` then says no.
        let stand_in = "0".repeat(presented[0].1.len());
        let found = stored.iter().find(|(k, _)| k == kind);
        let present = Choice::from(u8::from(found.is_some()));
        let hash = found.map_or(stand_in.as_str(), |(_, h)| h.as_str());
        let any = presented.iter().fold(Choice::from(0), |any, (_, p)| {
            any | p.as_bytes().ct_eq(hash.as_bytes())
        });
        present & any
    };
    let valid = matches(PUBLIC, &presented_public) & matches(SECRET, &presented_secret);
    Ok(bool::from(valid))
}

/// The keyed hashes of the proxies' keys, for `keygate rekey`: they depend
/// on the master key too. A proxy's hashes are made again from its public
/// key and its opened secret key, with the proxy taken for the transaction
/// as `set_keys` takes it, so the two never interleave; the row is changed
/// only if it still holds the hash that was read.
#[derive(Debug, Clone, Copy)]
pub struct KeyHashes;

impl Store for KeyHashes {
    fn name(&self) -> String {
        "api_proxy_keys.key_hash".to_owned()
    }

    fn total(&self, conn: &mut AnyConnection) -> Result<u64, ApiError> {
        let n: i64 = api_proxy_keys::table.count().get_result(conn)?;
        Ok(n.max(0) as u64)
    }

    fn batch(
        &self,
        conn: &mut AnyConnection,
        vault: &Vault,
        after: &Cursor,
        limit: i64,
        write: bool,
    ) -> Result<Batch, ApiError> {
        let ids: Vec<(String, String)> = api_proxies::table
            .filter(
                api_proxies::public_key
                    .is_not_null()
                    .or(api_proxies::secret_key.is_not_null()),
            )
            .filter(
                api_proxies::organization_id.gt(&after.organization_id).or(
                    api_proxies::organization_id
                        .eq(&after.organization_id)
                        .and(api_proxies::id.gt(&after.id)),
                ),
            )
            .order((api_proxies::organization_id, api_proxies::id))
            .limit(limit)
            .select((api_proxies::organization_id, api_proxies::id))
            .load(conn)?;
        let mut batch = Batch::default();
        for (organization_id, id) in &ids {
            if write {
                version::lock(conn, api_proxies::table.find(id))?;
            }
            let Some(proxy) = api_proxies::table
                .find(id)
                .select(ApiProxyRow::as_select())
                .first(conn)
                .optional()?
            else {
                continue;
            };
            let stored: Vec<(String, String)> = api_proxy_keys::table
                .filter(api_proxy_keys::api_proxy_id.eq(id))
                .select((api_proxy_keys::kind, api_proxy_keys::key_hash))
                .load(conn)?;
            for (kind, hash) in stored {
                let value = match (kind.as_str(), &proxy.public_key, &proxy.secret_key) {
                    (PUBLIC, Some(public), _) => Some(public.as_bytes().to_vec()),
                    (SECRET, _, Some(sealed)) => {
                        Some(vault.open(secret_place(organization_id, id), sealed)?)
                    }
                    _ => None,
                };
                let made_by = value.as_ref().and_then(|value| {
                    vault
                        .keyed_hashes(KEY_HASH_DOMAIN, organization_id, value)
                        .into_iter()
                        .find(|(_, candidate)| *candidate == hash)
                        .map(|(key_id, _)| key_id)
                });
                let Some(made_by) = made_by else {
                    batch.count("unknown".to_owned());
                    continue;
                };
                let active = made_by == vault.active_key_id();
                batch.count(made_by);
                let Some(value) = value.filter(|_| write && !active) else {
                    continue;
                };
                let rehashed = vault.stored_hash(conn, KEY_HASH_DOMAIN, organization_id, &value)?;
                let changed = diesel::update(
                    api_proxy_keys::table
                        .filter(api_proxy_keys::organization_id.eq(organization_id))
                        .filter(api_proxy_keys::key_hash.eq(&hash))
                        .filter(api_proxy_keys::api_proxy_id.eq(id))
                        .filter(api_proxy_keys::kind.eq(&kind)),
                )
                .set(api_proxy_keys::key_hash.eq(&rehashed))
                .execute(conn)?;
                batch.wrote(changed);
            }
        }
        let last = ids.last().map(|(o, i)| (o.as_str(), i.as_str()));
        batch.continue_after(ids.len(), limit, last);
        Ok(batch)
    }
}
