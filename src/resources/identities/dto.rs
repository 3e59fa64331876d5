//! Request bodies and views of identities.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::{IdentityChanges, IdentityRow};
use super::repo::NewIdentity;
use crate::error::{field_errors, ApiError, FieldError};
use crate::fields::present;
use crate::keys::credits::{CreditRow, Credits, CreditsInput};
use crate::keys::usage::{check_usage, metadata_from_stored, RateLimit};

crate::prefixed_id!(
    /// An identity id: `idn_` and 32 hex digits.
    IdentityId,
    "idn_"
);

/// Largest metadata, serialized.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Path of single-identity operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdentityPath {
    /// The identity's id.
    #[param(value_type = String, pattern = "^idn_[0-9a-f]{32}$", example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub identity_id: IdentityId,
}

/// Filters of `list_identities`.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct IdentityFilter {
    /// Only the identity with this `external_id` (at most one).
    #[param(min_length = 1, max_length = 255, example = "customer-42")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    pub external_id: Option<String>,
}

/// The field errors of metadata at `metadata`: an object of at most
/// [`MAX_METADATA_BYTES`] serialized.
fn check_metadata(metadata: &serde_json::Value, errors: &mut Vec<FieldError>) {
    if !metadata.is_object() {
        errors.push(FieldError::new("metadata", "type", "must be a JSON object"));
    } else if metadata.to_string().len() > MAX_METADATA_BYTES {
        errors.push(FieldError::new(
            "metadata",
            "length",
            "must be at most 4096 bytes as JSON",
        ));
    }
}

/// Body of `create_identity`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentity {
    /// Your own id of the customer, 1 to 255 characters, unique in the
    /// organization: verify answers carry it, so your service needs no
    /// mapping.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "customer-42")]
    pub external_id: String,
    /// A name for people, up to 200 characters.
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 200,
        example = "Acme Ltd"
    )]
    pub name: Option<String>,
    /// Free-form metadata returned with every verify of the identity's
    /// keys: a JSON object of at most 4,096 bytes.
    #[schema(nullable = true, value_type = Option<std::collections::HashMap<String, serde_json::Value>>, additional_properties = true, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
    /// Rate limits all the identity's keys share (at most 20, distinct
    /// names).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    pub ratelimits: Option<Vec<RateLimit>>,
    /// A credit balance all the identity's keys share; absent: unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub credits: Option<CreditsInput>,
}

impl CreateIdentity {
    /// Validates every rule and returns the repo's input.
    pub fn into_input(self) -> Result<NewIdentity, ApiError> {
        let mut errors = field_errors(&self);
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata, &mut errors);
        }
        errors.extend(check_usage(
            self.ratelimits.as_deref(),
            self.credits.as_ref(),
        ));
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)?;
        Ok(NewIdentity {
            external_id: self.external_id,
            name: self.name,
            metadata: self.metadata.map(|m| m.to_string()),
            ratelimits: RateLimit::to_stored(&self.ratelimits.unwrap_or_default()),
            credits: self.credits,
        })
    }
}

/// Body of `update_identity`: only the fields present change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentity {
    /// A new external id, unique in the organization.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "customer-42"
    )]
    pub external_id: Option<String>,
    /// A new name, or `null` to clear it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(min = 1, max = 200, message = "must be 1 to 200 characters"))]
    #[schema(min_length = 1, max_length = 200, example = "Acme Ltd")]
    pub name: Option<Option<String>>,
    /// New metadata (replacing the old), or `null` to clear it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<std::collections::HashMap<String, serde_json::Value>>, additional_properties = true, example = json!({"plan": "enterprise"}))]
    pub metadata: Option<Option<serde_json::Value>>,
    /// New shared rate limits, replacing the old (`[]`: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    pub ratelimits: Option<Vec<RateLimit>>,
    /// A new shared balance (replacing the old and what nodes had leased of
    /// it), or `null` for unlimited.
    #[serde(default, with = "::serde_with::rust::double_option")]
    pub credits: Option<Option<CreditsInput>>,
}

impl UpdateIdentity {
    /// Validates the body and turns it into a changeset and a balance.
    pub fn into_changes(self) -> Result<(IdentityChanges, Option<Option<CreditsInput>>), ApiError> {
        let mut errors = field_errors(&self);
        if let Some(Some(metadata)) = &self.metadata {
            check_metadata(metadata, &mut errors);
        }
        errors.extend(check_usage(
            self.ratelimits.as_deref(),
            self.credits.as_ref().and_then(Option::as_ref),
        ));
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)?;
        let changes = IdentityChanges {
            external_id: self.external_id,
            name: self.name,
            metadata: self.metadata.map(|m| m.map(|m| m.to_string())),
            ratelimits: self.ratelimits.map(|l| RateLimit::to_stored(&l)),
            updated_at: None,
        };
        Ok((changes, self.credits))
    }
}

/// An identity as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    /// `idn_` and 32 hex digits.
    #[schema(
        pattern = "^idn_[0-9a-f]{32}$",
        example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The organization the identity belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// Your own id of the customer.
    #[schema(example = "customer-42")]
    pub external_id: String,
    /// A name for people, or `null`.
    #[schema(required = true, nullable = true, example = "Acme Ltd")]
    pub name: Option<String>,
    /// Free-form metadata, or `null`.
    #[schema(required = true, nullable = true, value_type = Option<std::collections::HashMap<String, serde_json::Value>>, additional_properties = true, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
    /// Rate limits all the identity's keys share.
    pub ratelimits: Vec<RateLimit>,
    /// The shared credit balance, or `null` when unlimited.
    #[schema(required = true, nullable = true)]
    pub credits: Option<Credits>,
    /// When the identity was created.
    pub created_at: DateTime<Utc>,
    /// When the identity was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Identity {
    /// The view of a row and its balance.
    pub fn from_row(row: IdentityRow, credits: Option<&CreditRow>) -> Result<Identity, ApiError> {
        let corrupt =
            |what| ApiError::internal(format!("identity {} has a corrupt {what}", row.id));
        let metadata = metadata_from_stored(row.metadata.as_deref()).map_err(corrupt)?;
        let ratelimits = RateLimit::from_stored(row.ratelimits.as_deref()).map_err(corrupt)?;
        Ok(Identity {
            id: row.id,
            organization_id: row.organization_id,
            external_id: row.external_id,
            name: row.name,
            metadata,
            ratelimits,
            credits: credits.map(Credits::from),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// A page of identities.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    /// The identities, by id.
    pub data: Vec<Identity>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "aWRuXzAxOTBhMGIx")]
    pub next_cursor: Option<String>,
}
