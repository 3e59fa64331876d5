//! Storage of identities: plain functions over a connection, each mutation
//! in one transaction with its audit event, `If-Match` checked against the
//! loaded row. A change drops the cached look-ups of the identity's keys
//! (they carry its limits), here and on the other nodes.

use diesel::prelude::*;

use super::model::{IdentityChanges, IdentityRow};
use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::{api_keys, identities};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::keys::credits::{self, ChangeCredits, CreditRow, CreditsInput};

/// What a new identity is made of.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    /// The customer's own id.
    pub external_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Metadata JSON.
    pub metadata: Option<String>,
    /// Shared rate limits JSON.
    pub ratelimits: Option<String>,
    /// Shared balance; `None`: unlimited.
    pub credits: Option<CreditsInput>,
}

fn taken() -> String {
    "an identity with this external_id already exists".to_owned()
}

/// Creates an identity with a new `idn_` id, its balance and its audit
/// event; 409 `already_exists` when the organization has an identity of
/// that `external_id`.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    input: &NewIdentity,
    audit: AuditEvent,
) -> Result<(IdentityRow, Option<CreditRow>), ApiError> {
    conn.transaction(|conn| {
        let at = now().naive_utc();
        let row = IdentityRow {
            id: new_id("idn_"),
            organization_id: organization_id.to_owned(),
            external_id: input.external_id.clone(),
            name: input.name.clone(),
            metadata: input.metadata.clone(),
            ratelimits: input.ratelimits.clone(),
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(identities::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| ApiError::from_db_with_conflict(e, taken))?;
        let balance = credits::put(conn, organization_id, &row.id, input.credits.as_ref())?;
        audit.for_resource(&row.id).record(conn)?;
        Ok((row, balance))
    })
}

/// One page of the organization's identities by id, optionally only the
/// one with this `external_id` (one extra row tells whether there is a
/// next page).
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    external_id: Option<&str>,
    page: &Page,
) -> Result<Vec<IdentityRow>, ApiError> {
    let mut query = identities::table
        .filter(identities::organization_id.eq(organization_id))
        .select(IdentityRow::as_select())
        .order(identities::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(external_id) = external_id {
        query = query.filter(identities::external_id.eq(external_id.to_owned()));
    }
    if let Some(after) = &page.after {
        query = query.filter(identities::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// The organization's identity with this id, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<IdentityRow, ApiError> {
    identities::table
        .filter(identities::organization_id.eq(organization_id))
        .filter(identities::id.eq(id))
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("identity", id))
}

/// An identity and its balance, or 404.
pub fn get_with_credits(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<(IdentityRow, Option<CreditRow>), ApiError> {
    let row = get(conn, organization_id, id)?;
    let balance = credits::one(conn, id)?;
    Ok((row, balance))
}

/// Takes the identity for the write's transaction, loads it and checks
/// `If-Match`.
fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> Result<IdentityRow, ApiError> {
    version::lock(
        conn,
        identities::table
            .filter(identities::organization_id.eq(organization_id))
            .filter(identities::id.eq(id)),
    )?;
    let current = get(conn, organization_id, id)?;
    if_match.check(&current.etag())?;
    Ok(current)
}

/// Applies PATCH changes (and a new balance, when given) after
/// `If-Match`, with the audit event.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    mut changes: IdentityChanges,
    balance: Option<Option<CreditsInput>>,
    audit: AuditEvent,
) -> Result<(IdentityRow, Option<CreditRow>), ApiError> {
    conn.transaction(|conn| {
        get_for_write(conn, organization_id, id, if_match)?;
        changes.updated_at = Some(now().naive_utc());
        diesel::update(identities::table.filter(identities::id.eq(id)))
            .set(&changes)
            .execute(conn)
            .map_err(|e| ApiError::from_db_with_conflict(e, taken))?;
        if let Some(balance) = &balance {
            credits::put(conn, organization_id, id, balance.as_ref())?;
        }
        credits::keys_changed(conn, id)?;
        audit.for_resource(id).record(conn)?;
        get_with_credits(conn, organization_id, id)
    })
}

/// Deletes an identity after `If-Match`, with its balance and the audit
/// event; 409 `still_referenced` while keys that are not deleted belong to
/// it (keys in the recovery window are detached).
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        get_for_write(conn, organization_id, id, if_match)?;
        let of_identity = api_keys::identity_id.eq(id);
        let keys: i64 = api_keys::table
            .filter(of_identity)
            .filter(api_keys::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        if keys > 0 {
            return Err(still_has(id, keys));
        }
        diesel::update(api_keys::table.filter(of_identity))
            .set(api_keys::identity_id.eq(None::<String>))
            .execute(conn)?;
        credits::remove(conn, id)?;
        diesel::delete(identities::table.filter(identities::id.eq(id)))
            .execute(conn)
            // A key given this identity at the same moment trips the
            // foreign key.
            .map_err(|e| ApiError::from_db_with_conflict(e, || still_has(id, 1).to_string()))?;
        audit.for_resource(id).record(conn)?;
        Ok(())
    })
}

fn still_has(id: &str, keys: i64) -> ApiError {
    let noun = if keys == 1 { "API key" } else { "API keys" };
    ApiError::Conflict {
        code: "still_referenced",
        detail: format!("identity {id} still has {keys} {noun}; move or delete them first"),
    }
}

/// Applies a credits operation to the identity's shared balance, with the
/// audit event.
pub fn change_credits(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    body: ChangeCredits,
    audit: AuditEvent,
) -> Result<CreditRow, ApiError> {
    conn.transaction(|conn| {
        // The identity's row lock serializes the operations on its balance,
        // the first `set` (which creates it) too.
        get_for_write(conn, organization_id, id, &IfMatch::default())?;
        let row = credits::change(conn, organization_id, id, body)?;
        audit.for_resource(id).record(conn)?;
        Ok(row)
    })
}
