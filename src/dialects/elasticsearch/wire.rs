//! Elasticsearch's bodies and envelopes, as elasticsearch-py 9.5.1 sends
//! and reads them (Elastic's specification, `connector/` and
//! `_types/Connector.ts`): request bodies, query strings, answers and the
//! error body. Serde and schemas only; `Debug` never shows a secret value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::fields::ResourceId;

/// Path of single-connector operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorPath {
    /// The connector's id: a keygate id (a lowercase letter or digit, then
    /// up to 127 lowercase letters, digits, `_` or `-`), the same id the
    /// native API uses.
    #[param(
        value_type = String,
        pattern = "^[a-z0-9][a-z0-9_-]{0,127}$",
        min_length = 1,
        max_length = 128,
        example = "my-connector"
    )]
    pub connector_id: ResourceId,
}

/// Path of single-secret operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// The secret's id, as `POST /_connector/_secret` returned it (or one
    /// chosen with `PUT`).
    #[param(
        value_type = String,
        pattern = "^[a-z0-9][a-z0-9_-]{0,127}$",
        min_length = 1,
        max_length = 128,
        example = "my-connector-api-key"
    )]
    pub secret_id: ResourceId,
}

/// Body of `PUT /_connector/{connector_id}`, `PUT /_connector` and `POST
/// /_connector` (Elastic's `ConnectorPutRequest`): every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "My Connector", "index_name": "search-google-drive", "service_type": "google_drive"}))]
pub struct PutConnector {
    /// A name for people, 1 to 255 characters.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 255,
        example = "My Connector"
    )]
    pub name: Option<String>,
    /// What the connector is for, up to 1,000 characters.
    #[schema(nullable = true, max_length = 1000)]
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
    /// Whether Elastic runs the connector itself. keygate runs no
    /// connectors, so only `false` (or `null`) is accepted.
    #[schema(schema_with = false_only)]
    pub is_native: Option<bool>,
    /// The connector's language: accepted and not stored (connectors show
    /// `language: null`).
    #[schema(nullable = true, example = "en")]
    pub language: Option<String>,
}

/// `false` or `null`: the only `is_native` keygate accepts.
fn false_only() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
        .enum_values(Some([Value::Bool(false), Value::Null]))
        .build()
}

/// Body of `PUT /_connector/{connector_id}/_api_key_id`: each field left
/// out stays, `null` clears it; `{}` changes nothing (`result: noop`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_secret_id": "my-connector-api-key"}))]
pub struct UpdateApiKeyId {
    /// A keygate API key id (`aky_…`) of the caller's organization: the
    /// key the connector writes with.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, nullable = true)]
    pub api_key_id: Option<Option<String>>,
    /// A secret of the caller's organization holding that key's encoded
    /// value.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, nullable = true)]
    pub api_key_secret_id: Option<Option<String>>,
}

/// Query of `GET /_connector`. The list filters take comma-separated
/// values, as elasticsearch-py sends a list.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many matching connectors to skip, 0 to 10,000.
    #[serde(default)]
    #[validate(range(max = 10000, message = "must be 0 to 10000"))]
    #[param(minimum = 0, maximum = 10000, example = 0)]
    pub from: u32,
    /// How many connectors to return, 0 to 1,000 (default 100).
    #[serde(default = "default_size")]
    #[validate(range(max = 1000, message = "must be 0 to 1000"))]
    #[param(minimum = 0, maximum = 1000, example = 100)]
    pub size: u32,
    /// Only connectors with one of these names (comma-separated).
    #[param(example = "My Connector")]
    pub connector_name: Option<String>,
    /// Only connectors writing to one of these indices (comma-separated).
    #[param(example = "search-google-drive")]
    pub index_name: Option<String>,
    /// Only connectors of one of these service types (comma-separated).
    #[param(example = "google_drive")]
    pub service_type: Option<String>,
    /// Only connectors whose name, description or index name contains this
    /// text, ignoring case.
    #[param(example = "drive")]
    pub query: Option<String>,
    /// Accepted for the client's sake: keygate deletes connectors at once,
    /// so there are no deleted connectors to include.
    pub include_deleted: Option<bool>,
}

fn default_size() -> u32 {
    100
}

/// Query of `GET /_connector/{connector_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Accepted for the client's sake: there are no deleted connectors.
    pub include_deleted: Option<bool>,
}

/// Query of `DELETE /_connector/{connector_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Accepted for the client's sake: keygate keeps no sync jobs.
    pub delete_sync_jobs: Option<bool>,
    /// Accepted for the client's sake: every delete is a hard delete.
    pub hard: Option<bool>,
}

/// A connector as Elasticsearch shows it (`_types/Connector.ts`): keygate's
/// fields, and the fields the specification makes required with their
/// defaults (keygate runs no syncs, so no sync state exists).
#[derive(Debug, Serialize, ToSchema)]
pub struct Connector {
    /// The connector's id.
    #[schema(example = "my-connector")]
    pub id: String,
    /// A name for people, or `null`.
    #[schema(required = true, nullable = true, example = "My Connector")]
    pub name: Option<String>,
    /// What the connector is for, or `null`.
    #[schema(required = true, nullable = true)]
    pub description: Option<String>,
    /// The index the connector writes to, or `null`.
    #[schema(required = true, nullable = true, example = "search-google-drive")]
    pub index_name: Option<String>,
    /// The kind of data source, or `null`.
    #[schema(required = true, nullable = true, example = "google_drive")]
    pub service_type: Option<String>,
    /// The keygate API key the connector writes with, or `null`.
    #[schema(
        required = true,
        nullable = true,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub api_key_id: Option<String>,
    /// The secret holding that key's encoded value, or `null`.
    #[schema(required = true, nullable = true, example = "my-connector-api-key")]
    pub api_key_secret_id: Option<String>,
    /// Always `false`: keygate runs no connectors.
    pub is_native: bool,
    /// Always `null`: keygate does not store it.
    #[schema(required = true, nullable = true)]
    pub language: Option<String>,
    /// Always `created`.
    #[schema(example = "created")]
    pub status: String,
    /// Always `false`.
    pub sync_now: bool,
    /// Always `false`: keygate deletes connectors at once.
    pub deleted: bool,
    /// Always empty.
    #[schema(value_type = Object)]
    pub configuration: Map<String, Value>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub custom_scheduling: Map<String, Value>,
    /// Always empty.
    #[schema(value_type = Object)]
    pub scheduling: Map<String, Value>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub filtering: Vec<Value>,
}

/// Answer of `GET /_connector`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorList {
    /// How many connectors match the filters, on every page.
    #[schema(example = 1)]
    pub count: i64,
    /// The page of connectors, in id order.
    pub results: Vec<Connector>,
}

/// What a write did (Elastic's `Result` enum, the values keygate answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteResult {
    /// It was new.
    Created,
    /// It existed and was changed.
    Updated,
    /// Nothing needed to change; nothing was written.
    Noop,
}

/// Answer of the connector creates and puts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorWritten {
    /// `created` or `updated`.
    #[schema(example = "created")]
    pub result: WriteResult,
    /// The connector's id.
    #[schema(example = "my-connector")]
    pub id: String,
}

/// Answer of `PUT /_connector/{connector_id}/_api_key_id` and `PUT
/// /_connector/_secret/{secret_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    /// What the write did.
    #[schema(example = "updated")]
    pub result: WriteResult,
}

/// Answer of `DELETE /_connector/{connector_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    /// Always `true`.
    pub acknowledged: bool,
}

/// Body of `POST /_connector/_secret` and `PUT /_connector/_secret/{id}`.
/// `Debug` hides the value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": "encoded-api-key-value"}))]
pub struct SecretBody {
    /// The secret, 1 to 65,536 bytes; stored encrypted.
    #[schema(min_length = 1, max_length = 65536)]
    pub value: String,
}

impl std::fmt::Debug for SecretBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBody")
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Answer of `POST /_connector/_secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretCreated {
    /// The new secret's id (`sec_` and 32 hex digits).
    #[schema(example = "sec_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
}

/// Answer of `GET /_connector/_secret/{secret_id}`. `Debug` hides the value.
#[derive(Serialize, ToSchema)]
pub struct SecretValue {
    /// The secret's id.
    #[schema(example = "sec_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
    /// The plaintext value.
    #[schema(example = "encoded-api-key-value")]
    pub value: String,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Answer of `DELETE /_connector/_secret/{secret_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretDeleted {
    /// Always `true`.
    pub deleted: bool,
}

/// The version part of the info answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct InfoVersion {
    /// The Elasticsearch API version keygate speaks (the major version is
    /// what clients check).
    #[schema(example = "9.0.0")]
    pub number: String,
    /// Always `default`.
    #[schema(example = "default")]
    pub build_flavor: String,
    /// keygate's own version.
    #[schema(example = "0.1.0")]
    pub keygate_version: String,
}

/// Answer of `GET /`: what `info()` reads.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    /// The node's name: `keygate`.
    #[schema(example = "keygate")]
    pub name: String,
    /// The cluster's name: `keygate`.
    #[schema(example = "keygate")]
    pub cluster_name: String,
    /// Elasticsearch's "not available" value: keygate is no cluster.
    #[schema(example = "_na_")]
    pub cluster_uuid: String,
    /// Versions.
    pub version: InfoVersion,
    /// Elasticsearch's tagline.
    #[schema(example = "You Know, for Search")]
    pub tagline: String,
}

/// One cause of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorCause {
    /// Elasticsearch's exception type (`resource_not_found_exception`,
    /// `action_request_validation_exception`, `security_exception`, ...).
    #[serde(rename = "type")]
    #[schema(example = "resource_not_found_exception")]
    pub kind: String,
    /// What went wrong.
    #[schema(example = "connector my-connector was not found")]
    pub reason: String,
}

/// The error, with its causes and keygate's stable code.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The causes; here always the error itself.
    pub root_cause: Vec<ErrorCause>,
    /// Elasticsearch's exception type.
    #[serde(rename = "type")]
    #[schema(example = "resource_not_found_exception")]
    pub kind: String,
    /// What went wrong.
    #[schema(example = "connector my-connector was not found")]
    pub reason: String,
    /// keygate's stable snake_case code (`not_found`, `validation_failed`).
    #[schema(example = "not_found")]
    pub code: String,
    /// The permission (operationId) a 403 was missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "get_secret")]
    pub missing_permission: Option<String>,
}

/// Elasticsearch's error body (`ErrorResponseBase`), on every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
    /// The HTTP status.
    #[schema(example = 404, minimum = 400, maximum = 599)]
    pub status: u16,
}
