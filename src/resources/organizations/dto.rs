//! Request bodies and views of organizations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::OrganizationRow;
use crate::resources::api_keys::dto::ApiKeyWithSecret;

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
