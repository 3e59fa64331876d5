//! Storage of organizations, and the bootstrap of an empty database.

use diesel::prelude::*;

use super::model::OrganizationRow;
use crate::audit::AuditEvent;
use crate::auth::key_format::GeneratedKey;
use crate::auth::Role;
use crate::db::schema::organizations;
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::resources::api_keys::model::ApiKeyRow;
use crate::resources::api_keys::repo::{self as key_repo, NewApiKey};

/// Name of the organization an empty database starts with.
pub const DEFAULT_ORGANIZATION: &str = "default";

/// An organization and its first `personal` key.
pub struct NewOrganization {
    /// The organization.
    pub organization: OrganizationRow,
    /// Its first key.
    pub api_key: ApiKeyRow,
    /// The key's secret, shown once.
    pub key: GeneratedKey,
}

fn first_key(name: &str) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        role: Role::Personal,
        policy: None,
        allowed_cidrs: None,
        expires_at: None,
        enabled: true,
    }
}

fn insert(
    conn: &mut AnyConnection,
    name: &str,
    is_root: bool,
    key_name: &str,
    key: Option<GeneratedKey>,
) -> Result<NewOrganization, ApiError> {
    let organization = OrganizationRow {
        id: new_id("org_"),
        name: name.to_owned(),
        is_root,
        created_at: now().naive_utc(),
    };
    diesel::insert_into(organizations::table)
        .values(&organization)
        .execute(conn)
        .map_err(|e| {
            ApiError::from_db_with_conflict(e, || {
                format!("an organization named {name} already exists")
            })
        })?;
    let input = first_key(key_name);
    let (api_key, key) = match key {
        Some(key) => key_repo::insert_with_secret(conn, &organization.id, &input, key)?,
        None => key_repo::insert(conn, &organization.id, &input)?,
    };
    Ok(NewOrganization {
        organization,
        api_key,
        key,
    })
}

/// On an empty database, creates organization `default` and its first
/// `personal` key (the supplied one, or a new one). Returns `None` when the
/// database already has an organization.
pub fn bootstrap(
    conn: &mut AnyConnection,
    supplied: Option<GeneratedKey>,
) -> Result<Option<NewOrganization>, ApiError> {
    conn.transaction(|conn| {
        let existing: i64 = organizations::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(None);
        }
        let created = insert(conn, DEFAULT_ORGANIZATION, true, "bootstrap", supplied)?;
        AuditEvent::success(
            &created.organization.id,
            None,
            "bootstrap",
            "organization",
            &created.organization.id,
            "bootstrap",
        )
        .record(conn)?;
        Ok(Some(created))
    })
}

/// Creates an organization and its first key, with the audit event.
pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    audit: AuditEvent,
) -> Result<NewOrganization, ApiError> {
    conn.transaction(|conn| {
        let created = insert(conn, name, false, "admin", None)?;
        audit.for_resource(&created.organization.id).record(conn)?;
        Ok(created)
    })
}

/// An organization by id, or 404.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<OrganizationRow, ApiError> {
    organizations::table
        .filter(organizations::id.eq(id))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("organization", id))
}

/// An organization by id or by name (for the command line).
pub fn find(conn: &mut AnyConnection, id_or_name: &str) -> Result<OrganizationRow, ApiError> {
    organizations::table
        .filter(
            organizations::id
                .eq(id_or_name)
                .or(organizations::name.eq(id_or_name)),
        )
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("organization", id_or_name))
}
