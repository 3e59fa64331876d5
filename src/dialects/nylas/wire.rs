//! Nylas v3's bodies and envelopes for connector credentials, as the
//! `nylas` Python SDK (6.18.0) sends and reads them
//! (`models/credentials.py`, `models/response.py`): every answer is
//! `{request_id, data}`, times are unix seconds, errors are `{request_id,
//! error: {type, message}}`. Serde and schemas only; no credential data is
//! ever part of an answer. The request bodies are the native ones
//! (`resources::providers::dto`): Nylas's field names are keygate's.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::resources::providers::dto::ProviderCredential;
use crate::resources::providers::model::{CredentialSortBy, CredentialType, Provider, SortOrder};

/// Path of the collection operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProviderPath {
    /// The provider: one of `google`, `microsoft`, `imap`, `icloud`,
    /// `yahoo`, `ews`, `zoom`, `virtual-calendar`, `inbox`.
    pub provider: Provider,
}

/// Path of single-credential operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CredentialPath {
    /// The provider: one of `google`, `microsoft`, `imap`, `icloud`,
    /// `yahoo`, `ews`, `zoom`, `virtual-calendar`, `inbox`.
    pub provider: Provider,
    /// The credential's id (`crd_` and 32 hex digits). Any other text names
    /// no credential: 404, as Nylas answers for any unknown id.
    #[param(
        min_length = 1,
        max_length = 200,
        example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub credential_id: String,
}

/// Query of `GET /v3/connectors/{provider}/creds` (the SDK's
/// `ListCredentialQueryParams`).
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Credentials per page, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50, example = 50)]
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    pub limit: Option<i64>,
    /// How many credentials of the order to skip, 0 to 1,000,000.
    #[param(minimum = 0, maximum = 1_000_000, default = 0, example = 0)]
    #[validate(range(min = 0, max = 1_000_000, message = "must be between 0 and 1000000"))]
    pub offset: Option<i64>,
    /// The timestamp to sort by: `created_at` (the default) or
    /// `updated_at`; ties are broken by id.
    #[param(inline)]
    pub sort_by: Option<CredentialSortBy>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[param(inline)]
    pub order_by: Option<SortOrder>,
}

/// A credential as Nylas shows it (`Credential`): never its data.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credential {
    /// `crd_` and 32 hex digits.
    #[schema(example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
    /// Its name, unique per provider in the organization.
    #[schema(example = "Google auth app #2 multitenant")]
    pub name: String,
    /// Its type.
    pub credential_type: CredentialType,
    /// The names of the keys stored in `credential_data`, sorted (keygate's
    /// addition; the values are encrypted and never returned).
    #[schema(example = json!(["client_id", "client_secret"]))]
    pub credential_data_keys: Vec<String>,
    /// When it was created, in unix seconds.
    #[schema(example = 1795400000)]
    pub created_at: i64,
    /// When it was last changed, in unix seconds.
    #[schema(example = 1795400000)]
    pub updated_at: i64,
}

impl From<ProviderCredential> for Credential {
    fn from(view: ProviderCredential) -> Self {
        Credential {
            id: view.id,
            name: view.name,
            credential_type: view.credential_type,
            credential_data_keys: view.credential_data_keys,
            created_at: view.created_at.timestamp(),
            updated_at: view.updated_at.timestamp(),
        }
    }
}

/// One credential in Nylas's envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialResponse {
    /// This request's id (its `X-Request-Id`).
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: String,
    /// The credential.
    pub data: Credential,
}

/// A page of credentials in Nylas's envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    /// This request's id (its `X-Request-Id`).
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: String,
    /// The credentials, in the requested order.
    pub data: Vec<Credential>,
    /// The `limit` the page was read with.
    #[schema(example = 50)]
    pub limit: i64,
    /// The `offset` the page was read with.
    #[schema(example = 0)]
    pub offset: i64,
}

/// The answer of a delete (`DeleteResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    /// This request's id (its `X-Request-Id`).
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: String,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// keygate's stable code (`not_found`, `validation_failed`,
    /// `unauthorized`, ...): the SDK's `NylasApiError.type`.
    #[serde(rename = "type")]
    #[schema(example = "not_found")]
    pub kind: String,
    /// What went wrong, safe to show; a validation failure lists each field
    /// (`credential_data.client_secret: is required ...`).
    #[schema(example = "google credential was not found")]
    pub message: String,
}

/// Every error (Nylas's `NylasApiErrorResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// This request's id (its `X-Request-Id`).
    #[schema(example = "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3")]
    pub request_id: String,
    /// The error.
    pub error: ErrorDetail,
}
