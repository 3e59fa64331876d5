//! Storage of key policies: read (the defaults for an organization without
//! a row) and change, with the audit event, in one transaction.

use diesel::prelude::*;

use super::domain::{KeyPolicy, LeakResponse};
use super::model::KeyPolicyRow;
use crate::audit::AuditEvent;
use crate::db::schema::{key_policies, organizations};
use crate::db::version::{self, IfMatch};
use crate::db::{now, AnyConnection};
use crate::error::ApiError;

/// The stored policy of an organization, or the defaults (dated by the
/// organization's creation) when it never changed it.
pub fn row(conn: &mut AnyConnection, organization_id: &str) -> Result<KeyPolicyRow, ApiError> {
    let found = key_policies::table
        .filter(key_policies::organization_id.eq(organization_id))
        .select(KeyPolicyRow::as_select())
        .first(conn)
        .optional()?;
    match found {
        Some(row) => Ok(row),
        None => {
            let created_at = organizations::table
                .filter(organizations::id.eq(organization_id))
                .select(organizations::created_at)
                .first(conn)
                .optional()?
                .ok_or_else(|| ApiError::not_found("organization", organization_id))?;
            Ok(KeyPolicyRow {
                organization_id: organization_id.to_owned(),
                leak_response: LeakResponse::default().as_str().to_owned(),
                max_key_lifetime_seconds: None,
                require_expiry: false,
                updated_at: created_at,
            })
        }
    }
}

/// The policy an organization's keys are held to (the defaults without a
/// row); one indexed read.
pub fn policy(conn: &mut AnyConnection, organization_id: &str) -> Result<KeyPolicy, ApiError> {
    let found = key_policies::table
        .filter(key_policies::organization_id.eq(organization_id))
        .select(KeyPolicyRow::as_select())
        .first(conn)
        .optional()?;
    Ok(found.as_ref().map(KeyPolicy::from_row).unwrap_or_default())
}

/// A change to a policy: only the fields given change; `Some(None)` lifts
/// the lifetime limit.
#[derive(Debug, Clone, Default)]
pub struct KeyPolicyPatch {
    /// New leak response.
    pub leak_response: Option<LeakResponse>,
    /// New limit, or none.
    pub max_key_lifetime_seconds: Option<Option<i64>>,
    /// New expiry requirement.
    pub require_expiry: Option<bool>,
}

/// Applies a patch after checking `If-Match`, with the audit event, in one
/// transaction; keys that break the new policy are left as they are (the
/// `violates_policy` filter of `list_api_keys` finds them).
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    if_match: &IfMatch,
    patch: KeyPolicyPatch,
    audit: AuditEvent,
) -> Result<KeyPolicyRow, ApiError> {
    conn.transaction(|conn| {
        // The policy row may not exist yet; the organization's always does.
        version::lock(
            conn,
            organizations::table.filter(organizations::id.eq(organization_id)),
        )?;
        let current = row(conn, organization_id)?;
        if_match.check(&current.etag())?;
        let mut updated_at = now().naive_utc();
        if updated_at <= current.updated_at {
            // Two changes within one clock tick still get distinct ETags.
            updated_at = current.updated_at + chrono::Duration::microseconds(1);
        }
        let next = KeyPolicyRow {
            organization_id: organization_id.to_owned(),
            leak_response: patch
                .leak_response
                .map_or(current.leak_response.clone(), |r| r.as_str().to_owned()),
            max_key_lifetime_seconds: patch
                .max_key_lifetime_seconds
                .unwrap_or(current.max_key_lifetime_seconds),
            require_expiry: patch.require_expiry.unwrap_or(current.require_expiry),
            updated_at,
        };
        let updated = diesel::update(
            key_policies::table.filter(key_policies::organization_id.eq(organization_id)),
        )
        .set((
            key_policies::leak_response.eq(&next.leak_response),
            key_policies::max_key_lifetime_seconds.eq(next.max_key_lifetime_seconds),
            key_policies::require_expiry.eq(next.require_expiry),
            key_policies::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
        if updated == 0 {
            // No row yet; under the organization's lock no other change
            // can insert it meanwhile (SQLite writes one at a time).
            diesel::insert_into(key_policies::table)
                .values(&next)
                .execute(conn)?;
        }
        audit.record(conn)?;
        Ok(next)
    })
}
