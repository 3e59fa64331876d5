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
use crate::db::schema::{api_keys, connectors, credits as credit_rows, identities, key_secrets};
use crate::db::version::{self, IfMatch};
use crate::db::{atomic, new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::keys::credits::{self, CreditRow, CreditsInput};
use crate::keys::dto::PendingKey;
use crate::keys::format::{self, GeneratedKey, KeyKind};
use crate::keys::model::KeySecretRow;
use crate::keys::repo::{self as rotation, Owner};
use crate::keys::rights::{ApiPolicy, Rights, Role};
use crate::keys::usage::RateLimit;
use crate::keys::OWNER_API_KEY;
use crate::resources::key_policies::repo as key_policies;

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
    /// Its identity, limits and balance.
    pub usage: KeyUsageInput,
}

/// A new key's identity, rate limits and credit balance.
#[derive(Debug, Clone, Default)]
pub struct KeyUsageInput {
    /// The identity it belongs to.
    pub identity_id: Option<String>,
    /// Its own rate limits.
    pub ratelimits: Vec<RateLimit>,
    /// Its own balance; `None`: unlimited.
    pub credits: Option<CreditsInput>,
}

/// 400 unless the organization has this identity (a body's `identity_id`).
fn check_identity(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    let found: i64 = identities::table
        .filter(identities::organization_id.eq(organization_id))
        .filter(identities::id.eq(id))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(ApiError::invalid_field(
            "identity_id",
            "not_found",
            "must be the id of an identity of this organization",
        ));
    }
    Ok(())
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
) -> Result<(ApiKeyRow, GeneratedKey), ApiError> {
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
) -> Result<(ApiKeyRow, GeneratedKey), ApiError> {
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
        deleted_at: None,
        identity_id: input.usage.identity_id.clone(),
        ratelimits: RateLimit::to_stored(&input.usage.ratelimits),
    };
    if let Some(identity) = &row.identity_id {
        check_identity(conn, organization_id, identity)?;
    }
    diesel::insert_into(api_keys::table)
        .values(&row)
        .execute(conn)?;
    credits::put(conn, organization_id, &row.id, input.usage.credits.as_ref())?;
    let key = rotation::issue_given(conn, owner(organization_id, &row.id), key)?;
    Ok((row, key))
}

/// Creates a key with its audit event in one transaction; its `expires_at`
/// must keep the organization's key policy (400 `key_policy_violation`).
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewApiKey,
    audit: AuditEvent,
) -> Result<(ApiKeyRow, GeneratedKey), ApiError> {
    conn.transaction(|conn| {
        key_policies::policy(conn, organization_id)?.check_expiry(
            input.expires_at,
            now(),
            "expires_at",
        )?;
        create_unchecked(conn, organization_id, input, audit)
    })
}

/// Creates a key with its audit event, whatever the organization's key
/// policy says: the recovery command's (`keygate keys create`), for an
/// operator locked out at the database.
pub fn create_unchecked(
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

/// A key issued elsewhere, to be imported by its hash.
#[derive(Debug, Clone)]
pub struct ImportedKey {
    /// Its settings.
    pub input: NewApiKey,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// What to show as its first characters.
    pub key_prefix: String,
    /// What to show as its last characters.
    pub key_last4: String,
}

/// Imports keys by their hashes, each held to the key policy, with one
/// audit event each, all in one transaction: a hash keygate already holds
/// (a key imported twice) refuses the whole import with 409.
pub fn import(
    conn: &mut AnyConnection,
    organization_id: &str,
    keys: &[ImportedKey],
    audit: AuditEvent,
) -> Result<Vec<ApiKeyRow>, ApiError> {
    conn.transaction(|conn| {
        let policy = key_policies::policy(conn, organization_id)?;
        let at = now();
        let mut rows = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            policy.check_expiry(key.input.expires_at, at, &format!("keys[{i}].expires_at"))?;
            let input = &key.input;
            let row = ApiKeyRow {
                id: new_id("aky_"),
                organization_id: organization_id.to_owned(),
                name: input.name.clone(),
                api_key_role: input.role.as_str().to_owned(),
                api_policy: input.policy.as_ref().map(policy_json),
                enabled: input.enabled,
                allowed_cidrs: input.allowed_cidrs.as_deref().map(cidrs_json),
                resource_scopes: input.resource_scopes.as_deref().map(scopes_json),
                expires_at: input.expires_at.map(|t| t.naive_utc()),
                key_prefix: key.key_prefix.clone(),
                key_last4: key.key_last4.clone(),
                created_at: at.naive_utc(),
                updated_at: at.naive_utc(),
                last_used_at: None,
                deleted_at: None,
                identity_id: input.usage.identity_id.clone(),
                ratelimits: RateLimit::to_stored(&input.usage.ratelimits),
            };
            if let Some(identity) = &row.identity_id {
                check_identity(conn, organization_id, identity)?;
            }
            diesel::insert_into(api_keys::table)
                .values(&row)
                .execute(conn)?;
            credits::put(conn, organization_id, &row.id, input.usage.credits.as_ref())?;
            rotation::issue_hashed(
                conn,
                owner(organization_id, &row.id),
                &key.key_hash,
                &key.key_prefix,
                &key.key_last4,
            )
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!("keys[{i}]: keygate already holds a key with this hash")
                })
            })?;
            rotation::appeared(&key.key_hash);
            let mut event = audit.clone().for_resource(&row.id);
            event.id = new_id("evt_");
            event.record(conn)?;
            rows.push(row);
        }
        Ok(rows)
    })
}

/// Filters of the list operation.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only enabled or only disabled keys.
    pub enabled: Option<bool>,
    /// Only keys that break (`true`) or keep (`false`) the organization's
    /// key policy now.
    pub violates_policy: Option<bool>,
    /// Only keys that expire before this time.
    pub expires_before: Option<DateTime<Utc>>,
    /// Also the keys deleted since this time (within the recovery window).
    pub deleted_since: Option<DateTime<Utc>>,
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
    query = match filter.deleted_since {
        None => query.filter(api_keys::deleted_at.is_null()),
        Some(since) => query.filter(
            api_keys::deleted_at
                .is_null()
                .or(api_keys::deleted_at.gt(since.naive_utc())),
        ),
    };
    if let Some(role) = filter.role {
        query = query.filter(api_keys::api_key_role.eq(role.as_str()));
    }
    if let Some(enabled) = filter.enabled {
        query = query.filter(api_keys::enabled.eq(enabled));
    }
    if let Some(before) = filter.expires_before {
        query = query.filter(api_keys::expires_at.lt(before.naive_utc()));
    }
    if let Some(violates) = filter.violates_policy {
        // The rule of `KeyPolicy::check_expiry`, as SQL: no expiry where
        // one is required, or one further than the limit from now.
        let policy = key_policies::policy(conn, organization_id)?;
        let latest = policy
            .max_key_lifetime_seconds
            .map(|max| (now() + chrono::Duration::seconds(max)).naive_utc());
        let required = policy.require_expiry || latest.is_some();
        match (violates, required, latest) {
            (true, false, _) => return Ok(Vec::new()),
            (false, false, _) => {}
            (true, true, None) => query = query.filter(api_keys::expires_at.is_null()),
            (false, true, None) => query = query.filter(api_keys::expires_at.is_not_null()),
            (true, true, Some(latest)) => {
                query = query.filter(
                    api_keys::expires_at
                        .is_null()
                        .or(api_keys::expires_at.gt(latest)),
                )
            }
            (false, true, Some(latest)) => query = query.filter(api_keys::expires_at.le(latest)),
        }
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
) -> Result<(ApiKeyRow, Vec<PendingKey>, Option<CreditRow>), ApiError> {
    // One round trip: the key and its balance joined to each of its
    // pending secrets (one row without any when it has none).
    type Joined = (ApiKeyRow, Option<CreditRow>, Option<KeySecretRow>);
    let rows: Vec<Joined> = api_keys::table
        .left_join(credit_rows::table.on(credit_rows::owner_id.eq(api_keys::id)))
        .left_join(
            key_secrets::table.on(key_secrets::owner_id
                .eq(api_keys::id)
                .and(rotation::still_pending(OWNER_API_KEY))),
        )
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::id.eq(id))
        .filter(api_keys::deleted_at.is_null())
        .order((
            rotation::PENDING_ORDER.0.asc(),
            rotation::PENDING_ORDER.1.asc(),
        ))
        .select((
            ApiKeyRow::as_select(),
            Option::<CreditRow>::as_select(),
            Option::<KeySecretRow>::as_select(),
        ))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let (row, balance, first) = rows
        .next()
        .ok_or_else(|| ApiError::not_found("api key", id))?;
    let pending = first
        .into_iter()
        .chain(rows.filter_map(|(_, _, secret)| secret))
        .map(|secret| PendingKey::from(&secret))
        .collect();
    Ok((row, pending, balance))
}

/// A key, its still-working pending keys and its credit balance.
pub fn with_pending(
    conn: &mut AnyConnection,
    row: ApiKeyRow,
) -> Result<(ApiKeyRow, Vec<PendingKey>, Option<CreditRow>), ApiError> {
    let mut pending = pending_keys(conn, std::slice::from_ref(&row.id))?;
    let of_row = pending.remove(&row.id).unwrap_or_default();
    let balance = credits::one(conn, &row.id)?;
    Ok((row, of_row, balance))
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
        .filter(api_keys::deleted_at.is_null())
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
    let current = version::locked(
        api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::deleted_at.is_null())
            .select(ApiKeyRow::as_select()),
    )
    .first(conn)
    .optional()?
    .ok_or_else(|| ApiError::not_found("api key", id))?;
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
    /// New identity, or none.
    pub identity_id: Option<Option<String>>,
    /// New rate limits (empty: none).
    pub ratelimits: Option<Vec<RateLimit>>,
    /// New balance, or unlimited.
    pub credits: Option<Option<CreditsInput>>,
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
            identity_id: self.identity_id,
            ratelimits: self.ratelimits.map(|l| RateLimit::to_stored(&l)),
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
    // A new `expires_at` must keep the key policy; a change that leaves it
    // alone never breaks a key made before a stricter policy.
    if let Some(expires_at) = patch.expires_at {
        key_policies::policy(conn, organization_id)?.check_expiry(
            expires_at,
            now(),
            "expires_at",
        )?;
    }
    let credits = patch.credits;
    if let Some(Some(identity)) = &patch.identity_id {
        check_identity(conn, organization_id, identity)?;
    }
    conn.transaction(|conn| {
        let row = update(
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
        )?;
        if let Some(credits) = credits {
            credits::put(conn, organization_id, id, credits.as_ref())?;
        }
        Ok(row)
    })
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
    atomic(conn, |conn| {
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

/// Deletes a key after `check` approves, with the audit event, in one
/// transaction. With a recovery window the key is only marked deleted
/// (`deleted_at`): from then on it is gone for every operation (404, never
/// authenticates) except a list with `include_deleted` and [`undelete`],
/// until [`purge_deleted`] removes it; without one it is removed at once
/// with all its secrets. Either way the caches drop it after commit.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    keep_for_recovery: bool,
    check: impl FnOnce(&ApiKeyRow) -> Result<(), ApiError>,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    atomic(conn, |conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        check(&current)?;
        let used = || format!("api key {id} is used by a connector");
        if keep_for_recovery {
            // The connector's foreign key cannot see a mark: ask.
            let users: i64 = connectors::table
                .filter(connectors::api_key_id.eq(id))
                .count()
                .get_result(conn)?;
            if users > 0 {
                return Err(ApiError::Conflict {
                    code: "still_referenced",
                    detail: used(),
                });
            }
            let at = now().naive_utc();
            diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
                .set((
                    api_keys::deleted_at.eq(Some(at)),
                    api_keys::updated_at.eq(at),
                ))
                .execute(conn)?;
            rotation::changed(owner(organization_id, id));
        } else {
            rotation::delete_all(conn, owner(organization_id, id))?;
            credits::remove(conn, id)?;
            diesel::delete(api_keys::table.filter(api_keys::id.eq(id)))
                .execute(conn)
                .map_err(|e| ApiError::from_db_with_conflict(e, used))?;
        }
        audit.record(conn)?;
        Ok(())
    })
}

/// Brings back a key deleted since `since` (within the recovery window),
/// as it was, secrets included; `check` may refuse first. A key that is not
/// deleted is answered as it is, and nothing is written. 404 for a key
/// deleted before `since` or never there. One transaction with the audit
/// event.
pub fn undelete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    since: DateTime<Utc>,
    check: impl FnOnce(&ApiKeyRow) -> Result<(), ApiError>,
    audit: AuditEvent,
) -> Result<ApiKeyRow, ApiError> {
    conn.transaction(|conn| {
        version::lock(conn, api_keys::table.filter(api_keys::id.eq(id)))?;
        let found: ApiKeyRow = api_keys::table
            .filter(api_keys::organization_id.eq(organization_id))
            .filter(api_keys::id.eq(id))
            .select(ApiKeyRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("api key", id))?;
        match found.deleted_at {
            None => return Ok(found),
            Some(at) if at <= since.naive_utc() => return Err(ApiError::not_found("api key", id)),
            Some(_) => {}
        }
        check(&found)?;
        diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
            .set((
                api_keys::deleted_at.eq(None::<chrono::NaiveDateTime>),
                api_keys::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        rotation::changed(owner(organization_id, id));
        rotation::reappeared(conn, owner(organization_id, id))?;
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// Keys one purge transaction removes at most.
pub const PURGE_BATCH: i64 = 1_000;

/// Removes for good up to [`PURGE_BATCH`] keys deleted before `cutoff`
/// (past the recovery window), with their secrets; returns how many.
pub fn purge_deleted(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let batch: Vec<(String, String)> = api_keys::table
            .filter(api_keys::deleted_at.lt(cutoff.naive_utc()))
            .select((api_keys::id, api_keys::organization_id))
            .order(api_keys::id.asc())
            .limit(PURGE_BATCH)
            .load(conn)?;
        for (id, organization_id) in &batch {
            rotation::delete_all(conn, owner(organization_id, id))?;
            credits::remove(conn, id)?;
            diesel::delete(api_keys::table.filter(api_keys::id.eq(id))).execute(conn)?;
        }
        Ok(batch.len())
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
    atomic(conn, |conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        check(&current)?;
        // A new secret is a new lifetime: the key's `expires_at` must keep
        // the policy (set it with an update first).
        key_policies::policy(conn, organization_id)?.check_expiry(
            current.expires_at.map(|t| t.and_utc()),
            now(),
            "expires_at",
        )?;
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

/// Applies a credits operation to a key's own balance, for a caller holding
/// at least the key's rights, with the audit event.
pub fn change_credits(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    caller: &Rights,
    body: credits::ChangeCredits,
    audit: AuditEvent,
) -> Result<CreditRow, ApiError> {
    conn.transaction(|conn| {
        // The key's row lock serializes the operations on its balance, the
        // first `set` (which creates it) too.
        get_for_write(conn, organization_id, id, &IfMatch::default())?
            .rights()?
            .ensure_within(caller)?;
        let row = credits::change(conn, organization_id, id, body)?;
        audit.record(conn)?;
        Ok(row)
    })
}
