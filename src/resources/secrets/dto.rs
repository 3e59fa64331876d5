//! Request bodies and views of secrets. The value appears only in the
//! `get_secret` answer; `Debug` never shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::SecretRow;
use crate::fields::ResourceId;

/// Path of single-secret operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// The secret's id.
    #[param(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,127}$", example = "my-connector-api-key")]
    pub secret_id: ResourceId,
}

/// `?version=` of `get_secret`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The version to read (1 for the first value); the current one when
    /// absent. 404 when that version is not kept.
    #[param(minimum = 1, example = 3)]
    #[validate(range(min = 1, message = "must be at least 1"))]
    pub version: Option<i64>,
}

/// Path of `restore_secret_version`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Path)]
pub struct SecretVersionPath {
    /// The secret's id.
    #[param(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,127}$", example = "my-connector-api-key")]
    pub secret_id: ResourceId,
    /// The version to restore (1 for the first value).
    #[param(minimum = 1, example = 3)]
    #[validate(range(min = 1, message = "must be at least 1"))]
    pub version: i64,
}

/// Body of `create_secret` and `put_secret`. `Debug` hides the value.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": "encoded-api-key-value", "description": "API key of my-connector"}))]
pub struct SecretBody {
    /// The secret, 1 to 65,536 bytes. Stored encrypted; returned only by `get_secret`.
    #[schema(min_length = 1, max_length = 65536)]
    pub value: String,
    /// What the secret is for, up to 1,000 characters.
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(
        max_length = 1000,
        nullable = true,
        example = "API key of my-connector"
    )]
    pub description: Option<String>,
}

impl std::fmt::Debug for SecretBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBody")
            .field("value", &"<redacted>")
            .field("description", &self.description)
            .finish()
    }
}

impl SecretBody {
    /// The body's rules: the description's length, and the value's, which
    /// is the domain's ([`super::domain::check_value`]).
    pub fn check(&self) -> Result<(), crate::error::ApiError> {
        let mut errors: Vec<_> = super::domain::value_error(&self.value)
            .into_iter()
            .collect();
        errors.extend(crate::error::field_errors(self));
        crate::error::ApiError::check_fields(errors)
    }
}

/// A secret's metadata: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Secret {
    /// The id.
    #[schema(example = "my-connector-api-key")]
    pub id: String,
    /// The organization it belongs to.
    pub organization_id: String,
    /// What it is for.
    #[schema(required = true, nullable = true)]
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its value last changed.
    pub updated_at: DateTime<Utc>,
    /// Number of its current value: 1 for the first, one more for each
    /// replacement or restore.
    #[schema(minimum = 1, example = 1)]
    pub version: i64,
    /// When it was deleted; present only on a deleted secret, which only a
    /// list with `include_deleted=true` shows. It can be brought back with
    /// `undelete_secret` until the recovery window ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "2026-12-01T12:00:00Z")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<&SecretRow> for Secret {
    fn from(row: &SecretRow) -> Self {
        Secret {
            id: row.id.clone(),
            organization_id: row.organization_id.clone(),
            description: row.description.clone(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            version: row.version,
            deleted_at: row.deleted_at.map(|t| t.and_utc()),
        }
    }
}

/// A secret with the value of one version (the answer of `get_secret`).
/// `Debug` hides the value.
#[derive(Serialize, ToSchema)]
pub struct SecretWithValue {
    /// The metadata (of the secret as it is now).
    #[serde(flatten)]
    pub secret: Secret,
    /// The version `value` is: the current one unless `?version=` asked
    /// for another.
    #[schema(minimum = 1, example = 1)]
    pub value_version: i64,
    /// When that version's value was set.
    pub value_created_at: DateTime<Utc>,
    /// The plaintext value.
    #[schema(example = "encoded-api-key-value")]
    pub value: String,
}

impl std::fmt::Debug for SecretWithValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretWithValue")
            .field("secret", &self.secret)
            .field("value_version", &self.value_version)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// One version of a secret: metadata, never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretVersion {
    /// Its number (1 for the first value).
    #[schema(minimum = 1, example = 1)]
    pub version: i64,
    /// When this value was set.
    pub created_at: DateTime<Utc>,
    /// Whether it is the secret's current value.
    pub current: bool,
}

/// The versions of a secret still kept, newest (the current one) first:
/// at most `KEYGATE_SECRET_VERSIONS` earlier ones besides the current one.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretVersionList {
    /// The versions, newest first.
    pub data: Vec<SecretVersion>,
}

/// What `put_secret` did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PutResult {
    /// The id was new.
    Created,
    /// The value was replaced.
    Updated,
}

/// The answer of `put_secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PutSecretResult {
    /// Whether the secret was created or replaced.
    pub result: PutResult,
    /// Its metadata.
    pub secret: Secret,
}

/// A page of secrets (metadata only).
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    /// The secrets, by id.
    pub data: Vec<Secret>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true)]
    pub next_cursor: Option<String>,
}
