//! Request bodies and views of API proxies and their keys. No view carries
//! a secret key; `Debug` of a body holding one hides it.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::model::{ApiProxyChanges, ApiProxyRow};
use super::repo::{NewApiProxy, NewKeys};
use crate::error::{field_errors, ApiError, FieldError};
use crate::resources::projects::dto::Name;

/// The rule of `upstream_url`: an absolute `http` or `https` URL with a DNS
/// name or IPv4 host, an optional port, and optional path, query and
/// fragment of printable ASCII; as in the document.
pub const UPSTREAM_URL_PATTERN: &str = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?([/?#][!-~]*)?$";

static UPSTREAM_URL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(UPSTREAM_URL_PATTERN).expect("URL pattern compiles"));

/// The rule of a proxy key, as in the document: 1 to 512 characters, no
/// NUL, and not blank ([`crate::fields::NOT_BLANK_PATTERN`]).
pub const KEY_PATTERN: &str = crate::fields::NOT_BLANK_PATTERN;

/// The field errors of one key: blank (empty or only whitespace) or longer
/// than 512 characters.
fn key_errors(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if crate::fields::is_blank(value) {
        errors.push(FieldError::new(
            field,
            "blank",
            "must not be empty, blank or whitespace-only",
        ));
    } else if value.chars().count() > 512 {
        errors.push(FieldError::new(
            field,
            "length",
            "must be 1 to 512 characters",
        ));
    }
}

/// Path of single-proxy operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ApiProxyPath {
    /// The project's name: case-sensitive, 1 to 100 of `A-Z a-z 0-9 . _ -`,
    /// never `.` or `..` (dot segments cannot be addressed in a URL).
    #[param(
        value_type = String,
        min_length = 1,
        max_length = 100,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$",
        example = "MyProject"
    )]
    pub project_name: Name,
    /// The API proxy's name: case-sensitive, 1 to 100 of
    /// `A-Z a-z 0-9 . _ -`, never `.` or `..`.
    #[param(
        value_type = String,
        min_length = 1,
        max_length = 100,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$",
        example = "MyAPI"
    )]
    pub api_proxy_name: Name,
}

/// Body of `create_api_proxy`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiProxy {
    /// The name, unique in the project and case-sensitive: 1 to 100 of
    /// `A-Z a-z 0-9 . _ -`, not `.` or `..` (a name is a path segment, and
    /// those two cannot be addressed in a URL).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9._-]{0,99}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,98}|\.\.[A-Za-z0-9._-]{1,98})$",
        example = "MyAPI"
    )]
    pub name: String,
    /// What the proxy is for, up to 1,000 characters.
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(
        nullable = true,
        max_length = 1000,
        example = "Orders API for partners"
    )]
    pub description: Option<String>,
    /// Where the proxy forwards to: an absolute `http` or `https` URL (DNS
    /// name or IPv4 host), up to 2,048 characters.
    #[validate(length(max = 2048, message = "must be at most 2048 characters"))]
    #[schema(
        nullable = true,
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?([/?#][!-~]*)?$",
        example = "https://orders.internal.example.com/v2"
    )]
    pub upstream_url: Option<String>,
}

fn upstream_url_error(url: Option<&str>) -> Option<FieldError> {
    url.filter(|u| !UPSTREAM_URL.is_match(u)).map(|_| {
        FieldError::new(
            "upstream_url",
            "pattern",
            "must be an absolute http or https URL with a DNS name or IPv4 host",
        )
    })
}

impl CreateApiProxy {
    /// Validates the body (every field's errors together) into the repo's
    /// input.
    pub fn into_input(self) -> Result<NewApiProxy, ApiError> {
        let mut errors = field_errors(&self);
        errors.extend(Name::check("name", &self.name));
        errors.extend(upstream_url_error(self.upstream_url.as_deref()));
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)?;
        Ok(NewApiProxy {
            name: self.name,
            description: self.description,
            upstream_url: self.upstream_url,
        })
    }
}

/// Body of `update_api_proxy`: only the fields present change; `null`
/// clears one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiProxy {
    /// New description, up to 1,000 characters, or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 1000, message = "must be at most 1000 characters"))]
    #[schema(max_length = 1000, example = "Orders API for partners")]
    pub description: Option<Option<String>>,
    /// New upstream URL (absolute `http` or `https`), or `null`.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(length(max = 2048, message = "must be at most 2048 characters"))]
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?([/?#][!-~]*)?$",
        example = "https://orders.internal.example.com/v3"
    )]
    pub upstream_url: Option<Option<String>>,
}

impl UpdateApiProxy {
    /// Validates the body into a changeset.
    pub fn into_changes(self) -> Result<ApiProxyChanges, ApiError> {
        let mut errors = field_errors(&self);
        errors.extend(upstream_url_error(
            self.upstream_url.as_ref().and_then(Option::as_deref),
        ));
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)?;
        Ok(ApiProxyChanges {
            description: self.description,
            upstream_url: self.upstream_url,
            updated_at: None,
        })
    }
}

/// The `detail` of a keys body that gives no key.
pub const NO_KEY_DETAIL: &str = "At least one key (public_key or secret_key) must be provided";

/// Body of `update_api_proxy_keys`: at least one key; a key left out stays
/// as it is. `null` is not a key: a body of only `null`s gives no key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateApiProxyKeys {
    /// The public key (identifies the caller; shown in the proxy's view):
    /// 1 to 512 characters, not blank or whitespace-only, case-sensitive,
    /// unique among the organization's proxy keys.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "ak_1234567890abcdef"
    )]
    pub public_key: Option<Option<String>>,
    /// The secret key (authenticates the caller; stored encrypted, never
    /// shown): 1 to 512 characters, not blank or whitespace-only,
    /// case-sensitive, unique among the organization's proxy keys.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "sk_9876543210fedcba"
    )]
    pub secret_key: Option<Option<String>>,
}

// Hides the secret key.
impl std::fmt::Debug for UpdateApiProxyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateApiProxyKeys")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self
                    .secret_key
                    .as_ref()
                    .map(|s| s.as_ref().map(|_| "<redacted>")),
            )
            .finish()
    }
}

impl UpdateApiProxyKeys {
    /// Checks the keys: at least one given as a string (else 400 with
    /// [`NO_KEY_DETAIL`] and both fields named), a `null` beside it refused,
    /// each not blank and at most 512 characters, and the two not equal.
    pub fn into_keys(self) -> Result<NewKeys, ApiError> {
        let public_key = self.public_key.clone().flatten();
        let secret_key = self.secret_key.clone().flatten();
        if public_key.is_none() && secret_key.is_none() {
            let message = "give public_key, secret_key or both";
            return Err(ApiError::BadRequest {
                code: "validation_failed",
                detail: NO_KEY_DETAIL.to_owned(),
                errors: vec![
                    FieldError::new("public_key", "required", message),
                    FieldError::new("secret_key", "required", message),
                ],
            });
        }
        let mut errors = Vec::new();
        for (field, value) in [
            ("public_key", &self.public_key),
            ("secret_key", &self.secret_key),
        ] {
            match value {
                Some(None) => errors.push(FieldError::new(
                    field,
                    "null",
                    "must be a key; leave the field out to keep the current one",
                )),
                Some(Some(key)) => key_errors(field, key, &mut errors),
                None => {}
            }
        }
        ApiError::check_fields(errors)?;
        // Valid keys that clash are a conflict, as with a key another proxy
        // holds: the schema cannot say "differs from the other field".
        if public_key.is_some() && public_key == secret_key {
            return Err(ApiError::Conflict {
                code: "duplicate_key",
                detail: "secret_key must differ from public_key".to_owned(),
            });
        }
        Ok(NewKeys {
            public_key,
            secret_key,
        })
    }
}

/// Body of `check_api_proxy_keys`: the key pair a caller presented.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckApiProxyKeys {
    /// The public key presented: 1 to 512 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "ak_1234567890abcdef"
    )]
    pub public_key: String,
    /// The secret key presented: 1 to 512 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "sk_9876543210fedcba"
    )]
    pub secret_key: String,
}

// Hides the secret key.
impl std::fmt::Debug for CheckApiProxyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckApiProxyKeys")
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl CheckApiProxyKeys {
    /// Checks the keys' shape, by the rules `update_api_proxy_keys` uses.
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        key_errors("public_key", &self.public_key, &mut errors);
        key_errors("secret_key", &self.secret_key, &mut errors);
        ApiError::check_fields(errors)
    }
}

/// Answer of `check_api_proxy_keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProxyKeysCheck {
    /// Whether both keys are the proxy's current public and secret key.
    #[schema(example = true)]
    pub valid: bool,
}

/// An API proxy as shown: the public key, and of the secret key only
/// whether it is set and, for a long one, its last four characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProxy {
    /// `apx_` and 32 hex digits.
    #[schema(
        pattern = "^apx_[0-9a-f]{32}$",
        example = "apx_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The organization the proxy belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// The project's name.
    #[schema(example = "MyProject")]
    pub project_name: String,
    /// The proxy's name, used in paths.
    #[schema(example = "MyAPI")]
    pub name: String,
    /// What the proxy is for, or `null`.
    #[schema(required = true, nullable = true, example = "Orders API for partners")]
    pub description: Option<String>,
    /// Where the proxy forwards to, or `null`.
    #[schema(
        required = true,
        nullable = true,
        example = "https://orders.internal.example.com/v2"
    )]
    pub upstream_url: Option<String>,
    /// The public key, or `null` until one is set.
    #[schema(required = true, nullable = true, example = "ak_1234567890abcdef")]
    pub public_key: Option<String>,
    /// Whether a secret key is set.
    #[schema(example = true)]
    pub secret_key_set: bool,
    /// The secret key's last four characters when it has at least 12, else
    /// `null` (also until one is set).
    #[schema(required = true, nullable = true, example = "dcba")]
    pub secret_key_last4: Option<String>,
    /// When the proxy was created.
    pub created_at: DateTime<Utc>,
    /// When the proxy was last changed (keys included).
    pub updated_at: DateTime<Utc>,
}

impl ApiProxy {
    /// The view of a row of the named project.
    pub fn from_row(row: ApiProxyRow, project_name: &str) -> ApiProxy {
        ApiProxy {
            secret_key_set: row.secret_key.is_some(),
            id: row.id,
            organization_id: row.organization_id,
            project_name: project_name.to_owned(),
            name: row.name,
            description: row.description,
            upstream_url: row.upstream_url,
            public_key: row.public_key,
            secret_key_last4: row.secret_key_last4,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A page of API proxies.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProxyList {
    /// The proxies, by id.
    pub data: Vec<ApiProxy>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true, nullable = true, example = "YXB4XzAxOTBhMGIx")]
    pub next_cursor: Option<String>,
}

/// Answer of `update_api_proxy_keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiProxyKeysUpdated {
    /// Always `true`: a failure is a problem+json error instead.
    #[schema(example = true)]
    pub success: bool,
    /// The proxy after the change.
    pub api_proxy: ApiProxy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_pattern_and_the_server_agree_on_blank_keys() {
        let pattern = regex::Regex::new(KEY_PATTERN).unwrap();
        let spaces: Vec<char> = (0u32..=0x3000)
            .chain([0xFEFF])
            .filter_map(char::from_u32)
            .filter(|c| crate::fields::is_blank_char(*c))
            .collect();
        assert!(spaces.len() > 20, "{spaces:?}");
        for c in spaces {
            let blank = format!("{c}{c}");
            assert!(
                !pattern.is_match(&blank),
                "{:?} is blank for the pattern",
                c
            );
            let mut errors = Vec::new();
            key_errors("k", &blank, &mut errors);
            assert_eq!(errors[0].code, "blank", "{:?}", c);
        }
        for ok in ["ak_1234567890abcdef", " x ", "\u{0085}x", "🔑"] {
            assert!(pattern.is_match(ok), "{ok:?}");
            let mut errors = Vec::new();
            key_errors("k", ok, &mut errors);
            assert!(errors.is_empty(), "{ok:?}");
        }
        assert!(!pattern.is_match("a\u{0}b"), "NUL is refused");
    }

    #[test]
    fn debug_output_never_shows_a_secret_key() {
        let secret = "sk_9876543210fedcba";
        let update: UpdateApiProxyKeys = serde_json::from_value(serde_json::json!({
            "public_key": "ak_1234567890abcdef",
            "secret_key": secret,
        }))
        .unwrap();
        let check: CheckApiProxyKeys = serde_json::from_value(serde_json::json!({
            "public_key": "ak_1234567890abcdef",
            "secret_key": secret,
        }))
        .unwrap();
        let update_text = format!("{update:?}");
        let keys = update.into_keys().unwrap();
        let row = ApiProxyRow {
            id: "apx_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3".to_owned(),
            organization_id: "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3".to_owned(),
            project_id: "prj_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3".to_owned(),
            name: "MyAPI".to_owned(),
            description: None,
            upstream_url: None,
            public_key: Some("ak_1234567890abcdef".to_owned()),
            // Stands in for an envelope: whatever the column holds stays out.
            secret_key: Some(secret.as_bytes().to_vec()),
            secret_key_last4: Some("dcba".to_owned()),
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
        };
        let redacted = [update_text, format!("{check:?}"), format!("{keys:?}")];
        for text in &redacted {
            assert!(!text.contains(secret), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
            assert!(
                text.contains("ak_1234567890abcdef"),
                "public key shown: {text}"
            );
        }
        let text = format!("{row:?}");
        assert!(!text.contains(secret), "{text}");
        assert!(
            !text.contains("115, 107, 95"),
            "no bytes of the column: {text}"
        );
        assert!(text.contains("secret_key_set: true"), "{text}");
    }

    #[test]
    fn upstream_urls_follow_the_documented_pattern() {
        for ok in [
            "https://orders.example.com/v2",
            "http://10.0.0.1:8080",
            "https://a",
            "https://a-b.c/p?q=1#f",
        ] {
            assert!(upstream_url_error(Some(ok)).is_none(), "{ok}");
        }
        for bad in [
            "ftp://a",
            "https://",
            "//a",
            "https://a b",
            "https://-a",
            "HTTPS://a",
            "https://a/\u{e9}",
        ] {
            assert!(upstream_url_error(Some(bad)).is_some(), "{bad}");
        }
    }
}
