//! Request bodies and views of connectors, the connector id, and their
//! conversion into the repo's input.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::{ConnectorChanges, ConnectorRow};
use super::repo::{ListFilter, NewConnector};
use crate::error::{ApiError, FieldError};
use crate::fields::ResourceId;

/// Path of single-connector operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorPath {
    /// The connector's id: chosen by the caller (`my-connector`) or by the
    /// server (`con_` and 32 hex digits).
    #[param(
        value_type = String,
        pattern = "^[a-z0-9][a-z0-9_-]{0,127}$",
        min_length = 1,
        max_length = 128,
        example = "my-connector"
    )]
    pub connector_id: ResourceId,
}

/// Body of `create_connector` and `put_connector`: every field may be left
/// out or `null`.
// The field rules are the domain's (`NewConnector`), for every surface.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnector {
    /// A name for people, 1 to 255 characters.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 255,
        example = "My Connector"
    )]
    pub name: Option<String>,
    /// What the connector is for, up to 1,000 characters.
    #[schema(
        nullable = true,
        max_length = 1000,
        example = "Syncs the marketing team's Google Drive."
    )]
    pub description: Option<String>,
    /// The index the connector writes to, 1 to 255 characters.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 255,
        example = "search-google-drive"
    )]
    pub index_name: Option<String>,
    /// The kind of data source, 1 to 100 characters.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 100,
        example = "google_drive"
    )]
    pub service_type: Option<String>,
    /// The API key the connector writes with: an API key of the caller's
    /// organization.
    #[schema(nullable = true, example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub api_key_id: Option<String>,
    /// The secret holding that API key's encoded value: a secret of the
    /// caller's organization.
    #[schema(nullable = true, example = "my-connector-api-key")]
    pub api_key_secret_id: Option<String>,
}

impl CreateConnector {
    /// Validates the body and returns the repo's input.
    pub fn into_input(self) -> Result<NewConnector, ApiError> {
        let input = NewConnector {
            name: self.name,
            description: self.description,
            index_name: self.index_name,
            service_type: self.service_type,
            api_key_id: self.api_key_id,
            api_key_secret_id: self.api_key_secret_id,
        };
        input.validate()?;
        Ok(input)
    }
}

/// Body of `update_connector`: only the fields present change; `null`
/// clears one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnector {
    /// New name, 1 to 255 characters, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "My Connector")]
    pub name: Option<Option<String>>,
    /// New description, up to 1,000 characters, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(
        max_length = 1000,
        example = "Syncs the marketing team's Google Drive."
    )]
    pub description: Option<Option<String>>,
    /// New index, 1 to 255 characters, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "search-google-drive")]
    pub index_name: Option<Option<String>>,
    /// New service type, 1 to 100 characters, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    #[schema(min_length = 1, max_length = 100, example = "google_drive")]
    pub service_type: Option<Option<String>>,
}

impl UpdateConnector {
    /// Validates the body (before any database work, so a bad body is a 400
    /// whatever `If-Match` says) and turns it into a changeset.
    pub fn into_changes(self) -> Result<ConnectorChanges, ApiError> {
        self.validate()?;
        Ok(ConnectorChanges {
            name: self.name,
            description: self.description,
            index_name: self.index_name,
            service_type: self.service_type,
            ..ConnectorChanges::default()
        })
    }
}

/// Body of `update_connector_api_key_id`: at least one field; each left out
/// stays, `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectorApiKeyId {
    /// An API key of the caller's organization, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub api_key_id: Option<Option<String>>,
    /// A secret of the caller's organization holding the key's encoded
    /// value, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(example = "my-connector-api-key")]
    pub api_key_secret_id: Option<Option<String>>,
}

impl UpdateConnectorApiKeyId {
    /// Checks that at least one field is present and turns the body into a
    /// changeset.
    pub fn into_changes(self) -> Result<ConnectorChanges, ApiError> {
        if self.api_key_id.is_none() && self.api_key_secret_id.is_none() {
            let message = "give api_key_id, api_key_secret_id or both";
            return Err(ApiError::invalid_fields(vec![
                FieldError::new("api_key_id", "required", message),
                FieldError::new("api_key_secret_id", "required", message),
            ]));
        }
        Ok(ConnectorChanges {
            api_key_id: self.api_key_id,
            api_key_secret_id: self.api_key_secret_id,
            ..ConnectorChanges::default()
        })
    }
}

/// Filters of `list_connectors`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectorFilter {
    /// Only connectors of this service type (exact match).
    #[param(example = "google_drive")]
    pub service_type: Option<String>,
    /// Only connectors writing to this index (exact match).
    #[param(example = "search-google-drive")]
    pub index_name: Option<String>,
}

impl From<ConnectorFilter> for ListFilter {
    fn from(f: ConnectorFilter) -> Self {
        ListFilter {
            service_type: f.service_type,
            index_name: f.index_name,
        }
    }
}

/// A connector as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connector {
    /// The caller's id, or `con_` and 32 hex digits when the server chose it.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,127}$", example = "my-connector")]
    pub id: String,
    /// The organization the connector belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// A name for people, or `null`.
    #[schema(required = true, nullable = true, example = "My Connector")]
    pub name: Option<String>,
    /// What the connector is for, or `null`.
    #[schema(
        required = true,
        nullable = true,
        example = "Syncs the marketing team's Google Drive."
    )]
    pub description: Option<String>,
    /// The index the connector writes to, or `null`.
    #[schema(required = true, nullable = true, example = "search-google-drive")]
    pub index_name: Option<String>,
    /// The kind of data source, or `null`.
    #[schema(required = true, nullable = true, example = "google_drive")]
    pub service_type: Option<String>,
    /// The API key the connector writes with, or `null`.
    #[schema(
        required = true,
        nullable = true,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub api_key_id: Option<String>,
    /// The secret holding that API key's encoded value, or `null`.
    #[schema(required = true, nullable = true, example = "my-connector-api-key")]
    pub api_key_secret_id: Option<String>,
    /// When the connector was created.
    pub created_at: DateTime<Utc>,
    /// When the connector was last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ConnectorRow> for Connector {
    fn from(row: ConnectorRow) -> Self {
        Connector {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            description: row.description,
            index_name: row.index_name,
            service_type: row.service_type,
            api_key_id: row.api_key_id,
            api_key_secret_id: row.api_key_secret_id,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A page of connectors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorList {
    /// The connectors, by id.
    pub data: Vec<Connector>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "bXktY29ubmVjdG9y")]
    pub next_cursor: Option<String>,
}

/// Whether `update_connector_api_key_id` changed the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorUpdateResult {
    /// The connector changed.
    Updated,
    /// The connector already had these values; nothing was written.
    Noop,
}

/// Answer of `update_connector_api_key_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorApiKeyIdUpdated {
    /// `updated`, or `noop` when nothing changed.
    pub result: ConnectorUpdateResult,
    /// The connector after the call.
    pub connector: Connector,
}

#[cfg(test)]
mod tests {
    use crate::fields::ResourceId;

    #[test]
    fn connector_ids_follow_the_documented_pattern() {
        let pattern = regex::Regex::new(ResourceId::PATTERN).unwrap();
        let long = "a".repeat(128);
        let too_long = "a".repeat(129);
        let server_made = crate::db::new_id("con_");
        let cases = [
            "my-connector",
            "0",
            server_made.as_str(),
            "a_b-c",
            long.as_str(),
            too_long.as_str(),
            "",
            "-a",
            "_a",
            "My-connector",
            "my connector",
            "my.connector",
            "\u{e9}",
        ];
        for case in cases {
            assert_eq!(
                ResourceId::is_valid(case),
                pattern.is_match(case),
                "{case:?}"
            );
        }
        assert!(ResourceId::is_valid(&server_made));
    }
}
