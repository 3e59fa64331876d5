//! Storage of API keys: plain functions over a connection, each mutation in
//! one transaction with its audit event; writes to an existing key check
//! `If-Match` against the loaded row inside that transaction. The secrets
//! themselves are the issued-keys room's (`crate::keys`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnet::IpNet;

use super::model::{cidrs_json, policy_json, scopes_json, ApiKeyChanges, ApiKeyRow};
use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::api_keys;
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::keys::dto::PendingKey;
use crate::keys::format::{self, GeneratedKey, KeyKind};
use crate::keys::repo::{self as rotation, Owner};
use crate::keys::rights::{ApiPolicy, Rights, Role};
use crate::keys::OWNER_API_KEY;

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
    /// Resource scopes, if scoped.
    pub resource_scopes: Option<Vec<String>>,
}

impl NewApiKey {
    /// The rights the new key would hold.
    pub fn rights(&self) -> Rights {
        Rights {
            role: self.role,
            policy: self.policy.clone(),
            allowed_cidrs: self.allowed_cidrs.clone(),
            expires_at: self.expires_at,
            resource_scopes: self.resource_scopes.clone(),
        }
    }
}

fn owner<'a>(organization_id: &'a str, id: &'a str) -> Owner<'a> {
    Owner {
        organization_id,
        kind: OWNER_API_KEY,
        id,
    }
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
        format::generate(KeyKind::ApiKey),
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
        resource_scopes: input.resource_scopes.as_deref().map(scopes_json),
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
    /// Only keys scoped to this resource scope (a well-formed scope, as
    /// `dto::check_resource_scopes` allows).
    pub scope: Option<String>,
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
    if let Some(scope) = &filter.scope {
        // The stored JSON array holds the scope as `"scope"` (scopes have no
        // character JSON escapes). A case-sensitive substring test: SQLite's
        // LIKE ignores ASCII case, so each backend's own function.
        let function = match conn {
            AnyConnection::Sqlite(_) => "instr",
            AnyConnection::Postgresql(_) => "strpos",
        };
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "{function}(api_keys.resource_scopes, "
            ))
            .bind::<diesel::sql_types::Text, _>(format!("\"{scope}\""))
            .sql(") > 0"),
        );
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

/// One key of the organization and its still-working pending keys, or 404.
pub fn get_with_pending(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<(ApiKeyRow, Vec<PendingKey>), ApiError> {
    let row = get(conn, organization_id, id)?;
    let mut pending = pending_keys(conn, std::slice::from_ref(&row.id))?;
    let of_row = pending.remove(&row.id).unwrap_or_default();
    Ok((row, of_row))
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

/// Takes a key for the write's transaction (`db::version::lock`), loads it
/// and checks `If-Match` against it.
fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> Result<ApiKeyRow, ApiError> {
    version::lock(conn, api_keys::table.filter(api_keys::id.eq(id)))?;
    let current = get(conn, organization_id, id)?;
    if_match.check(&current.etag())?;
    Ok(current)
}

/// A change to a key: only the fields given change; `Some(None)` clears
/// `api_policy`, `allowed_cidrs` and `expires_at`.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyPatch {
    /// New name.
    pub name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New policy, or none.
    pub api_policy: Option<Option<ApiPolicy>>,
    /// New networks, or any address.
    pub allowed_cidrs: Option<Option<Vec<IpNet>>>,
    /// New expiry, or never.
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl ApiKeyPatch {
    /// The changeset, and the rights a key holding `current` would have
    /// afterwards.
    pub fn apply(self, current: &Rights) -> (ApiKeyChanges, Rights) {
        let mut after = current.clone();
        if let Some(policy) = &self.api_policy {
            after.policy = policy.clone();
        }
        if let Some(cidrs) = &self.allowed_cidrs {
            after.allowed_cidrs = cidrs.clone();
        }
        if let Some(expires_at) = self.expires_at {
            after.expires_at = expires_at;
        }
        let changes = ApiKeyChanges {
            name: self.name,
            enabled: self.enabled,
            api_policy: self.api_policy.map(|p| p.as_ref().map(policy_json)),
            allowed_cidrs: self.allowed_cidrs.map(|c| c.as_deref().map(cidrs_json)),
            expires_at: self.expires_at.map(|t| t.map(|t| t.naive_utc())),
            updated_at: None,
        };
        (changes, after)
    }
}

/// Applies a patch for a caller holding `caller` rights: the caller must
/// hold at least the key's rights before and after the change (403
/// `exceeds_caller_rights`). `If-Match`, the write and the audit event as
/// [`update`].
pub fn update_within(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    caller: &Rights,
    patch: ApiKeyPatch,
    audit: AuditEvent,
) -> Result<ApiKeyRow, ApiError> {
    update(
        conn,
        organization_id,
        id,
        if_match,
        |current| {
            let before = current.rights()?;
            before.ensure_within(caller)?;
            let (changes, after) = patch.apply(&before);
            after.ensure_within(caller)?;
            Ok(changes)
        },
        audit,
    )
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
        // Cached look-ups hold the key's rights and `enabled`.
        rotation::changed(owner(organization_id, id));
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// The check every write to an existing key makes for a caller holding
/// `caller` rights: the caller must hold at least the key's rights.
pub fn within(caller: &Rights) -> impl Fn(&ApiKeyRow) -> Result<(), ApiError> + '_ {
    move |current| current.rights()?.ensure_within(caller)
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
        let current = get_for_write(conn, organization_id, id, &IfMatch::default())?;
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
