//! Storage of secrets: values sealed by the vault before they reach
//! the database and opened only for `get_secret`; each mutation (and each
//! read of a value) writes its audit event in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::model::{SecretRow, SecretVersionRow};
use crate::audit::AuditEvent;
use crate::crypto::envelope::Place;
use crate::crypto::rekey::SealedColumn;
use crate::crypto::vault::Vault;
use crate::db::page::Page;
use crate::db::schema::{connectors, secret_versions, secrets};
use crate::db::version::{self, IfMatch};
use crate::db::{atomic, now, AnyConnection};
use crate::error::ApiError;

/// The sealed column, for `keygate rekey`.
pub const SEALED: SealedColumn = SealedColumn {
    table: "secrets",
    column: "value",
};

/// The sealed column of earlier values, for `keygate rekey`; each row's
/// id is `<secret_id>/<version>`, so its envelope is bound to that version.
pub const SEALED_VERSION: SealedColumn = SealedColumn {
    table: "secret_versions",
    column: "value",
};

fn place<'a>(organization_id: &'a str, id: &'a str) -> Place<'a> {
    SEALED.place(organization_id, id)
}

/// The row id of a secret's version (`/` never occurs in a secret id).
fn version_id(secret_id: &str, version: i64) -> String {
    format!("{secret_id}/{version}")
}

fn utf8(plain: Vec<u8>, id: &str) -> Result<String, ApiError> {
    String::from_utf8(plain).map_err(|_| ApiError::internal(format!("secret {id} is not UTF-8")))
}

/// A secret of the organization, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<SecretRow, ApiError> {
    find(conn, organization_id, id)?.ok_or_else(|| ApiError::not_found("secret", id))
}

/// Takes a secret for the write's transaction (`db::version::lock`); then
/// load it.
fn lock(conn: &mut AnyConnection, organization_id: &str, id: &str) -> QueryResult<()> {
    version::lock(
        conn,
        secrets::table
            .filter(secrets::organization_id.eq(organization_id))
            .filter(secrets::id.eq(id)),
    )
}

fn find(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> QueryResult<Option<SecretRow>> {
    secrets::table
        .filter(secrets::organization_id.eq(organization_id))
        .filter(secrets::id.eq(id))
        .filter(secrets::deleted_at.is_null())
        .select(SecretRow::as_select())
        .first(conn)
        .optional()
}

/// The rows of this secret id, deleted or not.
fn this(
    organization_id: &str,
    id: &str,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<secrets::table, diesel::dsl::Eq<secrets::organization_id, String>>,
    diesel::dsl::Eq<secrets::id, String>,
> {
    secrets::table
        .filter(secrets::organization_id.eq(organization_id.to_owned()))
        .filter(secrets::id.eq(id.to_owned()))
}

/// Removes a secret for good, with its kept versions (they go first: they
/// name it).
fn remove(conn: &mut AnyConnection, organization_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(
        secret_versions::table
            .filter(secret_versions::organization_id.eq(organization_id))
            .filter(secret_versions::secret_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(this(organization_id, id)).execute(conn)
}

/// Opens a secret's value; a value that does not open is an internal error
/// whose cause goes to the log, never garbage.
pub fn open(vault: &Vault, row: &SecretRow) -> Result<String, ApiError> {
    utf8(
        vault.open(place(&row.organization_id, &row.id), &row.value)?,
        &row.id,
    )
}

/// One value of a secret: its current one, or an earlier one still kept.
pub struct VersionValue {
    /// Its number.
    pub version: i64,
    /// When it was set.
    pub created_at: chrono::NaiveDateTime,
    /// The plaintext.
    pub value: String,
}

/// A kept earlier version of a secret, or 404.
fn get_version(
    conn: &mut AnyConnection,
    organization_id: &str,
    secret_id: &str,
    version: i64,
) -> Result<SecretVersionRow, ApiError> {
    secret_versions::table
        .filter(secret_versions::organization_id.eq(organization_id))
        .filter(secret_versions::id.eq(version_id(secret_id, version)))
        .select(SecretVersionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("secret version", &version_id(secret_id, version)))
}

/// Opens version `version` of the secret `row` (its current value when it
/// is the current version); 404 when it is not kept (or never was).
fn open_version(
    conn: &mut AnyConnection,
    vault: &Vault,
    row: &SecretRow,
    version: i64,
) -> Result<VersionValue, ApiError> {
    if version == row.version {
        return Ok(VersionValue {
            version,
            created_at: row.updated_at,
            value: open(vault, row)?,
        });
    }
    let kept = get_version(conn, &row.organization_id, &row.id, version)?;
    let plain = vault.open(
        SEALED_VERSION.place(&kept.organization_id, &kept.id),
        &kept.value,
    )?;
    Ok(VersionValue {
        version,
        created_at: kept.created_at,
        value: utf8(plain, &row.id)?,
    })
}

/// Replaces the value of the locked secret `current`: its value is kept as
/// a version (sealed for that version's row), the newest `keep` earlier
/// versions stay and older ones are deleted, all in the caller's
/// transaction.
fn replace(
    conn: &mut AnyConnection,
    vault: &Vault,
    current: &SecretRow,
    value: &[u8],
    description: Option<String>,
    keep: i64,
) -> Result<(), ApiError> {
    let (org, id) = (current.organization_id.as_str(), current.id.as_str());
    if keep > 0 {
        let plain = vault.open(place(org, id), &current.value)?;
        let row_id = version_id(id, current.version);
        let sealed = vault.seal(conn, SEALED_VERSION.place(org, &row_id), &plain)?;
        diesel::insert_into(secret_versions::table)
            .values(&SecretVersionRow {
                organization_id: org.to_owned(),
                id: row_id,
                secret_id: id.to_owned(),
                version: current.version,
                value: sealed,
                created_at: current.updated_at,
            })
            .execute(conn)?;
    }
    diesel::delete(
        secret_versions::table
            .filter(secret_versions::organization_id.eq(org))
            .filter(secret_versions::secret_id.eq(id))
            .filter(secret_versions::version.le(current.version - keep)),
    )
    .execute(conn)?;
    let sealed = vault.seal(conn, place(org, id), value)?;
    diesel::update(
        secrets::table
            .filter(secrets::organization_id.eq(org))
            .filter(secrets::id.eq(id)),
    )
    .set((
        secrets::value.eq(sealed),
        secrets::description.eq(description),
        secrets::updated_at.eq(now().naive_utc()),
        secrets::version.eq(current.version + 1),
    ))
    .execute(conn)?;
    Ok(())
}

/// Inserts a new secret (with its audit event); 409 if the id is taken. A
/// deleted secret of this id (within the recovery window) gives way: it is
/// removed for good, as the new secret takes its id.
pub fn create(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    id: &str,
    value: &str,
    description: Option<String>,
    audit: AuditEvent,
) -> Result<SecretRow, ApiError> {
    atomic(conn, |conn| {
        let at = now().naive_utc();
        let deleted: i64 = this(organization_id, id)
            .filter(secrets::deleted_at.is_not_null())
            .count()
            .get_result(conn)?;
        if deleted > 0 {
            remove(conn, organization_id, id)?;
        }
        let sealed = vault.seal(conn, place(organization_id, id), value.as_bytes())?;
        let row = SecretRow {
            organization_id: organization_id.to_owned(),
            id: id.to_owned(),
            description,
            value: sealed,
            created_at: at,
            updated_at: at,
            version: 1,
            deleted_at: None,
        };
        diesel::insert_into(secrets::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!("a secret with id {id} already exists")
                })
            })?;
        audit.record(conn)?;
        Ok(row)
    })
}

/// Creates the secret with this id, or replaces its value (and description)
/// after `If-Match`, keeping the value it replaces as a version (the newest
/// `keep` earlier ones are kept). Returns the row and whether it was
/// created.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub fn put(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    id: &str,
    value: &str,
    description: Option<String>,
    if_match: &IfMatch,
    keep: i64,
    audit: AuditEvent,
) -> Result<(SecretRow, bool), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let Some(current) = find(conn, organization_id, id)? else {
            if if_match.is_present() {
                return Err(ApiError::PreconditionFailed);
            }
            return create(conn, vault, organization_id, id, value, description, audit)
                .map(|row| (row, true));
        };
        if_match.check(&current.etag())?;
        replace(conn, vault, &current, value.as_bytes(), description, keep)?;
        audit.record(conn)?;
        Ok((get(conn, organization_id, id)?, false))
    })
}

/// Stores version `version`'s value as the secret's new current version
/// after `If-Match` (the description stays); 404 when that version is not
/// kept.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename them"
)]
pub fn restore(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    id: &str,
    version: i64,
    if_match: &IfMatch,
    keep: i64,
    audit: AuditEvent,
) -> Result<SecretRow, ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        if_match.check(&current.etag())?;
        let old = open_version(conn, vault, &current, version)?;
        replace(
            conn,
            vault,
            &current,
            old.value.as_bytes(),
            current.description.clone(),
            keep,
        )?;
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// Reads version `version` of a secret (the current one when `None`),
/// recording the read in the audit trail.
pub fn read_version(
    conn: &mut AnyConnection,
    vault: &Vault,
    organization_id: &str,
    id: &str,
    version: Option<i64>,
    audit: AuditEvent,
) -> Result<(SecretRow, VersionValue), ApiError> {
    conn.transaction(|conn| {
        let row = get(conn, organization_id, id)?;
        let value = open_version(conn, vault, &row, version.unwrap_or(row.version))?;
        audit.record(conn)?;
        Ok((row, value))
    })
}

/// A secret and the numbers and times of its versions, newest (the
/// current one) first; values stay sealed.
pub fn versions(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<(SecretRow, Vec<(i64, chrono::NaiveDateTime)>), ApiError> {
    let row = get(conn, organization_id, id)?;
    let mut all = vec![(row.version, row.updated_at)];
    all.extend(
        secret_versions::table
            .filter(secret_versions::organization_id.eq(organization_id))
            .filter(secret_versions::secret_id.eq(id))
            .order(secret_versions::version.desc())
            .select((secret_versions::version, secret_versions::created_at))
            .load::<(i64, chrono::NaiveDateTime)>(conn)?,
    );
    Ok((row, all))
}

/// One page of the organization's secrets (metadata; values stay sealed),
/// with those deleted after `deleted_since` when it is given.
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    page: &Page,
    deleted_since: Option<DateTime<Utc>>,
) -> Result<Vec<SecretRow>, ApiError> {
    let mut query = secrets::table
        .filter(secrets::organization_id.eq(organization_id))
        .select(SecretRow::as_select())
        .order(secrets::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    query = match deleted_since {
        None => query.filter(secrets::deleted_at.is_null()),
        Some(since) => query.filter(
            secrets::deleted_at
                .is_null()
                .or(secrets::deleted_at.gt(since.naive_utc())),
        ),
    };
    if let Some(after) = &page.after {
        query = query.filter(secrets::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// Deletes a secret after `If-Match`; 409 while a connector references it.
/// With a recovery window it is only marked deleted (`deleted_at`): gone
/// for every operation except a list with `include_deleted` and
/// [`undelete`], until [`purge_deleted`] removes it; without one it is
/// removed at once.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    keep_for_recovery: bool,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        if_match.check(&current.etag())?;
        let referenced = || format!("secret {id} is referenced by a connector");
        if keep_for_recovery {
            // The connector's foreign key cannot see a mark: ask.
            let users: i64 = connectors::table
                .filter(connectors::organization_id.eq(organization_id))
                .filter(connectors::api_key_secret_id.eq(id))
                .count()
                .get_result(conn)?;
            if users > 0 {
                return Err(ApiError::Conflict {
                    code: "still_referenced",
                    detail: referenced(),
                });
            }
            let at = now().naive_utc();
            diesel::update(this(organization_id, id))
                .set((secrets::deleted_at.eq(Some(at)), secrets::updated_at.eq(at)))
                .execute(conn)?;
        } else {
            remove(conn, organization_id, id)
                .map_err(|e| ApiError::from_db_with_conflict(e, referenced))?;
        }
        audit.record(conn)?;
        Ok(())
    })
}

/// Brings back a secret deleted after `since` (within the recovery
/// window), value and all. A secret that is not deleted is answered as it
/// is, and nothing is written; 404 for one deleted before `since` or never
/// there. One transaction with the audit event.
pub fn undelete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    since: DateTime<Utc>,
    audit: AuditEvent,
) -> Result<SecretRow, ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let found: SecretRow = this(organization_id, id)
            .select(SecretRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| ApiError::not_found("secret", id))?;
        match found.deleted_at {
            None => return Ok(found),
            Some(at) if at <= since.naive_utc() => return Err(ApiError::not_found("secret", id)),
            Some(_) => {}
        }
        diesel::update(this(organization_id, id))
            .set((
                secrets::deleted_at.eq(None::<chrono::NaiveDateTime>),
                secrets::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// Secrets one purge transaction removes at most.
pub const PURGE_BATCH: i64 = 1_000;

/// Removes for good up to [`PURGE_BATCH`] secrets deleted before `cutoff`
/// (past the recovery window); returns how many.
pub fn purge_deleted(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let batch: Vec<(String, String)> = secrets::table
            .filter(secrets::deleted_at.lt(cutoff.naive_utc()))
            .select((secrets::organization_id, secrets::id))
            .order((secrets::organization_id.asc(), secrets::id.asc()))
            .limit(PURGE_BATCH)
            .load(conn)?;
        for (organization_id, id) in &batch {
            remove(conn, organization_id, id)?;
        }
        Ok(batch.len())
    })
}
