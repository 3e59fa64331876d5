//! Request bodies and views of API keys, and their conversion into the repo's
//! input.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::ApiKeyRow;
use super::repo::{ApiKeyPatch, ImportedKey, KeyUsageInput, ListFilter, NewApiKey};
use crate::error::{field_errors, ApiError, FieldError};
use crate::fields::present;
use crate::keys::credits::{CreditRow, Credits, CreditsInput};
use crate::keys::dto::PendingKey;
use crate::keys::rights::{ApiPolicy, PolicyNames, Role};
use crate::keys::usage::{check_usage, RateLimit};
use crate::net::Cidr;
use crate::resources::identities::dto::IdentityId;

crate::prefixed_id!(
    /// An API key id: `aky_` and 32 hex digits.
    ApiKeyId,
    "aky_"
);

/// Path of single-key operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ApiKeyPath {
    /// The API key's id.
    #[param(value_type = String, pattern = "^aky_[0-9a-f]{32}$", example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub api_key_id: ApiKeyId,
}

fn check_policy(policy: Option<&ApiPolicy>, names: &PolicyNames, errors: &mut Vec<FieldError>) {
    if let Some(policy) = policy {
        errors.extend(policy.check("api_policy", names));
    }
}

/// Body of `create_api_key`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name for people, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "search frontend")]
    pub name: String,
    /// The key's role.
    pub api_key_role: Role,
    /// Narrows the key to listed operations; absent or `null`: no narrowing.
    #[schema(nullable = true)]
    pub api_policy: Option<ApiPolicy>,
    /// Networks the key may be used from (1 to 100); absent or `null`: anywhere.
    #[validate(length(min = 1, max = 100, message = "must list 1 to 100 networks"))]
    #[schema(min_items = 1, max_items = 100, nullable = true)]
    pub allowed_cidrs: Option<Vec<Cidr>>,
    /// When the key stops working (RFC 3339); absent or `null`: never. A time
    /// already past makes the key expired at once.
    #[schema(nullable = true, example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the key works from the start (default true).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, default = true)]
    pub enabled: Option<bool>,
    /// Opaque resource scopes (1 to 100 distinct names of 1 to 64 letters,
    /// digits, `_`, `-` or `=`) for a data plane to enforce, such as the
    /// corpora a search key may query; absent or `null`: not scoped.
    /// keygate stores them, reports them in the key and in `POST
    /// /v1/verify`, and never lets a key create a key outside its own
    /// scopes. Not for `personal` keys, which manage the organization.
    #[schema(nullable = true, min_items = 1, max_items = 100, example = json!(["docs", "faq"]))]
    pub resource_scopes: Option<Vec<ResourceScope>>,
    /// The identity (`idn_` id, of this organization) the key belongs to;
    /// its shared limits and credits then apply to the key too.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable = false, pattern = "^idn_[0-9a-f]{32}$", example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub identity_id: Option<IdentityId>,
    /// The key's own rate limits (at most 20, distinct names), applied to
    /// its verifies and to its own calls of this API.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    pub ratelimits: Option<Vec<RateLimit>>,
    /// The key's credit balance; absent: unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub credits: Option<CreditsInput>,
}

/// One resource scope: 1 to 64 letters, digits, `_`, `-` or `=`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[A-Za-z0-9_=-]{1,64}$", example = "docs")]
pub struct ResourceScope(pub String);

impl ResourceScope {
    /// Whether it is 1 to 64 letters, digits, `_`, `-` or `=`.
    pub fn is_valid(&self) -> bool {
        (1..=64).contains(&self.0.len())
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'='))
    }
}

/// The rules of `resource_scopes` for a key of `role`, each problem under
/// `field`: 1 to 100 distinct well-formed names, and none on a `personal`
/// key (its rights are the whole organization's).
pub fn check_resource_scopes(field: &str, role: Role, scopes: &[ResourceScope]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if role == Role::Personal {
        errors.push(FieldError::new(
            field,
            "not_allowed_for_role",
            "must be absent for a personal key, which manages the whole organization",
        ));
    }
    if scopes.is_empty() || scopes.len() > 100 {
        errors.push(FieldError::new(
            field,
            "length",
            "must list 1 to 100 scopes",
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if !scope.is_valid() {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "pattern",
                "must be 1 to 64 letters, digits, '_', '-' or '='",
            ));
        } else if scopes[..i].contains(scope) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "duplicate",
                "must appear only once",
            ));
        }
    }
    errors
}

impl CreateApiKey {
    /// Validates every rule and returns the repo's input.
    /// `names` are those a policy may use (`AppState::policy_names`).
    pub fn into_input(self, names: &PolicyNames) -> Result<NewApiKey, ApiError> {
        let mut errors = field_errors(&self);
        check_policy(self.api_policy.as_ref(), names, &mut errors);
        errors.extend(check_usage(
            self.ratelimits.as_deref(),
            self.credits.as_ref(),
        ));
        if let Some(scopes) = &self.resource_scopes {
            errors.extend(check_resource_scopes(
                "resource_scopes",
                self.api_key_role,
                scopes,
            ));
        }
        ApiError::check_fields(errors)?;
        Ok(NewApiKey {
            name: self.name,
            role: self.api_key_role,
            policy: self.api_policy,
            allowed_cidrs: self
                .allowed_cidrs
                .map(|c| c.into_iter().map(|c| c.0).collect()),
            expires_at: self.expires_at,
            enabled: self.enabled.unwrap_or(true),
            resource_scopes: self
                .resource_scopes
                .map(|s| s.into_iter().map(|s| s.0).collect()),
            usage: KeyUsageInput {
                identity_id: self.identity_id.map(|i| i.0),
                ratelimits: self.ratelimits.unwrap_or_default(),
                credits: self.credits,
            },
        })
    }
}

/// Body of `update_api_key`: only the fields present change; `null` clears
/// `api_policy`, `allowed_cidrs` and `expires_at`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    /// New name, 1 to 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "search frontend"
    )]
    pub name: Option<String>,
    /// Enable or disable the key; a disabled key is refused at once.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = false)]
    pub enabled: Option<bool>,
    /// New policy, or `null` to remove narrowing.
    #[serde(default, with = "::serde_with::rust::double_option")]
    pub api_policy: Option<Option<ApiPolicy>>,
    /// New networks (1 to 100), or `null` to allow any address.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(min_items = 1, max_items = 100)]
    pub allowed_cidrs: Option<Option<Vec<Cidr>>>,
    /// New expiry, or `null` for never; a time already past expires the key
    /// at once.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// The identity the key belongs to, or `null` to detach it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<String>, pattern = "^idn_[0-9a-f]{32}$", example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub identity_id: Option<Option<IdentityId>>,
    /// The key's own rate limits, replacing the earlier ones (`[]`: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, max_items = 20)]
    pub ratelimits: Option<Vec<RateLimit>>,
    /// A new credit balance (replacing the earlier one and what nodes had
    /// leased of it), or `null` for unlimited.
    #[serde(default, with = "::serde_with::rust::double_option")]
    pub credits: Option<Option<CreditsInput>>,
}

impl UpdateApiKey {
    /// Checks every rule of the body and turns it into the domain's patch.
    pub fn into_patch(self, names: &PolicyNames) -> Result<ApiKeyPatch, ApiError> {
        self.check(names)?;
        Ok(ApiKeyPatch {
            name: self.name,
            enabled: self.enabled,
            api_policy: self.api_policy,
            allowed_cidrs: self
                .allowed_cidrs
                .map(|c| c.map(|c| c.into_iter().map(|c| c.0).collect())),
            expires_at: self.expires_at,
            identity_id: self.identity_id.map(|i| i.map(|i| i.0)),
            ratelimits: self.ratelimits,
            credits: self.credits,
        })
    }

    /// Checks every rule of the body on its own (before any database work,
    /// so a bad body is a 400 whatever `If-Match` says); `names` are those
    /// a policy may use.
    pub fn check(&self, names: &PolicyNames) -> Result<(), ApiError> {
        let mut errors = field_errors(self);
        if let Some(Some(cidrs)) = &self.allowed_cidrs {
            if cidrs.is_empty() || cidrs.len() > 100 {
                errors.push(FieldError::new(
                    "allowed_cidrs",
                    "length",
                    "must list 1 to 100 networks",
                ));
            }
        }
        check_policy(
            self.api_policy.as_ref().and_then(Option::as_ref),
            names,
            &mut errors,
        );
        errors.extend(check_usage(
            self.ratelimits.as_deref(),
            self.credits.as_ref().and_then(Option::as_ref),
        ));
        ApiError::check_fields(errors)
    }
}

/// Filters of `list_api_keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyFilter {
    /// Only keys with this role.
    pub api_key_role: Option<Role>,
    /// Only enabled (`true`) or disabled (`false`) keys.
    pub enabled: Option<bool>,
    /// Only keys that break (`true`) or keep (`false`) the organization's
    /// key policy now: no `expires_at` where one is required, or one further
    /// ahead than `max_key_lifetime_seconds`. Keys made before a stricter
    /// policy keep working; this finds them.
    pub violates_policy: Option<bool>,
    /// Only keys whose `expires_at` is before this time (RFC 3339); keys
    /// that never expire are not listed.
    #[param(value_type = Option<String>, format = DateTime, example = "2027-01-01T00:00:00Z")]
    pub expires_before: Option<DateTime<Utc>>,
    /// Also list keys deleted within the recovery window (30 days by
    /// default), with their `deleted_at`; `undelete_api_key` brings one back.
    pub include_deleted: Option<bool>,
}

impl ApiKeyFilter {
    /// The repo's filter; `recovery_window` bounds `include_deleted`.
    pub fn into_filter(self, recovery_window: Option<chrono::Duration>) -> ListFilter {
        let deleted_since =
            crate::db::recovery::listed_since(self.include_deleted, recovery_window);
        ListFilter {
            role: self.api_key_role,
            enabled: self.enabled,
            violates_policy: self.violates_policy,
            expires_before: self.expires_before,
            deleted_since,
            scope: None,
        }
    }
}

/// An API key as shown: never the key itself, only its prefix and last four
/// characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    /// `aky_` and 32 hex digits.
    #[schema(
        pattern = "^aky_[0-9a-f]{32}$",
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The organization the key belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// A name for people.
    #[schema(example = "search frontend")]
    pub name: String,
    /// The key's role.
    pub api_key_role: Role,
    /// Narrowing policy, or `null`.
    #[schema(required = true, nullable = true)]
    pub api_policy: Option<ApiPolicy>,
    /// Whether the key authenticates.
    pub enabled: bool,
    /// Networks the key may be used from, or `null` for anywhere.
    #[schema(required = true, nullable = true)]
    pub allowed_cidrs: Option<Vec<Cidr>>,
    /// When the key stops working, or `null`.
    #[schema(required = true, nullable = true, example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's resource scopes, or `null` when it is not scoped.
    #[schema(required = true, nullable = true, example = json!(["docs", "faq"]))]
    pub resource_scopes: Option<Vec<String>>,
    /// The first ten characters of the key.
    #[schema(example = "kg_ak_Ab3d")]
    pub key_prefix: String,
    /// The last four characters of the key.
    #[schema(example = "x9Q2")]
    pub key_last4: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the key last authenticated a request, or `null`. Recorded
    /// write-behind: it can lag real use by the flush interval (5 s).
    #[schema(required = true, nullable = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Previous keys that still work until their grace period ends (after a
    /// rotation), oldest first.
    pub pending_keys: Vec<PendingKey>,
    /// When the key was deleted; present only on a deleted key, which only
    /// a list with `include_deleted=true` shows. It can be brought back with
    /// `undelete_api_key` until the recovery window ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "2026-12-01T12:00:00Z")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The identity the key belongs to, or `null`.
    #[schema(
        required = true,
        nullable = true,
        example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub identity_id: Option<String>,
    /// The key's own rate limits (its identity's apply too).
    pub ratelimits: Vec<RateLimit>,
    /// The key's own credit balance, or `null` when unlimited.
    #[schema(required = true, nullable = true)]
    pub credits: Option<Credits>,
}

impl ApiKey {
    /// The view of a row and its pending keys.
    pub fn from_row(
        row: ApiKeyRow,
        pending_keys: Vec<PendingKey>,
        credits: Option<&CreditRow>,
    ) -> Result<ApiKey, ApiError> {
        let rights = row.rights()?;
        let ratelimits = row.ratelimits()?;
        Ok(ApiKey {
            id: row.id,
            organization_id: row.organization_id,
            name: row.name,
            api_key_role: rights.role,
            api_policy: rights.policy,
            enabled: row.enabled,
            allowed_cidrs: rights
                .allowed_cidrs
                .map(|c| c.into_iter().map(Cidr).collect()),
            expires_at: rights.expires_at,
            resource_scopes: rights.resource_scopes,
            key_prefix: row.key_prefix,
            key_last4: row.key_last4,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            last_used_at: row.last_used_at.map(|t| t.and_utc()),
            pending_keys,
            deleted_at: row.deleted_at.map(|t| t.and_utc()),
            identity_id: row.identity_id,
            ratelimits,
            credits: credits.map(Credits::from),
        })
    }
}

/// An API key with its secret, shown this once: in the answer of the
/// operation that created or rotated it.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyWithSecret {
    /// The key's metadata.
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The full key. It is not stored and cannot be shown again.
    #[schema(example = "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0AbCdE")]
    pub key: String,
}

impl std::fmt::Debug for ApiKeyWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyWithSecret")
            .field("api_key", &self.api_key)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A page of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys, oldest first.
    pub data: Vec<ApiKey>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "YWt5XzAxOTBhMGIx")]
    pub next_cursor: Option<String>,
}

/// The most keys one `import_api_keys` call takes.
pub const MAX_IMPORT: usize = 1_000;

/// One key issued elsewhere, given by its SHA-256 only. `Debug` shows no
/// hash.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportApiKey {
    /// SHA-256 of the key as callers present it: 64 hex digits, or base64
    /// (standard or URL-safe, padded or not) of the 32 bytes.
    #[schema(
        min_length = 43,
        max_length = 64,
        pattern = "^([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$",
        example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )]
    pub key_sha256: String,
    /// What to show as the key's first characters (1 to 10), e.g. its
    /// old prefix.
    #[validate(length(min = 1, max = 10, message = "must be 1 to 10 characters"))]
    #[schema(min_length = 1, max_length = 10, example = "sk_live_")]
    pub key_prefix: String,
    /// What to show as the key's last characters (1 to 4).
    #[validate(length(min = 1, max = 4, message = "must be 1 to 4 characters"))]
    #[schema(min_length = 1, max_length = 4, example = "x9Q2")]
    pub key_last4: String,
    /// A name for people, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "billing (imported)")]
    pub name: String,
    /// The key's role.
    pub api_key_role: Role,
    /// Narrows the key to listed operations; absent or `null`: no narrowing.
    #[schema(nullable = true)]
    pub api_policy: Option<ApiPolicy>,
    /// Networks the key may be used from (1 to 100); absent or `null`: anywhere.
    #[validate(length(min = 1, max = 100, message = "must list 1 to 100 networks"))]
    #[schema(min_items = 1, max_items = 100, nullable = true)]
    pub allowed_cidrs: Option<Vec<Cidr>>,
    /// When the key stops working (RFC 3339); absent or `null`: never.
    #[schema(nullable = true, example = "2030-01-01T00:00:00Z")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the key works from the start (default true).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, default = true)]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for ImportApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportApiKey")
            .field("key_sha256", &"<redacted>")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Body of `import_api_keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportApiKeys {
    /// The keys, 1 to 1,000.
    #[schema(min_items = 1, max_items = 1000)]
    pub keys: Vec<ImportApiKey>,
}

/// The hex SHA-256 a given hash stands for: 64 hex digits, or base64 of 32
/// bytes (either alphabet, padding optional).
fn hex_sha256(text: &str) -> Option<String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    use base64::Engine;
    // Either alphabet, with or without padding, and any last-character
    // bits: every text the document's pattern allows decodes.
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(text.to_ascii_lowercase());
    }
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = LENIENT.decode(standard).ok()?;
    (bytes.len() == 32).then(|| hex::encode(bytes))
}

impl ImportApiKeys {
    /// Validates every key (errors name `keys[i].field`) and returns the
    /// repo's input: each key with its hex hash and display parts.
    pub fn into_input(self, names: &PolicyNames) -> Result<Vec<ImportedKey>, ApiError> {
        if self.keys.is_empty() || self.keys.len() > MAX_IMPORT {
            return Err(ApiError::invalid_field(
                "keys",
                "length",
                "must list 1 to 1000 keys",
            ));
        }
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(self.keys.len());
        for (i, key) in self.keys.into_iter().enumerate() {
            let mut own = field_errors(&key);
            let hash = hex_sha256(&key.key_sha256);
            if hash.is_none() {
                own.push(FieldError::new(
                    "key_sha256",
                    "invalid_value",
                    "must be 64 hex digits or base64 of 32 bytes",
                ));
            }
            let create = CreateApiKey {
                name: key.name,
                api_key_role: key.api_key_role,
                api_policy: key.api_policy,
                allowed_cidrs: key.allowed_cidrs,
                expires_at: key.expires_at,
                enabled: key.enabled,
                resource_scopes: None,
                identity_id: None,
                ratelimits: None,
                credits: None,
            };
            let input = match create.into_input(names) {
                Ok(input) => Some(input),
                Err(ApiError::BadRequest { errors, .. }) => {
                    let fresh: Vec<FieldError> = errors
                        .into_iter()
                        .filter(|e| !own.iter().any(|o| o.field == e.field))
                        .collect();
                    own.extend(fresh);
                    None
                }
                Err(other) => return Err(other),
            };
            errors.extend(own.into_iter().map(|mut e| {
                e.field = format!("keys[{i}].{}", e.field);
                e
            }));
            if let (Some(input), Some(key_hash)) = (input, hash) {
                out.push(ImportedKey {
                    input,
                    key_hash,
                    key_prefix: key.key_prefix,
                    key_last4: key.key_last4,
                });
            }
        }
        ApiError::check_fields(errors)?;
        Ok(out)
    }
}

/// The answer of `import_api_keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedApiKeys {
    /// The imported keys, in the order given.
    pub data: Vec<ApiKey>,
}

#[cfg(test)]
mod tests {
    use super::hex_sha256;

    #[test]
    fn every_hash_the_pattern_allows_decodes() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(hex_sha256(hex).as_deref(), Some(hex));
        assert_eq!(hex_sha256(&hex.to_uppercase()).as_deref(), Some(hex));
        // Standard base64 of those bytes, padded and not, and URL-safe.
        let b64 = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        assert_eq!(hex_sha256(b64).as_deref(), Some(hex));
        assert_eq!(hex_sha256(&b64[..43]).as_deref(), Some(hex));
        assert_eq!(
            hex_sha256(&b64.replace('+', "-").replace('/', "_")).as_deref(),
            Some(hex)
        );
        // Mixed alphabets and nonzero last bits, as a generator may send.
        assert!(hex_sha256("A-+_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_some());
        assert!(hex_sha256("abc").is_none());
        assert!(hex_sha256(&"a".repeat(63)).is_none());
    }
}
