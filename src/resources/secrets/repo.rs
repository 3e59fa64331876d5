//! Storage of secrets: values sealed by the vault before they reach
//! the database and opened only for `get_secret`; each mutation (and each
//! read of a value) writes its audit event in the same transaction.

use diesel::prelude::*;

use super::model::SecretRow;
use crate::audit::AuditEvent;
use crate::crypto::envelope::Place;
use crate::crypto::rekey::SealedColumn;
use crate::crypto::vault::Vault;
use crate::db::page::Page;
use crate::db::schema::secrets;
use crate::db::version::{self, IfMatch};
use crate::db::{atomic, now, AnyConnection};
use crate::error::ApiError;

/// The sealed column, for `keygate rekey`.
pub const SEALED: SealedColumn = SealedColumn {
    table: "secrets",
    column: "value",
};

fn place<'a>(organization_id: &'a str, id: &'a str) -> Place<'a> {
    SEALED.place(organization_id, id)
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
        .select(SecretRow::as_select())
        .first(conn)
        .optional()
}

/// Opens a secret's value; a value that does not open is an internal error
/// whose cause goes to the log, never garbage.
pub fn open(vault: &Vault, row: &SecretRow) -> Result<String, ApiError> {
    let plain = vault.open(place(&row.organization_id, &row.id), &row.value)?;
    String::from_utf8(plain)
        .map_err(|_| ApiError::internal(format!("secret {} is not UTF-8", row.id)))
}

/// Inserts a new secret (with its audit event); 409 if the id is taken.
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
        let sealed = vault.seal(conn, place(organization_id, id), value.as_bytes())?;
        let row = SecretRow {
            organization_id: organization_id.to_owned(),
            id: id.to_owned(),
            description,
            value: sealed,
            created_at: at,
            updated_at: at,
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
/// after `If-Match`. Returns the row and whether it was created.
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
        let sealed = vault.seal(conn, place(organization_id, id), value.as_bytes())?;
        diesel::update(
            secrets::table
                .filter(secrets::organization_id.eq(organization_id))
                .filter(secrets::id.eq(id)),
        )
        .set((
            secrets::value.eq(sealed),
            secrets::description.eq(description),
            secrets::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
        audit.record(conn)?;
        Ok((get(conn, organization_id, id)?, false))
    })
}

/// Reads a secret for `get_secret`, recording the read in the audit trail.
pub fn read(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    audit: AuditEvent,
) -> Result<SecretRow, ApiError> {
    conn.transaction(|conn| {
        let row = get(conn, organization_id, id)?;
        audit.record(conn)?;
        Ok(row)
    })
}

/// One page of the organization's secrets (metadata; values stay sealed).
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    page: &Page,
) -> Result<Vec<SecretRow>, ApiError> {
    let mut query = secrets::table
        .filter(secrets::organization_id.eq(organization_id))
        .select(SecretRow::as_select())
        .order(secrets::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(secrets::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// Deletes a secret after `If-Match`; 409 while a connector references it.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        lock(conn, organization_id, id)?;
        let current = get(conn, organization_id, id)?;
        if_match.check(&current.etag())?;
        diesel::delete(
            secrets::table
                .filter(secrets::organization_id.eq(organization_id))
                .filter(secrets::id.eq(id)),
        )
        .execute(conn)
        .map_err(|e| {
            ApiError::from_db_with_conflict(e, || {
                format!("secret {id} is referenced by a connector")
            })
        })?;
        audit.record(conn)?;
        Ok(())
    })
}
