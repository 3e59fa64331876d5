//! Reading audit events.

use diesel::prelude::*;

use chrono::{DateTime, Utc};

use crate::audit::AuditEvent;
use crate::db::page::Page;
use crate::db::schema::audit_events;
use crate::db::AnyConnection;
use crate::error::ApiError;

/// Which events to list; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only about this kind of resource.
    pub resource_type: Option<String>,
    /// Only about this resource id.
    pub resource_id: Option<String>,
    /// Only by this key.
    pub actor_key_id: Option<String>,
    /// Only this operationId.
    pub action: Option<String>,
    /// Only this outcome (`success`, `denied`).
    pub outcome: Option<&'static str>,
    /// Only at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One page of the events an organization may see, oldest first. The first
/// organization also sees the events of callers that never authenticated.
pub fn list(
    conn: &mut AnyConnection,
    organization_id: &str,
    is_root: bool,
    filter: &EventFilter,
    page: &Page,
) -> Result<Vec<AuditEvent>, ApiError> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .order(audit_events::id.asc())
        .limit(page.limit + 1)
        .into_boxed();
    query = if is_root {
        query.filter(
            audit_events::organization_id
                .eq(organization_id)
                .or(audit_events::organization_id.is_null()),
        )
    } else {
        query.filter(audit_events::organization_id.eq(organization_id))
    };
    if let Some(v) = &filter.resource_type {
        query = query.filter(audit_events::resource_type.eq(v.clone()));
    }
    if let Some(v) = &filter.resource_id {
        query = query.filter(audit_events::resource_id.eq(v.clone()));
    }
    if let Some(v) = &filter.actor_key_id {
        query = query.filter(audit_events::actor_key_id.eq(v.clone()));
    }
    if let Some(v) = &filter.action {
        query = query.filter(audit_events::action.eq(v.clone()));
    }
    if let Some(v) = filter.outcome {
        query = query.filter(audit_events::outcome.eq(v));
    }
    if let Some(v) = filter.since {
        query = query.filter(audit_events::occurred_at.ge(v.naive_utc()));
    }
    if let Some(v) = filter.until {
        query = query.filter(audit_events::occurred_at.lt(v.naive_utc()));
    }
    if let Some(after) = &page.after {
        query = query.filter(audit_events::id.gt(after.clone()));
    }
    Ok(query.load(conn)?)
}
