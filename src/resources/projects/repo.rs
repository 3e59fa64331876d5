//! Storage of projects: plain functions over a connection, each mutation in
//! one transaction with its audit event, `If-Match` checked against the
//! loaded row.

use diesel::prelude::*;

use super::model::{ProjectChanges, ProjectRow};
use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::{api_proxies, projects};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;

/// The 404 of a project that does not exist, in Apinizer's words.
pub fn project_not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("Project (name: {name}) was not found!"))
}

/// Creates a project with a new `prj_` id and its audit event; 409
/// `already_exists` when the organization has a project of that name.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    name: &str,
    description: Option<String>,
    audit: AuditEvent,
) -> Result<ProjectRow, ApiError> {
    conn.transaction(|conn| {
        let at = now().naive_utc();
        let row = ProjectRow {
            id: new_id("prj_"),
            organization_id: organization_id.to_owned(),
            name: name.to_owned(),
            description,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(projects::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!("a project named {name} already exists")
                })
            })?;
        audit.for_resource(&row.id).record(conn)?;
        Ok(row)
    })
}

/// One page of the organization's projects by id (one extra row tells
/// whether there is a next page).
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    page: &Page,
) -> Result<Vec<ProjectRow>, ApiError> {
    let mut query = projects::table
        .filter(projects::organization_id.eq(organization_id))
        .select(ProjectRow::as_select())
        .order(projects::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(projects::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// The organization's project of this name, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    name: &str,
) -> Result<ProjectRow, ApiError> {
    projects::table
        .filter(projects::organization_id.eq(organization_id))
        .filter(projects::name.eq(name))
        .select(ProjectRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| project_not_found(name))
}

/// Takes the organization's project of this name for the write's
/// transaction (`db::version::lock`), loads it and checks `If-Match`.
fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    name: &str,
    if_match: &IfMatch,
) -> Result<ProjectRow, ApiError> {
    version::lock(
        conn,
        projects::table
            .filter(projects::organization_id.eq(organization_id))
            .filter(projects::name.eq(name)),
    )?;
    let current = get(conn, organization_id, name)?;
    if_match.check(&current.etag())?;
    Ok(current)
}

/// Applies PATCH changes after `If-Match`, with the audit event.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    name: &str,
    if_match: &IfMatch,
    mut changes: ProjectChanges,
    audit: AuditEvent,
) -> Result<ProjectRow, ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, name, if_match)?;
        changes.updated_at = Some(now().naive_utc());
        diesel::update(projects::table.filter(projects::id.eq(&current.id)))
            .set(&changes)
            .execute(conn)?;
        audit.for_resource(&current.id).record(conn)?;
        get(conn, organization_id, name)
    })
}

/// Deletes a project after `If-Match`, with the audit event; 409
/// `still_referenced` while it holds API proxies.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    name: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, name, if_match)?;
        let proxies: i64 = api_proxies::table
            .filter(api_proxies::project_id.eq(&current.id))
            .count()
            .get_result(conn)?;
        if proxies > 0 {
            return Err(still_holds(name, proxies));
        }
        diesel::delete(projects::table.filter(projects::id.eq(&current.id)))
            .execute(conn)
            // A proxy created at the same moment trips the foreign key.
            .map_err(|e| ApiError::from_db_with_conflict(e, || still_holds(name, 1).to_string()))?;
        audit.for_resource(&current.id).record(conn)?;
        Ok(())
    })
}

fn still_holds(name: &str, proxies: i64) -> ApiError {
    let noun = if proxies == 1 {
        "API proxy"
    } else {
        "API proxies"
    };
    ApiError::Conflict {
        code: "still_referenced",
        detail: format!("project {name} still holds {proxies} {noun}; delete them first"),
    }
}
