//! The audit trail: one event per mutation, written by the repo inside the
//! mutation's own transaction, so an event exists exactly when the change
//! does, and one per mutation refused to a caller who presented a real key
//! (`denied`). Refusals of callers without a usable key are counted
//! ([`Refusals`]), not stored: anyone can send them, so storing them would
//! let anyone fill the disk. Events older than the retention are purged
//! ([`purge_before`]). Events carry ids and names, never a secret.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::{first_id_at, new_id, now, AnyConnection};

/// One audited action.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// `evt_` id, time-ordered.
    pub id: String,
    /// When it happened.
    pub occurred_at: chrono::NaiveDateTime,
    /// The actor's organization, if known.
    pub organization_id: Option<String>,
    /// The key that acted, if known.
    pub actor_key_id: Option<String>,
    /// The operationId.
    pub action: String,
    /// The kind of resource.
    pub resource_type: String,
    /// The resource's id, if any.
    pub resource_id: Option<String>,
    /// The request's id.
    pub request_id: String,
    /// `success` or `denied`.
    pub outcome: String,
    /// What else the event records (for a leak report, the URL where the
    /// key was found); never a secret.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A successful mutation; the actor is `None` for the command line.
    pub fn success(
        organization_id: &str,
        actor_key_id: Option<&str>,
        action: &str,
        resource_type: &str,
        resource_id: &str,
        request_id: &str,
    ) -> AuditEvent {
        AuditEvent {
            id: new_id("evt_"),
            occurred_at: now().naive_utc(),
            organization_id: Some(organization_id.to_owned()),
            actor_key_id: actor_key_id.map(str::to_owned),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: Some(resource_id.to_owned()),
            request_id: request_id.to_owned(),
            outcome: "success".to_owned(),
            detail: None,
        }
    }

    /// A mutation refused with 401 or 403; the actor is unknown when the
    /// caller did not authenticate.
    pub fn denied(
        organization_id: Option<&str>,
        actor_key_id: Option<&str>,
        action: &str,
        resource_type: &str,
        resource_id: Option<&str>,
        request_id: &str,
    ) -> AuditEvent {
        AuditEvent {
            id: new_id("evt_"),
            occurred_at: now().naive_utc(),
            organization_id: organization_id.map(str::to_owned),
            actor_key_id: actor_key_id.map(str::to_owned),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.map(str::to_owned),
            request_id: request_id.to_owned(),
            outcome: "denied".to_owned(),
            detail: None,
        }
    }

    /// The same event about another resource id (for ids known only once
    /// the row is built).
    pub fn for_resource(mut self, resource_id: &str) -> AuditEvent {
        self.resource_id = Some(resource_id.to_owned());
        self
    }

    /// The same event with a detail, cut to [`DETAIL_MAX_CHARS`].
    pub fn with_detail(mut self, detail: &str) -> AuditEvent {
        self.detail = Some(detail.chars().take(DETAIL_MAX_CHARS).collect());
        self
    }

    /// Writes the event on the caller's connection, inside its transaction.
    /// A NUL (from a path's `%00`) is written as `%00`, as it was sent:
    /// PostgreSQL text cannot hold it, and the event must not be lost.
    pub fn record(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        let escape = |text: &str| text.replace('\0', "%00");
        let has_nul = |text: &Option<String>| text.as_deref().is_some_and(|t| t.contains('\0'));
        let event = if has_nul(&self.resource_id) || has_nul(&self.detail) {
            &AuditEvent {
                resource_id: self.resource_id.as_deref().map(escape),
                detail: self.detail.as_deref().map(escape),
                ..self.clone()
            }
        } else {
            self
        };
        diesel::insert_into(audit_events::table)
            .values(event)
            .execute(conn)
            .map(drop)
    }
}

/// The longest `detail` an event keeps, in characters.
pub const DETAIL_MAX_CHARS: usize = 2048;

/// Refused requests that are not stored: those of callers who presented no
/// usable key (none, malformed, unknown). Counted here and reported in the
/// log at most once per report interval.
#[derive(Debug, Default)]
pub struct Refusals {
    total: AtomicU64,
    unreported: AtomicU64,
}

impl Refusals {
    /// Counts one refusal.
    pub fn note(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.unreported.fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals since the process started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Refusals since the last call (the periodic log line).
    pub fn take_unreported(&self) -> u64 {
        self.unreported.swap(0, Ordering::Relaxed)
    }
}

/// Rows one purge transaction deletes at most, so none holds many locks or
/// runs long.
pub const PURGE_BATCH: usize = 5_000;

/// Deletes up to [`PURGE_BATCH`] of the events that happened before
/// `cutoff`, oldest first; returns how many (fewer than the batch: none are
/// left). Event ids are time-ordered (`db::new_id`), so the primary key
/// finds them.
pub fn purge_before(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    let batch: Vec<String> = audit_events::table
        .filter(audit_events::id.lt(first_id_at("evt_", cutoff)))
        .select(audit_events::id)
        .order(audit_events::id.asc())
        .limit(i64::try_from(PURGE_BATCH).unwrap_or(i64::MAX))
        .load(conn)?;
    if batch.is_empty() {
        return Ok(0);
    }
    diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&batch))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_and_reported_once() {
        let refusals = Refusals::default();
        refusals.note();
        refusals.note();
        assert_eq!(refusals.take_unreported(), 2);
        assert_eq!(refusals.take_unreported(), 0, "a report takes the count");
        refusals.note();
        assert_eq!(refusals.total(), 3, "the total since start stays");
    }
}
