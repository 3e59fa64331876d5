//! Request bodies, views and query parameters of providers and provider
//! credentials, the credential id, and their conversion into the repo's
//! input.
//!
//! The create body is documented as a `oneOf` on `credential_type` (one
//! schema per type, so generated clients get one class per type), but read
//! as one generic shape and checked by hand, so that every problem of
//! `credential_data` is reported at once under `credential_data.<key>`
//! instead of as one serde message.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::model::{
    CredentialData, CredentialRow, CredentialSortBy, CredentialType, Provider, SortOrder,
};
use super::repo::{CredentialPatch, NewCredential, ProviderState};
use crate::error::{ApiError, FieldError};

crate::prefixed_id!(
    /// A provider credential's id: `crd_` and 32 hex digits.
    CredentialId,
    "crd_"
);

/// Path of provider operations.
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
    /// The credential's id.
    #[param(
        value_type = String,
        pattern = "^crd_[0-9a-f]{32}$",
        example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub credential_id: CredentialId,
}

/// A provider's settings in the caller's organization. Every provider
/// exists for every organization; one never changed has no active
/// credential and `updated_at: null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderSettings {
    /// The provider.
    pub provider: Provider,
    /// The credential used for this provider, or `null`.
    #[schema(
        required = true,
        nullable = true,
        pattern = "^crd_[0-9a-f]{32}$",
        example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub active_credential_id: Option<String>,
    /// When the settings were last changed; `null` if never.
    #[schema(required = true, nullable = true)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<ProviderState> for ProviderSettings {
    fn from(state: ProviderState) -> Self {
        ProviderSettings {
            provider: state.provider,
            active_credential_id: state.active_credential_id,
            updated_at: state.updated_at.map(|at| at.and_utc()),
        }
    }
}

/// Body of `update_provider`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    /// A credential of this provider in the caller's organization, or
    /// `null` for none. Required: send `null` to clear it.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(
        required = true,
        nullable = true,
        pattern = "^crd_[0-9a-f]{32}$",
        example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub active_credential_id: Option<String>,
}

impl UpdateProvider {
    /// Checks the id's shape (whether it names a credential is checked in
    /// the transaction).
    pub fn into_active(self) -> Result<Option<String>, ApiError> {
        match self.active_credential_id {
            Some(id) if !CredentialId::is_valid(&id) => Err(ApiError::invalid_field(
                "active_credential_id",
                "pattern",
                "must be crd_ followed by 32 lowercase hex digits, or null",
            )),
            other => Ok(other),
        }
    }
}

/// A provider credential as shown: never its data's values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderCredential {
    /// `crd_` and 32 hex digits.
    #[schema(
        pattern = "^crd_[0-9a-f]{32}$",
        example = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The provider it belongs to.
    pub provider: Provider,
    /// Its name, unique per provider in the organization.
    #[schema(example = "Google auth app #2 multitenant")]
    pub name: String,
    /// Its type.
    pub credential_type: CredentialType,
    /// The names of the keys stored in `credential_data`, sorted; the values
    /// are encrypted and never returned.
    #[schema(example = json!(["client_id", "client_secret"]))]
    pub credential_data_keys: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was deleted; present only on a deleted credential, which
    /// only a list with `include_deleted=true` shows. It can be brought
    /// back with `undelete_provider_credential` until the recovery window
    /// ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "2026-12-01T12:00:00Z")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl ProviderCredential {
    /// The view of a row; a row with an unknown provider or type is an
    /// internal error.
    pub fn from_row(row: &CredentialRow) -> Result<ProviderCredential, ApiError> {
        let unknown = || {
            ApiError::internal(format!(
                "credential {} has an unknown provider or type",
                row.id
            ))
        };
        let provider = Provider::parse(&row.provider).ok_or_else(unknown)?;
        let credential_type = CredentialType::parse(&row.credential_type).ok_or_else(unknown)?;
        Ok(ProviderCredential {
            id: row.id.clone(),
            provider,
            name: row.name.clone(),
            credential_type,
            // Data always has exactly its type's keys (checked on every
            // write), so the names need no decryption.
            credential_data_keys: credential_type
                .keys()
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            deleted_at: row.deleted_at.map(|t| t.and_utc()),
        })
    }
}

/// A page of provider credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderCredentialList {
    /// The credentials, in the requested order.
    pub data: Vec<ProviderCredential>,
    /// Pass as `cursor` (with the same `sort_by` and `order`) for the next
    /// page; `null` on the last page.
    #[schema(
        required = true,
        nullable = true,
        example = "djEuY3JlYXRlZF9hdC5kZXNjLjE3OTU0MDAwMDAwMDAwMDAuY3JkXzAxOTA"
    )]
    pub next_cursor: Option<String>,
}

const NAME_MESSAGE: &str = "must be 1 to 255 characters";

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if !(1..=255).contains(&name.chars().count()) {
        errors.push(FieldError::new("name", "length", NAME_MESSAGE));
    }
}

/// The body `create_provider_credential` reads: every shape the document's
/// `oneOf` allows, checked by [`NewCredentialBody::into_input`]. `Debug`
/// shows no data values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredentialBody {
    name: String,
    credential_type: String,
    credential_data: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for NewCredentialBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredentialBody")
            .field("name", &self.name)
            .field("credential_type", &self.credential_type)
            .field(
                "credential_data_keys",
                &self.credential_data.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl NewCredentialBody {
    /// Checks every field (all problems at once) and the provider / type
    /// compatibility, and returns the repo's input.
    pub fn into_input(self, provider: Provider) -> Result<NewCredential, ApiError> {
        let mut errors = Vec::new();
        check_name(&self.name, &mut errors);
        let credential_type = CredentialType::parse(&self.credential_type);
        match credential_type {
            None => errors.push(FieldError::new(
                "credential_type",
                "one_of",
                "must be one of serviceaccount, adminconsent, connector",
            )),
            Some(t) => {
                if let Some(only) = t.only_provider().filter(|only| *only != provider) {
                    errors.push(FieldError::new(
                        "credential_type",
                        "incompatible_provider",
                        format!(
                            "{} credentials belong to provider {} only, not {}; use connector for other providers",
                            t.as_str(),
                            only.as_str(),
                            provider.as_str()
                        ),
                    ));
                }
            }
        }
        let data = CredentialData::check(credential_type, &self.credential_data);
        if let Err(data_errors) = &data {
            errors.extend(data_errors.iter().cloned());
        }
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::check_fields(errors)?;
        match (credential_type, data) {
            (Some(credential_type), Ok(data)) => Ok(NewCredential {
                name: self.name,
                credential_type,
                data,
            }),
            _ => Err(ApiError::internal(
                "a checked credential lost its type or data",
            )),
        }
    }
}

/// Body of `update_provider_credential`: at least one field; `credential_data`
/// replaces the stored data wholesale and must have exactly the keys of the
/// credential's type.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateProviderCredential {
    /// A new name, 1 to 255 characters, unique per provider.
    #[serde(default, deserialize_with = "crate::fields::present")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "Google auth app #2 multitenant"
    )]
    pub name: Option<String>,
    /// The new data, replacing all of the old (a key left out is gone). Its
    /// keys must be exactly those of the credential's type, which the
    /// stored credential decides: `private_key_id`, `private_key`,
    /// `client_email` for `serviceaccount`; `client_id`, `client_secret` for
    /// `adminconsent` and `connector`. Other data is 400 with an error per
    /// key.
    #[serde(default, deserialize_with = "crate::fields::present")]
    #[schema(value_type = CredentialDataUpdate, nullable = false)]
    pub credential_data: Option<serde_json::Map<String, serde_json::Value>>,
}

impl std::fmt::Debug for UpdateProviderCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateProviderCredential")
            .field("name", &self.name)
            .field(
                "credential_data_keys",
                &self
                    .credential_data
                    .as_ref()
                    .map(|d| d.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

impl UpdateProviderCredential {
    /// Checks what needs no stored credential: at least one field, the name,
    /// and that data values are non-blank strings (its keys are checked
    /// against the stored type in the transaction).
    pub fn into_patch(self) -> Result<CredentialPatch, ApiError> {
        if self.name.is_none() && self.credential_data.is_none() {
            let message = "give name, credential_data or both";
            return Err(ApiError::invalid_fields(vec![
                FieldError::new("credential_data", "required", message),
                FieldError::new("name", "required", message),
            ]));
        }
        let mut errors = Vec::new();
        if let Some(name) = &self.name {
            check_name(name, &mut errors);
        }
        if let Some(Err(data_errors)) = self
            .credential_data
            .as_ref()
            .map(|d| CredentialData::check(None, d))
        {
            errors.extend(data_errors);
        }
        ApiError::check_fields(errors)?;
        Ok(CredentialPatch {
            name: self.name,
            data: self.credential_data,
        })
    }
}

/// Sorting of `list_provider_credentials`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CredentialOrder {
    /// The timestamp to sort by: `created_at` (the default) or
    /// `updated_at`; ties are broken by id.
    #[param(inline)]
    pub sort_by: Option<CredentialSortBy>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[param(inline)]
    pub order: Option<SortOrder>,
}

/// The `cursor` of `list_provider_credentials`: the sort it was made for,
/// and the last row's sort value and id, where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor;

impl CredentialOrder {
    /// The column and direction asked for.
    pub fn sort(&self) -> (CredentialSortBy, SortOrder) {
        (
            self.sort_by.unwrap_or_default(),
            self.order.unwrap_or_default(),
        )
    }
}

fn sort_name(sort_by: CredentialSortBy, order: SortOrder) -> String {
    let column = match sort_by {
        CredentialSortBy::CreatedAt => "created_at",
        CredentialSortBy::UpdatedAt => "updated_at",
    };
    let direction = match order {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    };
    format!("{column}.{direction}")
}

impl Cursor {
    /// The text of a cursor after `row` (base64url-encoded by
    /// [`crate::db::page::Page`]'s conventions).
    pub fn after(row: &CredentialRow, sort_by: CredentialSortBy, order: SortOrder) -> String {
        use base64::Engine;
        let at = match sort_by {
            CredentialSortBy::CreatedAt => row.created_at,
            CredentialSortBy::UpdatedAt => row.updated_at,
        };
        let text = format!(
            "v1.{}.{}.{}",
            sort_name(sort_by, order),
            at.and_utc().timestamp_micros(),
            row.id
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads a cursor's decoded text (as `PageQuery::page` leaves it) for
    /// the sort asked for: 400 when it is not a cursor of this list, or was
    /// made for another `sort_by` or `order`.
    pub fn parse(
        text: &str,
        sort_by: CredentialSortBy,
        order: SortOrder,
    ) -> Result<(NaiveDateTime, String), ApiError> {
        let malformed = || {
            ApiError::invalid_field(
                "cursor",
                "invalid_cursor",
                "is not a next_cursor this list returned",
            )
        };
        let mut parts = text.splitn(5, '.');
        let (Some("v1"), Some(column), Some(direction), Some(micros), Some(id)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed());
        };
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(crate::db::time_from_micros)
            .ok_or_else(malformed)?;
        if !CredentialId::is_valid(id) {
            return Err(malformed());
        }
        let made_for = format!("{column}.{direction}");
        let asked = sort_name(sort_by, order);
        if made_for != asked {
            return Err(ApiError::invalid_field(
                "cursor",
                "sort_mismatch",
                format!(
                    "was made for sort_by and order {made_for}, not {asked}; repeat the first request's sort_by and order, or leave out cursor"
                ),
            ));
        }
        Ok((at, id.to_owned()))
    }
}

/// The pattern of every `credential_data` value: at least one character
/// that is not whitespace, and no NUL.
pub const DATA_VALUE_PATTERN: &str = crate::fields::NOT_BLANK_PATTERN;

/// Body of `create_provider_credential`, one schema per `credential_type`.
/// Documentation only: the server reads [`NewCredentialBody`] and checks it
/// by hand, so that every problem is reported at once.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "credential_type", mapping(
    ("serviceaccount" = "#/components/schemas/CreateServiceAccountCredential"),
    ("adminconsent" = "#/components/schemas/CreateAdminConsentCredential"),
    ("connector" = "#/components/schemas/CreateConnectorCredential")
)))]
#[expect(
    missing_docs,
    reason = "a variant's doc would sit beside its $ref in the oneOf, which openapi-generator then reads as an inline schema"
)]
pub enum CreateProviderCredential {
    // A Google service account (provider `google` only).
    ServiceAccount(CreateServiceAccountCredential),
    // Microsoft admin consent (provider `microsoft` only).
    AdminConsent(CreateAdminConsentCredential),
    // A connector override (any provider).
    Connector(CreateConnectorCredential),
}

/// `credential_type` of a service-account credential.
#[derive(Serialize, ToSchema)]
pub enum ServiceAccountCredentialType {
    /// The only value.
    #[serde(rename = "serviceaccount")]
    ServiceAccount,
}

/// `credential_type` of an admin-consent credential.
#[derive(Serialize, ToSchema)]
pub enum AdminConsentCredentialType {
    /// The only value.
    #[serde(rename = "adminconsent")]
    AdminConsent,
}

/// `credential_type` of a connector-override credential.
#[derive(Serialize, ToSchema)]
pub enum ConnectorCredentialType {
    /// The only value.
    #[serde(rename = "connector")]
    Connector,
}

/// A Google service account's key: the fields of its JSON key file that
/// keygate stores. Exactly these keys; values are non-blank strings of at
/// most 16,384 characters.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountCredentialData {
    /// The key's id (`private_key_id` in the key file).
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "<PRIVATE_KEY_ID>"
    )]
    pub private_key_id: String,
    /// The PEM private key (`private_key` in the key file).
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "<PRIVATE_KEY>"
    )]
    pub private_key: String,
    /// The service account's address (`client_email` in the key file).
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "<CLIENT_EMAIL>"
    )]
    pub client_email: String,
}

/// A provider app's client id and secret (admin consent and connector
/// overrides). Exactly these keys; values are non-blank strings of at most
/// 16,384 characters.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialData {
    /// The app's client id.
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "3805ABCD1234-ABCD1234uv02m.apps.googleusercontent.com"
    )]
    pub client_id: String,
    /// The app's client secret.
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\u0000]*[^\u0000\u0009-\u000D\u001C-\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$",
        example = "Ilg....01pe8db"
    )]
    pub client_secret: String,
}

/// Body of `create_provider_credential` for a Google service account.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountCredential {
    /// A name, 1 to 255 characters, unique per provider.
    #[schema(min_length = 1, max_length = 255, example = "Google service account")]
    pub name: String,
    /// `serviceaccount`.
    pub credential_type: ServiceAccountCredentialType,
    /// The service account's key.
    pub credential_data: ServiceAccountCredentialData,
}

/// Body of `create_provider_credential` for Microsoft admin consent.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminConsentCredential {
    /// A name, 1 to 255 characters, unique per provider.
    #[schema(min_length = 1, max_length = 255, example = "Microsoft admin consent")]
    pub name: String,
    /// `adminconsent`.
    pub credential_type: AdminConsentCredentialType,
    /// The Azure app's client id and secret.
    pub credential_data: ClientCredentialData,
}

/// Body of `create_provider_credential` for a connector override.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectorCredential {
    /// A name, 1 to 255 characters, unique per provider.
    #[schema(
        min_length = 1,
        max_length = 255,
        example = "Google auth app #2 multitenant"
    )]
    pub name: String,
    /// `connector`.
    pub credential_type: ConnectorCredentialType,
    /// The other provider app's client id and secret.
    pub credential_data: ClientCredentialData,
}

/// `credential_data` of `update_provider_credential`: the keys of the
/// credential's type, which the stored credential decides.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    missing_docs,
    reason = "a variant's doc would sit beside its $ref in the oneOf, which openapi-generator then reads as an inline schema"
)]
pub enum CredentialDataUpdate {
    // For a `serviceaccount` credential.
    ServiceAccount(ServiceAccountCredentialData),
    // For an `adminconsent` or `connector` credential.
    Client(ClientCredentialData),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_the_document_calls_blank_is_refused() {
        let pattern = regex::Regex::new(DATA_VALUE_PATTERN).unwrap();
        let cases = [
            "",
            " ",
            "\t\n\r",
            "\u{a0}",
            "\u{2003}",
            "\u{feff}",
            "\u{1c}",
            "\u{85}",
            "x",
            " x ",
            "-----BEGIN PRIVATE KEY-----\nabc\n",
            "\u{e9}",
        ];
        for case in cases {
            let data = serde_json::Map::from_iter([("client_id".to_owned(), json(case))]);
            let accepted = CredentialData::check(None, &data).is_ok();
            if !pattern.is_match(case) {
                assert!(
                    !accepted,
                    "{case:?}: the document refuses it, so must the server"
                );
            }
            assert_eq!(
                accepted,
                !case
                    .chars()
                    .all(|c| c.is_whitespace() || matches!(c, '\u{feff}' | '\u{1c}'..='\u{1f}')),
                "{case:?}"
            );
        }
    }

    #[test]
    fn debug_output_names_keys_but_never_values() {
        let create: NewCredentialBody = serde_json::from_value(serde_json::json!({
            "name": "n", "credential_type": "connector",
            "credential_data": {"client_id": "DEBUG-VALUE-1", "client_secret": "DEBUG-VALUE-2"}}))
        .unwrap();
        let update: UpdateProviderCredential = serde_json::from_value(serde_json::json!({
            "credential_data": {"client_id": "DEBUG-VALUE-3", "client_secret": "DEBUG-VALUE-4"}}))
        .unwrap();
        let printed = [format!("{create:?}"), format!("{update:?}")];
        let input = create.into_input(Provider::Zoom).unwrap();
        let patch = update.into_patch().unwrap();
        for text in printed
            .iter()
            .chain([&format!("{input:?}"), &format!("{patch:?}")])
        {
            assert!(text.contains("client_secret"), "{text}");
            assert!(!text.contains("DEBUG-VALUE"), "{text}");
        }
    }

    fn json(text: &str) -> serde_json::Value {
        serde_json::Value::String(text.to_owned())
    }

    #[test]
    fn a_cursor_reads_back_only_for_its_own_sort() {
        let row = CredentialRow {
            organization_id: "org_1".to_owned(),
            id: crate::db::new_id("crd_"),
            provider: "google".to_owned(),
            name: "n".to_owned(),
            credential_type: "connector".to_owned(),
            credential_data: Vec::new(),
            created_at: crate::db::now().naive_utc(),
            updated_at: crate::db::now().naive_utc(),
            deleted_at: None,
        };
        let text = Cursor::after(&row, CredentialSortBy::UpdatedAt, SortOrder::Asc);
        use base64::Engine;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&text)
            .unwrap();
        let decoded = String::from_utf8(decoded).unwrap();
        assert_eq!(
            Cursor::parse(&decoded, CredentialSortBy::UpdatedAt, SortOrder::Asc).unwrap(),
            (row.updated_at, row.id.clone())
        );
        assert!(Cursor::parse(&decoded, CredentialSortBy::CreatedAt, SortOrder::Asc).is_err());
        assert!(Cursor::parse(&decoded, CredentialSortBy::UpdatedAt, SortOrder::Desc).is_err());
        assert!(Cursor::parse(
            "v1.updated_at.asc.x.crd_1",
            CredentialSortBy::UpdatedAt,
            SortOrder::Asc
        )
        .is_err());
    }
}
