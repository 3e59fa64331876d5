//! Vectara v2's API key bodies and envelopes, as the `vectara` Python SDK
//! (0.4.3, Fern-generated) sends and reads them (`types/api_key.py`,
//! `types/list_api_keys_response.py`, `types/error.py`). Serde and schemas
//! only; `Debug` never shows a key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::keys::rights::{OperationPolicy, Role};
use crate::resources::api_keys::dto::{ApiKeyId, ResourceScope};

/// Path of single-key operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ApiKeyPath {
    /// The API key's id.
    #[param(value_type = String, pattern = "^aky_[0-9a-f]{32}$", example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub api_key_id: ApiKeyId,
}

/// Body of `POST /v2/api_keys` (the SDK's `api_keys.create`). Vectara's
/// `api_roles`, `corpus_roles` and `agent_roles` have no keygate meaning
/// and are refused as unknown fields rather than dropped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "docs search", "api_key_role": "serving", "corpus_keys": ["docs"]}))]
pub struct CreateApiKey {
    /// A name for people, 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255, example = "docs search")]
    pub name: String,
    /// The key's role, with keygate's rights: `serving` reads and
    /// verifies, `serving_and_indexing` also changes connectors, proxies,
    /// credentials, clusters and secrets, `personal` does everything in
    /// the organization.
    pub api_key_role: Role,
    /// The corpora the key is for: kept as the key's opaque resource
    /// scopes (1 to 100 distinct names of 1 to 64 letters, digits, `_`,
    /// `-` or `=`), reported back and by `POST /v1/verify` for the data
    /// plane to enforce. Not for `personal` keys.
    #[schema(nullable = true, min_items = 1, max_items = 100, example = json!(["docs"]))]
    pub corpus_keys: Option<Vec<ResourceScope>>,
}

/// Body of `PATCH /v2/api_keys/{api_key_id}` (`api_keys.update`); `{}`
/// changes nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct UpdateApiKey {
    /// Enable or disable the key; a disabled key is refused at once.
    #[serde(default, deserialize_with = "crate::fields::present")]
    #[schema(nullable = false, example = false)]
    pub enabled: Option<bool>,
}

/// Query of `GET /v2/api_keys` (`api_keys.list`).
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Keys per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 10, example = 10)]
    #[validate(range(min = 1, max = 100, message = "must be between 1 and 100"))]
    pub limit: Option<i64>,
    /// The `metadata.page_key` of the previous page.
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub page_key: Option<String>,
    /// Only keys scoped to this corpus (one of their `corpus_keys`).
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_=-]{1,64}$", example = "docs")]
    pub corpus_key: Option<ResourceScope>,
    /// Only keys with this role.
    pub api_key_role: Option<Role>,
}

/// A key's policy as the SDK's `ApiPolicy` needs it: keygate's own
/// `allowed_operations` (keygate operationIds and path parameters), named.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiPolicy {
    /// The policy's name: the key's role.
    #[schema(example = "serving")]
    pub name: String,
    /// keygate operationId to how it is allowed (`allow_any_resource`
    /// always present).
    pub allowed_operations: BTreeMap<String, OperationPolicy>,
}

/// An API key as Vectara shows it (`ApiKey`).
#[derive(Serialize, ToSchema)]
pub struct ApiKey {
    /// `aky_` and 32 hex digits.
    #[schema(example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
    /// A name for people.
    #[schema(example = "docs search")]
    pub name: String,
    /// The key itself: only in the answer of the create (keygate stores
    /// only its hash, so it cannot be read again).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0AbCdE")]
    pub secret_key: Option<String>,
    /// Whether the key authenticates.
    pub enabled: bool,
    /// The key's role.
    pub api_key_role: Role,
    /// The key's corpora (its resource scopes), when scoped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["docs"]))]
    pub corpus_keys: Option<Vec<String>>,
    /// The key's policy, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_policy: Option<ApiPolicy>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Where the next page starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMetadata {
    /// Pass as `page_key` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "YWt5XzAxOTBhMGIx")]
    pub page_key: Option<String>,
}

/// A page of keys (`ListApiKeysResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys, oldest first.
    pub api_keys: Vec<ApiKey>,
    /// Where the next page starts.
    pub metadata: ListMetadata,
}

/// Every error (Vectara's `Error`), with keygate's stable code beside.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong: one message, or one a field for a validation
    /// failure (`name: must be 1 to 255 characters`).
    #[schema(example = json!(["name: must be 1 to 255 characters"]))]
    pub messages: Vec<String>,
    /// This request's id (its `X-Request-Id`).
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: String,
    /// keygate's stable code (`validation_failed`, `not_found`, ...).
    #[schema(example = "validation_failed")]
    pub code: String,
}
