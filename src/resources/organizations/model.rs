//! Rows of `organizations`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{organization_settings, organizations};

/// One organization.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    /// `org_` id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Whether this is the first organization.
    pub is_root: bool,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl OrganizationRow {
    /// The `ETag` of the organization (it changes only by being recreated).
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.created_at)
    }
}

/// An organization's subscription state and terms acceptance; an
/// organization without a row has the defaults (`trial`, not accepted).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organization_settings)]
pub struct OrganizationSettingsRow {
    /// The organization.
    pub organization_id: String,
    /// `trial`, `active` or `inactive`.
    pub subscription_state: String,
    /// Last change of the state (the organization's creation by default).
    pub subscription_updated_at: NaiveDateTime,
    /// When the terms were first accepted.
    pub terms_accepted_at: Option<NaiveDateTime>,
    /// The `aky_` id of the key that accepted them.
    pub terms_accepted_by: Option<String>,
}

impl OrganizationSettingsRow {
    /// The defaults of an organization that has no row yet.
    pub fn defaults(organization: &OrganizationRow) -> OrganizationSettingsRow {
        OrganizationSettingsRow {
            organization_id: organization.id.clone(),
            subscription_state: SUBSCRIPTION_TRIAL.to_owned(),
            subscription_updated_at: organization.created_at,
            terms_accepted_at: None,
            terms_accepted_by: None,
        }
    }

    /// The `ETag` of the subscription.
    pub fn subscription_etag(&self) -> String {
        crate::db::version::etag(
            &format!("{}/subscription", self.organization_id),
            self.subscription_updated_at,
        )
    }

    /// The `ETag` of the terms acceptance (`created_at`: the organization's
    /// creation, for terms not yet accepted).
    pub fn terms_etag(&self, created_at: NaiveDateTime) -> String {
        crate::db::version::etag(
            &format!("{}/terms_and_conditions", self.organization_id),
            self.terms_accepted_at.unwrap_or(created_at),
        )
    }
}

/// The subscription state of a new organization.
pub const SUBSCRIPTION_TRIAL: &str = "trial";
