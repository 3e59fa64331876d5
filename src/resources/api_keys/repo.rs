//! Storage of API keys: plain functions over a connection, each mutation in
//! one transaction with its audit event; writes to an existing key check
//! `If-Match` against the loaded row inside that transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnet::IpNet;

use super::model::{cidrs_json, policy_json, ApiKeyChanges, ApiKeyRow, OWNER_API_KEY};
use crate::audit::AuditEvent;
use crate::auth::key_format::{GeneratedKey, KeyKind};
use crate::auth::{ApiPolicy, Rights, Role};
use crate::conditional::IfMatch;
use crate::db::schema::{api_keys, key_secrets};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::resources::Page;
use crate::rotation::{self, KeySecretRow, Owner, PendingKey};

/// What a new key is made of.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Policy, if narrowed.
    pub policy: Option<ApiPolicy>,
    /// Allowed addresses, if restricted.
    pub allowed_cidrs: Option<Vec<IpNet>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it starts enabled.
    pub enabled: bool,
}

impl NewApiKey {
    /// The rights the new key would hold.
    pub fn rights(&self) -> Rights {
        Rights {
            role: self.role,
            policy: self.policy.clone(),
            allowed_cidrs: self.allowed_cidrs.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// An API key found by one of its secrets, with its rights parsed once (it
/// is what the authentication cache holds).
pub struct KeyRecord {
    /// The key.
    pub api_key: ApiKeyRow,
    /// The secret presented.
    pub secret: KeySecretRow,
    /// The key's rights.
    pub rights: Rights,
}

/// Why a known key does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// `enabled` is false.
    Disabled,
    /// Past `expires_at`, or a pending secret past its grace.
    Expired,
}

impl KeyRecord {
    /// Whether the key (and this secret of it) works at `at`.
    pub fn ensure_usable(&self, at: DateTime<Utc>) -> Result<(), Unusable> {
        if !self.api_key.enabled {
            return Err(Unusable::Disabled);
        }
        let past = self.api_key.expires_at.is_some_and(|t| t.and_utc() <= at);
        if past || self.secret.has_ended(at) {
            return Err(Unusable::Expired);
        }
        Ok(())
    }
}

fn owner<'a>(organization_id: &'a str, id: &'a str) -> Owner<'a> {
    Owner {
        organization_id,
        kind: OWNER_API_KEY,
        id,
    }
}

/// Finds the API key a presented key's hash belongs to.
pub fn find_by_secret(conn: &mut AnyConnection, hash: &str) -> Result<Option<KeyRecord>, ApiError> {
    let found = key_secrets::table
        .inner_join(api_keys::table.on(api_keys::id.eq(key_secrets::owner_id)))
        .filter(key_secrets::key_hash.eq(hash))
        .filter(key_secrets::owner_kind.eq(OWNER_API_KEY))
        .select((ApiKeyRow::as_select(), KeySecretRow::as_select()))
        .first::<(ApiKeyRow, KeySecretRow)>(conn)
        .optional()?;
    found
        .map(|(api_key, secret)| {
            let rights = api_key.rights()?;
            Ok(KeyRecord {
                api_key,
                secret,
                rights,
            })
        })
        .transpose()
}

/// Inserts a key and a new first secret, inside the caller's transaction.
pub fn insert(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewApiKey,
) -> QueryResult<(ApiKeyRow, GeneratedKey)> {
    insert_with_secret(
        conn,
        organization_id,
        input,
        crate::auth::key_format::generate(KeyKind::ApiKey),
    )
}

/// Inserts a key whose secret is given (the bootstrap key may be supplied).
pub fn insert_with_secret(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewApiKey,
    key: GeneratedKey,
) -> QueryResult<(ApiKeyRow, GeneratedKey)> {
    let at = now().naive_utc();
    let row = ApiKeyRow {
        id: new_id("aky_"),
        organization_id: organization_id.to_owned(),
        name: input.name.clone(),
        api_key_role: input.role.as_str().to_owned(),
        api_policy: input.policy.as_ref().map(policy_json),
        enabled: input.enabled,
        allowed_cidrs: input.allowed_cidrs.as_deref().map(cidrs_json),
        expires_at: input.expires_at.map(|t| t.naive_utc()),
        key_prefix: key.display_prefix(),
        key_last4: key.last4(),
        created_at: at,
        updated_at: at,
        last_used_at: None,
    };
    diesel::insert_into(api_keys::table)
        .values(&row)
        .execute(conn)?;
    let key = rotation::issue_given(conn, owner(organization_id, &row.id), key)?;
    Ok((row, key))
}

/// Creates a key with its audit event in one transaction.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewApiKey,
    audit: AuditEvent,
) -> Result<(ApiKeyRow, GeneratedKey), ApiError> {
    conn.transaction(|conn| {
        let (row, key) = insert(conn, organization_id, input)?;
        audit.for_resource(&row.id).record(conn)?;
        Ok((row, key))
    })
}

/// Filters of the list operation.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only enabled or only disabled keys.
    pub enabled: Option<bool>,
}

/// One page of an organization's keys, oldest first; fetches one extra row
/// so the caller can tell whether there is a next page.
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    filter: &ListFilter,
    page: &Page,
) -> Result<Vec<ApiKeyRow>, ApiError> {
    let mut query = api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .select(ApiKeyRow::as_select())
        .order(api_keys::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(role) = filter.role {
        query = query.filter(api_keys::api_key_role.eq(role.as_str()));
    }
    if let Some(enabled) = filter.enabled {
        query = query.filter(api_keys::enabled.eq(enabled));
    }
    if let Some(after) = &page.after {
        query = query.filter(api_keys::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// The still-working pending keys of the given API keys, by key id.
pub fn pending_keys(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<PendingKey>>, ApiError> {
    let mut out: HashMap<String, Vec<PendingKey>> = HashMap::new();
    for row in rotation::pending_of(conn, OWNER_API_KEY, ids)? {
        out.entry(row.owner_id.clone())
            .or_default()
            .push(PendingKey::from(&row));
    }
    Ok(out)
}

/// One key of the organization, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<ApiKeyRow, ApiError> {
    api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("api key", id))
}

/// Loads a key for a write and checks `If-Match` against it.
fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> Result<ApiKeyRow, ApiError> {
    let current = get(conn, organization_id, id)?;
    if_match.check(&current.etag())?;
    Ok(current)
}

/// Loads a key, checks `If-Match`, lets `change` decide the changes (and
/// refuse them), writes them and the audit event, all in one transaction.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    change: impl FnOnce(&ApiKeyRow) -> Result<ApiKeyChanges, ApiError>,
    audit: AuditEvent,
) -> Result<ApiKeyRow, ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        let mut changes = change(&current)?;
        changes.updated_at = Some(now().naive_utc());
        diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
            .set(&changes)
            .execute(conn)?;
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// Deletes a key and all its secrets after `check` approves, with the audit
/// event, in one transaction.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    check: impl FnOnce(&ApiKeyRow) -> Result<(), ApiError>,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        check(&current)?;
        rotation::delete_all(conn, owner(organization_id, id))?;
        diesel::delete(api_keys::table.filter(api_keys::id.eq(id)))
            .execute(conn)
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!("api key {id} is used by a connector")
                })
            })?;
        audit.record(conn)?;
        Ok(())
    })
}

/// Rotates a key: a new secret, the previous one pending for the grace
/// period; `check` may refuse first. One transaction with the audit event.
pub fn rotate(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    grace_seconds: i64,
    check: impl FnOnce(&ApiKeyRow) -> Result<(), ApiError>,
    audit: AuditEvent,
) -> Result<(ApiKeyRow, GeneratedKey), ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        check(&current)?;
        let key = rotation::rotate(
            conn,
            owner(organization_id, id),
            KeyKind::ApiKey,
            grace_seconds,
        )?;
        diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
            .set((
                api_keys::key_prefix.eq(key.display_prefix()),
                api_keys::key_last4.eq(key.last4()),
                api_keys::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        audit.record(conn)?;
        Ok((get(conn, organization_id, id)?, key))
    })
}

/// Ends every pending secret of a key now; returns how many, with the audit
/// event, in one transaction.
pub fn revoke_pending(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    check: impl FnOnce(&ApiKeyRow) -> Result<(), ApiError>,
    audit: AuditEvent,
) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let current = get(conn, organization_id, id)?;
        check(&current)?;
        let revoked = rotation::revoke_pending(conn, owner(organization_id, id))?;
        if revoked > 0 {
            // The view lists pending keys, so its version changes too.
            diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
                .set(api_keys::updated_at.eq(now().naive_utc()))
                .execute(conn)?;
        }
        audit.record(conn)?;
        Ok(revoked)
    })
}
