//! The audit trail: one event per mutation, written by the repo inside the
//! mutation's own transaction, so an event exists exactly when the change
//! does. Events carry ids and names, never a secret.

use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::{new_id, now, AnyConnection};

/// One audited action.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    id: String,
    occurred_at: chrono::NaiveDateTime,
    organization_id: Option<String>,
    actor_key_id: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    request_id: String,
    outcome: String,
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
        }
    }

    /// The same event about another resource id (for ids known only once
    /// the row is built).
    pub fn for_resource(mut self, resource_id: &str) -> AuditEvent {
        self.resource_id = Some(resource_id.to_owned());
        self
    }

    /// Writes the event on the caller's connection, inside its transaction.
    pub fn record(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }
}
