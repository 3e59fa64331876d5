//! Request bodies and views of organizations, their subscription and their
//! terms and conditions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::{OrganizationRow, OrganizationSettingsRow};
use crate::error::ApiError;
use crate::fields::present;
use crate::resources::api_keys::dto::ApiKeyWithSecret;
use crate::resources::key_policies::domain::{KeyPolicy, LeakResponse};
use crate::resources::key_policies::model::KeyPolicyRow;
use crate::resources::key_policies::repo::KeyPolicyPatch;

crate::prefixed_id!(
    /// An organization id: `org_` and 32 hex digits.
    OrganizationId,
    "org_"
);

/// Path of single-organization operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrganizationPath {
    /// The organization's id.
    #[param(value_type = String, pattern = "^org_[0-9a-f]{32}$", example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: OrganizationId,
}

/// Body of `create_organization`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// Unique name: a letter or digit, then up to 99 letters, digits, `.`, `_` or `-`.
    #[validate(regex(path = *NAME_RULE, message = "must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        example = "acme"
    )]
    pub name: String,
}

static NAME_RULE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$").expect("valid regex")
});

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    /// `org_` and 32 hex digits.
    #[schema(
        pattern = "^org_[0-9a-f]{32}$",
        example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// Unique name.
    #[schema(example = "acme")]
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<OrganizationRow> for Organization {
    fn from(row: OrganizationRow) -> Self {
        Organization {
            id: row.id,
            name: row.name,
            created_at: row.created_at.and_utc(),
        }
    }
}

/// A new organization and its first `personal` key, whose secret is shown
/// this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganization {
    /// The organization.
    pub organization: Organization,
    /// Its first key, with the secret.
    pub api_key: ApiKeyWithSecret,
}

/// An organization's subscription state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// A trial (every new organization starts here).
    Trial,
    /// A paid, active subscription.
    Active,
    /// No active subscription.
    Inactive,
}

impl SubscriptionState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Trial => "trial",
            SubscriptionState::Active => "active",
            SubscriptionState::Inactive => "inactive",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<SubscriptionState> {
        [
            SubscriptionState::Trial,
            SubscriptionState::Active,
            SubscriptionState::Inactive,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// An organization's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    /// The organization.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// `trial`, `active` or `inactive`.
    #[schema(example = "active")]
    pub state: SubscriptionState,
    /// When the state last changed (the organization's creation, if never).
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// The view of a settings row.
    pub fn from_row(row: &OrganizationSettingsRow) -> Result<Subscription, ApiError> {
        let state = SubscriptionState::parse(&row.subscription_state).ok_or_else(|| {
            ApiError::internal(format!(
                "organization {}: bad subscription state",
                row.organization_id
            ))
        })?;
        Ok(Subscription {
            organization_id: row.organization_id.clone(),
            state,
            updated_at: row.subscription_updated_at.and_utc(),
        })
    }
}

/// Body of `update_organization_subscription`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    /// The new state.
    #[schema(example = "active")]
    pub state: SubscriptionState,
}

/// Whether an organization accepted the terms and conditions, and when and
/// by which key.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsAndConditions {
    /// The organization.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// Whether the terms were accepted.
    #[schema(example = true)]
    pub accepted: bool,
    /// When they were first accepted; present only when `accepted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub accepted_at: Option<DateTime<Utc>>,
    /// The API key that first accepted them; present only when `accepted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        pattern = "^aky_[0-9a-f]{32}$",
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub accepted_by: Option<String>,
}

impl From<&OrganizationSettingsRow> for TermsAndConditions {
    fn from(row: &OrganizationSettingsRow) -> Self {
        TermsAndConditions {
            organization_id: row.organization_id.clone(),
            accepted: row.terms_accepted_at.is_some(),
            accepted_at: row.terms_accepted_at.map(|t| t.and_utc()),
            accepted_by: row.terms_accepted_by.clone(),
        }
    }
}

/// The longest `max_key_lifetime_seconds`: ten years.
pub const MAX_LIFETIME_LIMIT: i64 = 315_360_000;

/// An organization's key policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPolicyView {
    /// The organization.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// What a GitHub secret scanning alert does to a reported key:
    /// `disable` (the default) or `revoke`.
    pub leak_response: LeakResponse,
    /// The longest lifetime an API key may be given, in seconds, counted
    /// from the create, update or rotate that gives it; `null`: no limit. A
    /// limit also requires every key to have an `expires_at`.
    #[schema(required = true, nullable = true, example = 7_776_000)]
    pub max_key_lifetime_seconds: Option<i64>,
    /// Whether every API key must have an `expires_at`.
    pub require_expiry: bool,
    /// Last change (the organization's creation while it has the defaults).
    pub updated_at: DateTime<Utc>,
}

impl From<&KeyPolicyRow> for KeyPolicyView {
    fn from(row: &KeyPolicyRow) -> Self {
        let policy = KeyPolicy::from_row(row);
        KeyPolicyView {
            organization_id: row.organization_id.clone(),
            leak_response: policy.leak_response,
            max_key_lifetime_seconds: policy.max_key_lifetime_seconds,
            require_expiry: policy.require_expiry,
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// Body of `update_key_policy`: only the fields present change; `null`
/// lifts the lifetime limit. Keys that break a stricter policy keep
/// working; `GET /v1/api_keys?violates_policy=true` lists them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyPolicy {
    /// `disable` or `revoke`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub leak_response: Option<LeakResponse>,
    /// New limit in seconds (60 to 315,360,000), or `null` for none.
    #[serde(default, deserialize_with = "crate::fields::nullable_whole")]
    #[schema(minimum = 60, maximum = 315_360_000, example = 7_776_000)]
    pub max_key_lifetime_seconds: Option<Option<i64>>,
    /// Whether every API key must have an `expires_at`.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub require_expiry: Option<bool>,
}

impl UpdateKeyPolicy {
    /// The change, once the limit is within its range.
    pub fn into_patch(self) -> Result<KeyPolicyPatch, ApiError> {
        if let Some(Some(seconds)) = self.max_key_lifetime_seconds {
            if !(60..=MAX_LIFETIME_LIMIT).contains(&seconds) {
                return Err(ApiError::invalid_field(
                    "max_key_lifetime_seconds",
                    "range",
                    "must be 60 to 315360000 seconds",
                ));
            }
        }
        Ok(KeyPolicyPatch {
            leak_response: self.leak_response,
            max_key_lifetime_seconds: self.max_key_lifetime_seconds,
            require_expiry: self.require_expiry,
        })
    }
}
