//! Storage of connected clusters and their keys: plain functions over a
//! connection, each mutation in one transaction with its audit event.
//! Cluster keys and service keys are `key_secrets` rows handled by
//! `crate::keys`, owned by kind `cluster` (owner id: the cluster id) and
//! `cluster_service` (owner id: `<cluster id>:<service>`).

use std::collections::HashMap;

use diesel::prelude::*;

use super::domain::{ClusterId, ClusterKey, ClusterService, ClusterSpec};
use super::model::{ClusterRow, ClusterSettings};
use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::{clusters, key_secrets};
use crate::db::version::{self, IfMatch};
use crate::db::{now, AnyConnection};
use crate::error::ApiError;
use crate::keys::dto::PendingKey;
use crate::keys::format::{GeneratedKey, KeyKind};
use crate::keys::model::{KeySecretRow, STATE_CURRENT};
use crate::keys::records::ClusterKeyRecord;
use crate::keys::repo::{self as rotation, Owner};
use crate::keys::{OWNER_CLUSTER, OWNER_CLUSTER_SERVICE};

/// Whose key: the cluster itself (`None`) or one of its services.
pub type KeyOwner = Option<ClusterService>;

fn owner<'a>(organization_id: &'a str, kind: &'a str, id: &'a str) -> Owner<'a> {
    Owner {
        organization_id,
        kind,
        id,
    }
}

/// The owner kind, owner id and key kind of a cluster's or service's keys.
pub fn key_owner(cluster_id: &str, service: KeyOwner) -> (&'static str, String, KeyKind) {
    match service {
        None => (OWNER_CLUSTER, cluster_id.to_owned(), KeyKind::ClusterKey),
        Some(service) => (
            OWNER_CLUSTER_SERVICE,
            service.owner_id(cluster_id),
            KeyKind::ClusterServiceKey,
        ),
    }
}

/// Every owner of a cluster's keys: the cluster itself and each service.
fn key_owners() -> impl Iterator<Item = KeyOwner> {
    std::iter::once(None).chain(ClusterService::ALL.map(Some))
}

/// Every `owner_id` a cluster's key secrets may have: the cluster's and
/// each service's.
pub fn owner_ids(cluster_id: &str) -> Vec<String> {
    key_owners().map(|s| key_owner(cluster_id, s).1).collect()
}

/// Finds the cluster or cluster service key a presented key's hash belongs
/// to. Its cluster must exist and, for a service key, have the service
/// enabled: writes revoke keys on disconnect and on disabling a service,
/// and this makes a key a racing rotation left behind count as revoked too.
pub fn find_by_secret(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<ClusterKeyRecord>, ApiError> {
    let Some(secret) = key_secrets::table
        .filter(key_secrets::key_hash.eq(hash))
        .filter(key_secrets::owner_kind.eq_any([OWNER_CLUSTER, OWNER_CLUSTER_SERVICE]))
        .select(KeySecretRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let (cluster_id, service) = if secret.owner_kind == OWNER_CLUSTER {
        (secret.owner_id.clone(), None)
    } else {
        let parsed = secret
            .owner_id
            .split_once(':')
            .and_then(|(id, name)| Some((id.to_owned(), Some(ClusterService::parse(name)?))));
        parsed.ok_or_else(|| ApiError::internal("a cluster service key has a bad owner id"))?
    };
    let cluster = clusters::table
        .filter(clusters::organization_id.eq(&secret.organization_id))
        .filter(clusters::id.eq(&cluster_id))
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?;
    let live = match (cluster, service) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(row), Some(service)) => service.enabled_in(&row.spec()?),
    };
    if !live {
        return Ok(None);
    }
    Ok(Some(ClusterKeyRecord {
        secret,
        cluster_id,
        service: service.map(|s| s.as_str().to_owned()),
    }))
}

/// A cluster with the working keys of it and its services, read in the
/// same go (what its view shows).
pub fn with_keys(
    conn: &mut AnyConnection,
    organization_id: &str,
    row: ClusterRow,
) -> Result<(ClusterRow, HashMap<String, ClusterKey>), ApiError> {
    let keys = keys_of(conn, organization_id, std::slice::from_ref(&row.id))?;
    Ok((row, keys))
}

/// The working keys of the given clusters and their services, by owner id.
pub fn keys_of(
    conn: &mut AnyConnection,
    organization_id: &str,
    cluster_ids: &[String],
) -> Result<HashMap<String, ClusterKey>, ApiError> {
    if cluster_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let owners: Vec<String> = cluster_ids.iter().flat_map(|id| owner_ids(id)).collect();
    let rows: Vec<KeySecretRow> = key_secrets::table
        .filter(key_secrets::organization_id.eq(organization_id))
        .filter(key_secrets::owner_kind.eq_any([OWNER_CLUSTER, OWNER_CLUSTER_SERVICE]))
        .filter(key_secrets::owner_id.eq_any(&owners))
        .order((key_secrets::created_at.asc(), key_secrets::key_hash.asc()))
        .select(KeySecretRow::as_select())
        .load(conn)?;
    let at = now();
    let mut current: HashMap<String, KeySecretRow> = HashMap::new();
    let mut pending: HashMap<String, Vec<PendingKey>> = HashMap::new();
    for row in rows {
        if row.state == STATE_CURRENT {
            current.insert(row.owner_id.clone(), row);
        } else if row.is_pending() && !row.has_ended(at) {
            pending
                .entry(row.owner_id.clone())
                .or_default()
                .push(PendingKey::from(&row));
        }
    }
    Ok(current
        .into_iter()
        .map(|(owner_id, row)| {
            let pending_keys = pending.remove(&owner_id).unwrap_or_default();
            let key = ClusterKey {
                key_prefix: row.key_prefix,
                key_last4: row.key_last4,
                created_at: row.created_at.and_utc(),
                pending_keys,
            };
            (owner_id, key)
        })
        .collect())
}

/// What `create` did.
pub struct Created {
    /// The cluster.
    pub row: ClusterRow,
    /// Whether it was made now (else it existed with the same settings).
    pub new: bool,
    /// The cluster key issued by this call, if any.
    pub key: Option<GeneratedKey>,
}

/// One cluster of the organization by its self-managed cluster's id.
fn find_by_self_managed_id(
    conn: &mut AnyConnection,
    organization_id: &str,
    self_managed_id: &str,
) -> Result<Option<ClusterRow>, ApiError> {
    Ok(clusters::table
        .filter(clusters::organization_id.eq(organization_id))
        .filter(clusters::self_managed_cluster_id.eq(self_managed_id))
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?)
}

fn has_current_key(conn: &mut AnyConnection, cluster_id: &str) -> Result<bool, ApiError> {
    let found: i64 = key_secrets::table
        .filter(key_secrets::owner_kind.eq(OWNER_CLUSTER))
        .filter(key_secrets::owner_id.eq(cluster_id))
        .filter(key_secrets::state.eq(STATE_CURRENT))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

fn touch(conn: &mut AnyConnection, organization_id: &str, id: &str) -> Result<(), ApiError> {
    diesel::update(
        clusters::table
            .filter(clusters::organization_id.eq(organization_id))
            .filter(clusters::id.eq(id)),
    )
    .set(clusters::updated_at.eq(now().naive_utc()))
    .execute(conn)?;
    Ok(())
}

/// What a repeat connect (the same `self_managed_cluster.id`) does when the
/// settings differ from the cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// 409 `already_exists`: the native API, where a change is a PATCH.
    Refuse,
    /// Take the self-managed cluster's new name and version and the new
    /// license (and the name, when `name_given`), keep the services: an
    /// agent re-registering after an upgrade (Elastic Cloud Connect).
    Register {
        /// Whether the caller named the cluster (else its name stays).
        name_given: bool,
    },
}

/// The settings a repeat registration leaves: the request's view of the
/// self-managed cluster and its license over the current settings.
fn registered(current: &ClusterSpec, spec: &ClusterSpec, name_given: bool) -> ClusterSpec {
    ClusterSpec {
        name: if name_given {
            spec.name.clone()
        } else {
            current.name.clone()
        },
        self_managed_cluster: spec.self_managed_cluster.clone(),
        license: spec.license.clone().or_else(|| current.license.clone()),
        ..current.clone()
    }
}

/// Connects a cluster, idempotently on `self_managed_cluster.id` within the
/// organization: an existing cluster with the same settings is returned
/// (`new: false`); one with other settings is a 409 (`Repeat::Refuse`) or
/// takes the new settings (`Repeat::Register`). With `create_key`, the
/// cluster's first key is issued unless it already has one. The audit event
/// is written when anything was written, in the same transaction.
pub fn create(
    conn: &mut AnyConnection,
    organization_id: &str,
    spec: &ClusterSpec,
    create_key: bool,
    repeat: Repeat,
    audit: AuditEvent,
) -> Result<Created, ApiError> {
    conn.transaction(|conn| {
        let smc_id = &spec.self_managed_cluster.id;
        if let Some(found) = find_by_self_managed_id(conn, organization_id, smc_id)? {
            // Repeats of one registration (agents re-register at every
            // start) take the row, so two of them cannot both issue a key.
            let mut existing = get_for_write(conn, organization_id, &found.id, &IfMatch::default())?;
            let current = existing.spec()?;
            let mut changed = false;
            if current != *spec {
                let Repeat::Register { name_given } = repeat else {
                    return Err(ApiError::Conflict {
                        code: "already_exists",
                        detail: format!(
                            "cluster {} already connects self-managed cluster {smc_id} with other settings; change it with PATCH",
                            existing.id
                        ),
                    });
                };
                let after = registered(&current, spec, name_given);
                if after != current {
                    diesel::update(
                        clusters::table
                            .filter(clusters::organization_id.eq(organization_id))
                            .filter(clusters::id.eq(&existing.id)),
                    )
                    .set(ClusterSettings::of(&after, now().naive_utc()))
                    .execute(conn)?;
                    existing = get(conn, organization_id, &existing.id)?;
                    changed = true;
                }
            }
            if !create_key || has_current_key(conn, &existing.id)? {
                if changed {
                    audit.for_resource(&existing.id).record(conn)?;
                }
                return Ok(Created {
                    row: existing,
                    new: false,
                    key: None,
                });
            }
            let key = rotation::issue(
                conn,
                owner(organization_id, OWNER_CLUSTER, &existing.id),
                KeyKind::ClusterKey,
            )?;
            touch(conn, organization_id, &existing.id)?;
            audit.for_resource(&existing.id).record(conn)?;
            return Ok(Created {
                row: get(conn, organization_id, &existing.id)?,
                new: false,
                key: Some(key),
            });
        }
        let at = now().naive_utc();
        let id = ClusterId::generate();
        let row = ClusterRow {
            id: id.clone(),
            organization_id: organization_id.to_owned(),
            self_managed_cluster_id: smc_id.clone(),
            settings: ClusterSettings::of(spec, at),
            created_at: at,
        };
        diesel::insert_into(clusters::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| {
                ApiError::from_db_with_conflict(e, || {
                    format!("a cluster for self-managed cluster {smc_id} was connected at the same moment; retry")
                })
            })?;
        let key = if create_key {
            Some(rotation::issue(
                conn,
                owner(organization_id, OWNER_CLUSTER, &id),
                KeyKind::ClusterKey,
            )?)
        } else {
            None
        };
        audit.for_resource(&id).record(conn)?;
        Ok(Created {
            row,
            new: true,
            key,
        })
    })
}

/// One page of an organization's clusters by id; fetches one extra row so
/// the caller can tell whether there is a next page.
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    page: &Page,
) -> Result<Vec<ClusterRow>, ApiError> {
    let mut query = clusters::table
        .filter(clusters::organization_id.eq(organization_id))
        .select(ClusterRow::as_select())
        .order(clusters::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(clusters::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}

/// One cluster of the organization, or 404.
pub fn get(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
) -> Result<ClusterRow, ApiError> {
    clusters::table
        .filter(clusters::organization_id.eq(organization_id))
        .filter(clusters::id.eq(id))
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("cluster", id))
}

fn get_for_write(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
) -> Result<ClusterRow, ApiError> {
    // The cluster row stands for its keys and its services' keys too: a
    // rotation of any of them takes it first (`db::version::lock`).
    version::lock(conn, clusters::table.filter(clusters::id.eq(id)))?;
    let current = get(conn, organization_id, id)?;
    if_match.check(&current.etag())?;
    Ok(current)
}

/// Merges a PATCH (`change` turns the current settings into the new ones)
/// after checking `If-Match`; a service switched off loses its keys. With
/// the audit event, in one transaction. Returns the cluster.
pub fn update(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    change: impl FnOnce(&ClusterSpec) -> Result<ClusterSpec, ApiError>,
    audit: AuditEvent,
) -> Result<ClusterRow, ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        let before = current.spec()?;
        let after = change(&before)?;
        for service in ClusterService::ALL {
            if service.enabled_in(&before) && !service.enabled_in(&after) {
                let owner_id = service.owner_id(id);
                rotation::delete_all(
                    conn,
                    owner(organization_id, OWNER_CLUSTER_SERVICE, &owner_id),
                )?;
            }
        }
        diesel::update(
            clusters::table
                .filter(clusters::organization_id.eq(organization_id))
                .filter(clusters::id.eq(id)),
        )
        .set(ClusterSettings::of(&after, now().naive_utc()))
        .execute(conn)?;
        audit.record(conn)?;
        get(conn, organization_id, id)
    })
}

/// Disconnects a cluster after checking `If-Match`: deletes it and every
/// key of it and of its services, with the audit event, in one transaction.
pub fn delete(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<(), ApiError> {
    conn.transaction(|conn| {
        get_for_write(conn, organization_id, id, if_match)?;
        for service in key_owners() {
            let (kind, owner_id, _) = key_owner(id, service);
            rotation::delete_all(conn, owner(organization_id, kind, &owner_id))?;
        }
        diesel::delete(
            clusters::table
                .filter(clusters::organization_id.eq(organization_id))
                .filter(clusters::id.eq(id)),
        )
        .execute(conn)?;
        audit.record(conn)?;
        Ok(())
    })
}

fn ensure_enabled(row: &ClusterRow, service: KeyOwner) -> Result<(), ApiError> {
    match service {
        Some(service) if !service.enabled_in(&row.spec()?) => Err(ApiError::Conflict {
            code: "service_not_enabled",
            detail: format!(
                "service {} is not enabled on cluster {}; enable it with PATCH first",
                service.as_str(),
                row.id
            ),
        }),
        _ => Ok(()),
    }
}

/// Rotates the cluster's key (`service: None`) or a service's: a new key,
/// the previous one pending for the grace period (the first key when there
/// was none). A service must be enabled (409). With `If-Match` on the
/// cluster and the audit event, in one transaction.
pub fn rotate(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    service: KeyOwner,
    if_match: &IfMatch,
    grace_seconds: i64,
    audit: AuditEvent,
) -> Result<(ClusterRow, GeneratedKey), ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        ensure_enabled(&current, service)?;
        let (kind, owner_id, key_kind) = key_owner(id, service);
        let key = rotation::rotate(
            conn,
            owner(organization_id, kind, &owner_id),
            key_kind,
            grace_seconds,
        )?;
        touch(conn, organization_id, id)?;
        audit.record(conn)?;
        Ok((get(conn, organization_id, id)?, key))
    })
}

/// Ends every pending key of the cluster (`service: None`) or of a service
/// now, after checking `If-Match` (the native API sends none); returns how
/// many. A service must be enabled (409). With the audit event, in one
/// transaction.
pub fn revoke_pending(
    conn: &mut AnyConnection,
    organization_id: &str,
    id: &str,
    service: KeyOwner,
    if_match: &IfMatch,
    audit: AuditEvent,
) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let current = get_for_write(conn, organization_id, id, if_match)?;
        ensure_enabled(&current, service)?;
        let (kind, owner_id, _) = key_owner(id, service);
        let revoked = rotation::revoke_pending(conn, owner(organization_id, kind, &owner_id))?;
        if revoked > 0 {
            touch(conn, organization_id, id)?;
        }
        audit.record(conn)?;
        Ok(revoked)
    })
}
