//! Filters and views of audit events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::audit::AuditEvent as AuditRow;

use super::repo::EventFilter;

/// `success` or `denied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The mutation was applied.
    Success,
    /// The mutation was refused: with 401 or 403, or a taken name in
    /// `create_provider_credential` (409).
    Denied,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
        }
    }
}

impl From<AuditFilter> for EventFilter {
    fn from(f: AuditFilter) -> Self {
        EventFilter {
            resource_type: f.resource_type,
            resource_id: f.resource_id,
            actor_key_id: f.actor_key_id,
            action: f.action,
            outcome: f.outcome.map(Outcome::as_str),
            since: f.since,
            until: f.until,
        }
    }
}

/// Filters of `list_audit_events`; all optional, combined with AND.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events about this kind of resource, e.g. `api_key`.
    #[param(min_length = 1, max_length = 100, example = "api_key")]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub resource_type: Option<String>,
    /// Only events about this resource id.
    #[param(
        min_length = 1,
        max_length = 200,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    pub resource_id: Option<String>,
    /// Only events by this key.
    #[param(
        min_length = 1,
        max_length = 200,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    pub actor_key_id: Option<String>,
    /// Only this operationId, e.g. `rotate_api_key`.
    #[param(min_length = 1, max_length = 100, example = "rotate_api_key")]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// One audited mutation or refused mutation. Events name ids, never secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// `evt_` and 32 hex digits; ids sort in time order.
    #[schema(example = "evt_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The actor's organization; `null` when the caller did not authenticate.
    #[schema(required = true, nullable = true)]
    pub organization_id: Option<String>,
    /// The key that acted; `null` when unknown or for the command line.
    #[schema(required = true, nullable = true)]
    pub actor_key_id: Option<String>,
    /// The operationId, e.g. `update_api_key`.
    #[schema(example = "update_api_key")]
    pub action: String,
    /// The kind of resource, e.g. `api_key`.
    #[schema(example = "api_key")]
    pub resource_type: String,
    /// The resource's id, when there is one.
    #[schema(required = true, nullable = true)]
    pub resource_id: Option<String>,
    /// The `X-Request-Id` of the request.
    pub request_id: String,
    /// What happened.
    pub outcome: Outcome,
    /// What else the event records: for `report_leaked_keys`, the URL
    /// where the key was found, as GitHub reported it; `null` otherwise.
    #[schema(
        required = true,
        nullable = true,
        example = "https://github.com/octo/app/blob/0123abc/config.yml"
    )]
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            id: row.id,
            occurred_at: row.occurred_at.and_utc(),
            organization_id: row.organization_id,
            actor_key_id: row.actor_key_id,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id.filter(|id| !id.is_empty()),
            request_id: row.request_id,
            outcome: if row.outcome == "denied" {
                Outcome::Denied
            } else {
                Outcome::Success
            },
            detail: row.detail,
        }
    }
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    /// The events, oldest first.
    pub data: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true)]
    pub next_cursor: Option<String>,
}
