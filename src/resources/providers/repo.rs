//! Storage of providers and their credentials: plain functions over a
//! connection, each mutation in one transaction with its audit event.
//! `credential_data` is sealed before it reaches the database (bound to the
//! table, organization, row and field) and opened only to compare an
//! idempotent create; it never leaves this module in plaintext.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::model::{
    CredentialChanges, CredentialData, CredentialRow, CredentialSortBy, CredentialType, Provider,
    ProviderRow, SortOrder,
};
use crate::audit::AuditEvent;
use crate::crypto::envelope::Place;
use crate::crypto::rekey::SealedColumn;
use crate::crypto::vault::Vault;
use crate::db::schema::{provider_credentials, providers};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::{ApiError, FieldError};

/// The sealed column, for `keygate rekey`.
pub const SEALED: SealedColumn = SealedColumn {
    table: "provider_credentials",
    column: "credential_data",
};

fn place<'a>(organization_id: &'a str, id: &'a str) -> Place<'a> {
    SEALED.place(organization_id, id)
}

/// Opens a credential's data; data that does not open is an internal error
/// whose cause (never the data) goes to the log.
pub fn open(vault: &Vault, row: &CredentialRow) -> Result<CredentialData, ApiError> {
    let plain = vault.open(place(&row.organization_id, &row.id), &row.credential_data)?;
    CredentialData::from_plaintext(&plain).ok_or_else(|| {
        ApiError::internal(format!(
            "credential {} holds data that is not an object of strings",
            row.id
        ))
    })
}

/// A new credential, checked.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Name, 1 to 255 characters.
    pub name: String,
    /// Its type (compatible with the provider).
    pub credential_type: CredentialType,
    /// Its data (the keys of its type).
    pub data: CredentialData,
}

/// What `create` did.
#[derive(Clone)]
pub enum Created {
    /// It made this credential.
    New(CredentialRow),
    /// One with the same name, type and data existed; it is answered and
    /// nothing else was written.
    Existing(CredentialRow),
    /// The name is taken: by other content, or (for a caller who may not
    /// compare) by any credential. Nothing but the audit event was written.
    Taken,
}

fn find_by_name(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    name: &str,
) -> QueryResult<Option<CredentialRow>> {
    provider_credentials::table
        .filter(provider_credentials::organization_id.eq(organization_id))
        .filter(provider_credentials::provider.eq(provider.as_str()))
        .filter(provider_credentials::name.eq(name))
        .filter(provider_credentials::deleted_at.is_null())
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()
}

/// A deleted credential (within the recovery window) gives way to a live
/// one that takes its name: it is removed for good.
fn clear_deleted_name(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    name: &str,
) -> QueryResult<usize> {
    diesel::delete(
        provider_credentials::table
            .filter(provider_credentials::organization_id.eq(organization_id))
            .filter(provider_credentials::provider.eq(provider.as_str()))
            .filter(provider_credentials::name.eq(name))
            .filter(provider_credentials::deleted_at.is_not_null()),
    )
    .execute(conn)
}

/// The 409 of a create whose name is taken. It says the same whether or
/// not the content differs, for a caller who may not compare.
pub fn name_taken(provider: Provider, name: &str) -> ApiError {
    ApiError::Conflict {
        code: "already_exists",
        detail: format!(
            "a {} credential named {name:?} already exists",
            provider.as_str()
        ),
    }
}

/// What a create meets when a credential of `input`'s name exists (`None`:
/// there is none). Only a caller who may compare (`compare`, a role that
/// may read secret values) learns whether the content is equal (200) or
/// not (409); for anyone else the name alone decides (409), so the answer
/// tells nothing about the stored data. Every answer is audited: the
/// existing credential as `success`, a taken name as `denied`.
fn meet_existing(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    provider: Provider,
    input: &NewCredential,
    compare: bool,
    audit: &AuditEvent,
) -> Result<Option<Created>, ApiError> {
    let Some(existing) = find_by_name(conn, organization_id, provider, &input.name)? else {
        return Ok(None);
    };
    let equal = compare
        && existing.credential_type == input.credential_type.as_str()
        && open(vault, &existing)? == input.data;
    let mut event = audit.clone().for_resource(&existing.id);
    if equal {
        event.record(conn)?;
        return Ok(Some(Created::Existing(existing)));
    }
    event.outcome = "denied".to_owned();
    event.record(conn)?;
    Ok(Some(Created::Taken))
}

/// Creates a credential, or meets the existing one of the same name (see
/// [`meet_existing`]: equal content answers it when `compare` is allowed,
/// else the name is taken). Every call writes one audit event.
///
/// The insert runs in a savepoint: when a concurrent create of the same
/// name commits first (PostgreSQL), only the savepoint is rolled back and
/// that credential is met like any existing one, so an equal create
/// is still 200, not 409.
pub fn create(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    provider: Provider,
    input: &NewCredential,
    compare: bool,
    audit: AuditEvent,
) -> Result<Created, ApiError> {
    let meet = |conn: &mut AnyConnection| {
        meet_existing(
            conn,
            vault,
            organization_id,
            provider,
            input,
            compare,
            &audit,
        )
    };
    if let Some(met) = meet(conn)? {
        return Ok(met);
    }
    let inserted = conn.transaction(|conn| {
        let id = new_id("crd_");
        let at = now().naive_utc();
        let sealed = vault.seal(
            conn,
            place(organization_id, &id),
            &input.data.to_plaintext(),
        )?;
        let row = CredentialRow {
            organization_id: organization_id.to_owned(),
            credential_data: sealed,
            id,
            provider: provider.as_str().to_owned(),
            name: input.name.clone(),
            credential_type: input.credential_type.as_str().to_owned(),
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        clear_deleted_name(conn, organization_id, provider, &input.name)?;
        diesel::insert_into(provider_credentials::table)
            .values(&row)
            .execute(conn)?;
        audit.clone().for_resource(&row.id).record(conn)?;
        Ok::<_, ApiError>(row)
    });
    match inserted {
        Ok(row) => Ok(Created::New(row)),
        Err(ApiError::Conflict {
            code: "already_exists",
            ..
        }) => match meet(conn)? {
            Some(met) => Ok(met),
            None => match crate::db::retry::unseen_conflict(conn) {
                Some(again) => Err(again),
                None => Ok(Created::Taken),
            },
        },
        Err(other) => Err(other),
    }
}

/// Where a page of [`list`] starts in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    /// At the first row.
    First,
    /// Strictly after a row: its sort value and id (the native cursor).
    After(NaiveDateTime, String),
    /// After skipping this many rows (the Nylas dialect's `offset`).
    Skip(i64),
}

/// One page of a provider's credentials: `limit + 1` rows (so the caller
/// can tell whether there is a next page) in `(sort column, id)` order,
/// from `start`, with those deleted after `deleted_since` when it is given.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one choice of the list; a struct would only rename them"
)]
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    sort_by: CredentialSortBy,
    order: SortOrder,
    start: PageStart,
    limit: i64,
    deleted_since: Option<DateTime<Utc>>,
) -> Result<Vec<CredentialRow>, ApiError> {
    use provider_credentials::dsl as c;
    let descending = order == SortOrder::Desc;
    let mut query = c::provider_credentials
        .filter(c::organization_id.eq(organization_id))
        .filter(c::provider.eq(provider.as_str()))
        .select(CredentialRow::as_select())
        .limit(limit + 1)
        .into_boxed();
    query = match deleted_since {
        None => query.filter(c::deleted_at.is_null()),
        Some(since) => query.filter(
            c::deleted_at
                .is_null()
                .or(c::deleted_at.gt(since.naive_utc())),
        ),
    };
    // The id breaks ties between equal timestamps, so the order is total and
    // a cursor (sort value, id) names one position in it.
    macro_rules! keyset {
        ($column:expr) => {{
            query = if descending {
                query.order(($column.desc(), c::id.desc()))
            } else {
                query.order(($column.asc(), c::id.asc()))
            };
            if let PageStart::After(at, id) = start.clone() {
                query = if descending {
                    query.filter($column.lt(at).or($column.eq(at).and(c::id.lt(id))))
                } else {
                    query.filter($column.gt(at).or($column.eq(at).and(c::id.gt(id))))
                };
            }
        }};
    }
    match sort_by {
        CredentialSortBy::CreatedAt => keyset!(c::created_at),
        CredentialSortBy::UpdatedAt => keyset!(c::updated_at),
    }
    if let PageStart::Skip(rows) = start {
        query = query.offset(rows);
    }
    Ok(query.load(conn)?)
}

/// Takes a credential for the write's transaction (`db::version::lock`);
/// then load it.
fn lock(conn: &mut AnyConnection, organization_id: &str, id: &str) -> QueryResult<()> {
    version::lock(
        conn,
        provider_credentials::table
            .filter(provider_credentials::organization_id.eq(organization_id))
            .filter(provider_credentials::id.eq(id)),
    )
}

fn find(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    id: &str,
) -> QueryResult<Option<CredentialRow>> {
    provider_credentials::table
        .filter(provider_credentials::organization_id.eq(organization_id))
        .filter(provider_credentials::provider.eq(provider.as_str()))
        .filter(provider_credentials::id.eq(id))
        .filter(provider_credentials::deleted_at.is_null())
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()
}

/// A credential of the organization's provider, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    id: &str,
) -> Result<CredentialRow, ApiError> {
    find(conn, organization_id, provider, id)?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "{} credential {id} was not found",
            provider.as_str()
        ))
    })
}

/// The checked fields of a PATCH: `data` is still to be checked against
/// the stored type. `Debug` shows the data's keys only.
#[derive(Clone, Default)]
pub struct CredentialPatch {
    /// New name.
    pub name: Option<String>,
    /// New data, replacing the old wholesale.
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

impl std::fmt::Debug for CredentialPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialPatch")
            .field("name", &self.name)
            .field(
                "data_keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// Applies a PATCH: checks `data` against the credential's type (400 with
/// every field), then `If-Match`, then writes with the audit event, in one
/// transaction.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub fn update(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    provider: Provider,
    id: &str,
    if_match: &IfMatch,
    changes: CredentialPatch,
    audit: AuditEvent,
) -> Result<CredentialRow, ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, provider, id)?;
        let credential_type = CredentialType::parse(&current.credential_type)
            .ok_or_else(|| ApiError::internal(format!("credential {id} has an unknown type")))?;
        let data = match &changes.data {
            Some(map) => Some(
                CredentialData::check(Some(credential_type), map)
                    .map_err(ApiError::invalid_fields)?,
            ),
            None => None,
        };
        if_match.check(&current.etag())?;
        let sealed = match &data {
            Some(data) => {
                Some(vault.seal(conn, place(organization_id, id), &data.to_plaintext())?)
            }
            None => None,
        };
        let name = changes.name.clone();
        if let Some(name) = &name {
            clear_deleted_name(conn, organization_id, provider, name)?;
        }
        diesel::update(
            provider_credentials::table
                .filter(provider_credentials::organization_id.eq(organization_id))
                .filter(provider_credentials::id.eq(id)),
        )
        .set(&CredentialChanges {
            name: changes.name,
            credential_data: sealed,
            updated_at: now().naive_utc(),
        })
        .execute(conn)
        .map_err(|e| {
            ApiError::from_db_with_conflict(e, || {
                name_taken(provider, name.as_deref().unwrap_or_default()).to_string()
            })
        })?;
        audit.record(conn)?;
        get(conn, organization_id, provider, id)
    })
}

/// Deletes a credential after `If-Match`, with the audit event, in one
/// transaction; 409 while it is its provider's active credential. With a
/// recovery window it is only marked deleted (`deleted_at`): gone for
/// every operation except a list with `include_deleted` and [`undelete`],
/// until [`purge_deleted`] removes it; without one it is removed at once.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    id: &str,
    if_match: &IfMatch,
    keep_for_recovery: bool,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        // Taken before the provider is read, as `update_provider` takes it
        // before it names it active: the two cannot cross.
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, provider, id)?;
        if_match.check(&current.etag())?;
        let active = find_provider(conn, organization_id, provider)?
            .and_then(|row| row.active_credential_id);
        let still_active = || ApiError::Conflict {
            code: "still_referenced",
            detail: format!(
                "credential {id} is the active credential of provider {}; set the provider's active_credential_id to another credential or null first",
                provider.as_str()
            ),
        };
        if active.as_deref() == Some(id) {
            return Err(still_active());
        }
        if keep_for_recovery {
            let at = now().naive_utc();
            diesel::update(this(organization_id, id))
                .set((
                    provider_credentials::deleted_at.eq(Some(at)),
                    provider_credentials::updated_at.eq(at),
                ))
                .execute(conn)?;
        } else {
            diesel::delete(this(organization_id, id))
                .execute(conn)
                .map_err(|e| ApiError::from_db_with_conflict(e, || still_active().to_string()))?;
        }
        audit.record(conn)?;
        Ok(())
    })
}

/// The row of this credential id, deleted or not.
fn this(
    organization_id: &str,
    id: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<
        provider_credentials::table,
        diesel::dsl::Eq<provider_credentials::organization_id, String>,
    >,
    diesel::dsl::Eq<provider_credentials::id, String>,
> {
    provider_credentials::table
        .filter(provider_credentials::organization_id.eq(organization_id.to_owned()))
        .filter(provider_credentials::id.eq(id.to_owned()))
}

/// Brings back a credential of the provider deleted after `since` (within
/// the recovery window), data and all. One that is not deleted is answered
/// as it is, and nothing is written; 404 for one deleted before `since`,
/// replaced by a credential of its name, or never there. One transaction
/// with the audit event.
pub fn undelete(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    id: &str,
    since: DateTime<Utc>,
    audit: AuditEvent,
) -> Result<CredentialRow, ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let gone = || {
            ApiError::NotFound(format!(
                "{} credential {id} was not found",
                provider.as_str()
            ))
        };
        let found: CredentialRow = this(organization_id, id)
            .filter(provider_credentials::provider.eq(provider.as_str()))
            .select(CredentialRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(gone)?;
        match found.deleted_at {
            None => return Ok(found),
            Some(at) if at <= since.naive_utc() => return Err(gone()),
            Some(_) => {}
        }
        diesel::update(this(organization_id, id))
            .set((
                provider_credentials::deleted_at.eq(None::<NaiveDateTime>),
                provider_credentials::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        audit.record(conn)?;
        get(conn, organization_id, provider, id)
    })
}

/// Credentials one purge transaction removes at most.
pub const PURGE_BATCH: i64 = 1_000;

/// Removes for good up to [`PURGE_BATCH`] credentials deleted before
/// `cutoff` (past the recovery window); returns how many.
pub fn purge_deleted(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let batch: Vec<(String, String)> = provider_credentials::table
            .filter(provider_credentials::deleted_at.lt(cutoff.naive_utc()))
            .select((
                provider_credentials::organization_id,
                provider_credentials::id,
            ))
            .order((
                provider_credentials::organization_id.asc(),
                provider_credentials::id.asc(),
            ))
            .limit(PURGE_BATCH)
            .load(conn)?;
        for (organization_id, id) in &batch {
            diesel::delete(
                this(organization_id, id)
                    .filter(provider_credentials::deleted_at.lt(cutoff.naive_utc())),
            )
            .execute(conn)?;
        }
        Ok(batch.len())
    })
}

/// A provider's settings: stored, or the implicit default.
#[derive(Debug, Clone)]
pub struct ProviderState {
    /// The provider.
    pub provider: Provider,
    /// Its active credential.
    pub active_credential_id: Option<String>,
    /// When it was last changed; `None` if never.
    pub updated_at: Option<NaiveDateTime>,
    organization_id: String,
}

impl ProviderState {
    /// The `ETag` of this version (the implicit default has one too).
    pub fn etag(&self) -> String {
        crate::db::version::etag(
            &format!("{}/{}", self.organization_id, self.provider.as_str()),
            self.updated_at.unwrap_or_default(),
        )
    }
}

fn find_provider(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
) -> QueryResult<Option<ProviderRow>> {
    providers::table
        .filter(providers::organization_id.eq(organization_id))
        .filter(providers::provider.eq(provider.as_str()))
        .select(ProviderRow::as_select())
        .first(conn)
        .optional()
}

/// The organization's settings of a provider; every provider exists.
pub fn get_provider(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
) -> Result<ProviderState, ApiError> {
    let row = find_provider(conn, organization_id, provider)?;
    Ok(ProviderState {
        provider,
        active_credential_id: row.as_ref().and_then(|r| r.active_credential_id.clone()),
        updated_at: row.map(|r| r.updated_at),
        organization_id: organization_id.to_owned(),
    })
}

/// Sets or clears the provider's active credential: it must be a credential
/// of this provider in the organization (400 `reference_not_found`); then
/// `If-Match`; then the write (the row is created on the first change) and
/// its audit event, in one transaction.
pub fn update_provider(
    conn: &mut AnyConnection,
    organization_id: &str,
    provider: Provider,
    if_match: &IfMatch,
    active_credential_id: Option<String>,
    audit: AuditEvent,
) -> Result<ProviderState, ApiError> {
    conn.transaction(|conn| {
        version::lock(
            conn,
            providers::table
                .filter(providers::organization_id.eq(organization_id))
                .filter(providers::provider.eq(provider.as_str())),
        )?;
        let current = get_provider(conn, organization_id, provider)?;
        if let Some(id) = &active_credential_id {
            lock(conn, organization_id, id)?;
            if find(conn, organization_id, provider, id)?.is_none() {
                return Err(ApiError::invalid_fields(vec![FieldError::new(
                    "active_credential_id",
                    "reference_not_found",
                    format!(
                        "no {} credential with this id in the organization",
                        provider.as_str()
                    ),
                )]));
            }
        }
        if_match.check(&current.etag())?;
        let at = now().naive_utc();
        if current.updated_at.is_some() {
            diesel::update(
                providers::table
                    .filter(providers::organization_id.eq(organization_id))
                    .filter(providers::provider.eq(provider.as_str())),
            )
            .set((
                providers::active_credential_id.eq(&active_credential_id),
                providers::updated_at.eq(at),
            ))
            .execute(conn)?;
        } else {
            diesel::insert_into(providers::table)
                .values(&ProviderRow {
                    organization_id: organization_id.to_owned(),
                    provider: provider.as_str().to_owned(),
                    active_credential_id,
                    created_at: at,
                    updated_at: at,
                })
                .execute(conn)
                .map_err(|e| {
                    ApiError::from_db_with_conflict(e, || {
                        format!(
                            "provider {} was changed by another request at the same moment; retry",
                            provider.as_str()
                        )
                    })
                })?;
        }
        audit.record(conn)?;
        get_provider(conn, organization_id, provider)
    })
}
