//! Apinizer's management API bodies and envelopes for API proxy keys, as
//! Apinizer's documentation writes them (`settings/update-api-keys.md`,
//! `getting-started/error-handling.md`). Serde and schemas only; `Debug`
//! never shows the secret key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `PATCH .../settings/keys/`: camelCase keys, each optional, at
/// least one given; `null` means not given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"publicKey": "ak_1234567890abcdef", "secretKey": "sk_9876543210fedcba"}))]
pub struct UpdateKeys {
    /// The public key: 1 to 512 characters, not blank or whitespace-only,
    /// unique among the organization's proxy keys; `null` or absent keeps
    /// the current one.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 512,
        example = "ak_1234567890abcdef"
    )]
    pub public_key: Option<String>,
    /// The secret key (stored encrypted, never shown): 1 to 512
    /// characters, not blank or whitespace-only, unique among the
    /// organization's proxy keys; `null` or absent keeps the current one.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 512,
        example = "sk_9876543210fedcba"
    )]
    pub secret_key: Option<String>,
    /// Deploy to environments after the change: keygate has no
    /// environments, so only `false` (or absent) is accepted.
    #[schema(nullable = true, example = false)]
    pub deploy: Option<bool>,
    /// Environments to deploy to: ignored (keygate has none).
    #[schema(nullable = true, example = json!([]))]
    pub deploy_target_environment_name_list: Option<Vec<String>>,
}

impl std::fmt::Debug for UpdateKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateKeys")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("deploy", &self.deploy)
            .finish_non_exhaustive()
    }
}

/// The answer of a change: exactly `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    /// Always `true`: a failure is an error body instead.
    #[schema(example = true)]
    pub success: bool,
}

/// Every error (Apinizer's `{error, error_description}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Apinizer's code: `bad_request`, `unauthorized_client`, `forbidden`,
    /// `not_found`, `conflict` or `internal_error`.
    #[schema(example = "bad_request")]
    pub error: String,
    /// What went wrong, with Apinizer's field names.
    #[schema(example = "At least one key (publicKey or secretKey) must be provided")]
    pub error_description: String,
    /// keygate's stable code (`validation_failed`, `duplicate_key`, ...).
    #[schema(example = "validation_failed")]
    pub code: String,
}
