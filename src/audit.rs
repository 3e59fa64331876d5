//! The audit trail: one event per mutation, written by the repo inside the
//! mutation's own transaction, so an event exists exactly when the change
//! does. Events carry ids and names, never a secret.

use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::{new_id, now, AnyConnection};

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
