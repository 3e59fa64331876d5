//! Storage of organizations, their subscription state and terms
//! acceptance, and the bootstrap of an empty database.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::model::{OrganizationRow, OrganizationSettingsRow};
use crate::audit::AuditEvent;
use crate::db::schema::{organization_settings, organizations};
use crate::db::version::{self, IfMatch};
use crate::db::{new_id, now, AnyConnection};
use crate::error::ApiError;
use crate::keys::format::GeneratedKey;
use crate::keys::rights::{Rights, Role};
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

/// The first key of an organization: `personal`, and within `creator`'s
/// rights when a key creates the organization (it keeps the creator's
/// `api_policy`, `allowed_cidrs` and `expires_at`), so no key can mint a
/// wider one by way of a new organization.
fn first_key(name: &str, creator: Option<&Rights>) -> Result<NewApiKey, ApiError> {
    let key = NewApiKey {
        name: name.to_owned(),
        role: Role::Personal,
        policy: creator.and_then(|r| r.policy.clone()),
        allowed_cidrs: creator.and_then(|r| r.allowed_cidrs.clone()),
        expires_at: creator.and_then(|r| r.expires_at),
        enabled: true,
        resource_scopes: None,
        usage: Default::default(),
    };
    if let Some(creator) = creator {
        key.rights().ensure_within(creator)?;
    }
    Ok(key)
}

fn insert(
    conn: &mut AnyConnection,
    name: &str,
    is_root: bool,
    key_name: &str,
    key: Option<GeneratedKey>,
    creator: Option<&Rights>,
) -> Result<NewOrganization, ApiError> {
    let input = first_key(key_name, creator)?;
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
        let created = insert(
            conn,
            DEFAULT_ORGANIZATION,
            true,
            "bootstrap",
            supplied,
            None,
        )?;
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

/// Creates an organization and its first key, no wider than the rights of
/// the key that creates it, with the audit event.
pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    creator: &Rights,
    audit: AuditEvent,
) -> Result<NewOrganization, ApiError> {
    conn.transaction(|conn| {
        let created = insert(conn, name, false, "admin", None, Some(creator))?;
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

/// Refuses callers outside the first organization (`operation` names the
/// missing permission): only its `personal` keys act as the operator.
pub fn ensure_root(
    conn: &mut AnyConnection,
    caller_organization_id: &str,
    operation: &str,
) -> Result<(), ApiError> {
    if get(conn, caller_organization_id)?.is_root {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: "not_root_organization",
        detail: format!("only keys of the first organization may call {operation}"),
        missing_permission: Some(operation.to_owned()),
    })
}

/// Whether a caller (of `caller_organization_id`, with `role`) may see the
/// organization `target`: its own always; another only as the operator (a
/// `personal` key of the first organization) and only where `operator`
/// allows it. Anyone else gets 404, as if the organization did not exist.
pub fn ensure_visible(
    conn: &mut AnyConnection,
    caller_organization_id: &str,
    role: Role,
    target: &str,
    operator: bool,
) -> Result<(), ApiError> {
    if target == caller_organization_id
        || (operator && role == Role::Personal && get(conn, caller_organization_id)?.is_root)
    {
        return Ok(());
    }
    Err(ApiError::not_found("organization", target))
}

/// An organization and its settings (the defaults when it has no row).
pub fn settings(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<(OrganizationRow, OrganizationSettingsRow), ApiError> {
    let organization = get(conn, id)?;
    let row = organization_settings::table
        .filter(organization_settings::organization_id.eq(id))
        .select(OrganizationSettingsRow::as_select())
        .first(conn)
        .optional()?;
    let row = row.unwrap_or_else(|| OrganizationSettingsRow::defaults(&organization));
    Ok((organization, row))
}

/// Makes sure the organization has a settings row (with the defaults) to
/// update. Two requests racing to create it on PostgreSQL: the second
/// insert waits for the first, fails on the primary key inside its own
/// savepoint, and goes on with the row the first one made.
fn ensure_settings_row(
    conn: &mut AnyConnection,
    organization: &OrganizationRow,
) -> Result<(), ApiError> {
    let found: i64 = organization_settings::table
        .filter(organization_settings::organization_id.eq(&organization.id))
        .count()
        .get_result(conn)?;
    if found > 0 {
        return Ok(());
    }
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(organization_settings::table)
            .values(OrganizationSettingsRow::defaults(organization))
            .execute(conn)
    });
    match inserted {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn settings_row(
    organization_id: &str,
) -> diesel::dsl::Filter<
    organization_settings::table,
    diesel::dsl::Eq<organization_settings::organization_id, String>,
> {
    organization_settings::table
        .filter(organization_settings::organization_id.eq(organization_id.to_owned()))
}

/// Sets the subscription state after checking `If-Match`, with the audit
/// event, in one transaction.
pub fn set_subscription(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<OrganizationSettingsRow, ApiError> {
    conn.transaction(|conn| {
        // The settings row may not exist yet; the organization's always does.
        version::lock(conn, organizations::table.filter(organizations::id.eq(id)))?;
        let (organization, current) = settings(conn, id)?;
        if_match.check(&current.subscription_etag())?;
        ensure_settings_row(conn, &organization)?;
        diesel::update(settings_row(id))
            .set((
                organization_settings::subscription_state.eq(state),
                organization_settings::subscription_updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        audit.record(conn)?;
        Ok(settings(conn, id)?.1)
    })
}

/// Records that `key_id` accepted the terms now, unless they were already
/// accepted: the first acceptance is kept (the update only touches a row
/// not yet accepted, so of two racing acceptances one wins), and a repeat
/// writes nothing, not even an audit event. Returns the organization and
/// its settings.
pub fn accept_terms(
    conn: &mut AnyConnection,
    id: &str,
    key_id: &str,
    audit: AuditEvent,
) -> Result<(OrganizationRow, OrganizationSettingsRow), ApiError> {
    conn.transaction(|conn| {
        let (organization, current) = settings(conn, id)?;
        if current.terms_accepted_at.is_some() {
            return Ok((organization, current));
        }
        ensure_settings_row(conn, &organization)?;
        let accepted = diesel::update(
            settings_row(id).filter(organization_settings::terms_accepted_at.is_null()),
        )
        .set((
            organization_settings::terms_accepted_at.eq(Some(now().naive_utc())),
            organization_settings::terms_accepted_by.eq(Some(key_id)),
        ))
        .execute(conn)?;
        if accepted > 0 {
            audit.record(conn)?;
        }
        settings(conn, id)
    })
}
