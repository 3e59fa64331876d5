//! Rows of `provider_credentials` and `providers`, the two closed sets
//! stored in them (providers and credential types), and the sort column and
//! direction of a credential list. Rows never derive
//! `Serialize`; the credential row has no `Debug` (its data is sealed, but
//! nothing about it needs printing either).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{provider_credentials, providers};
use crate::error::FieldError;

/// A provider keygate keeps credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(example = "google")]
pub enum Provider {
    /// Google (Gmail, Google Calendar).
    Google,
    /// Microsoft (Outlook, Microsoft 365).
    Microsoft,
    /// Any IMAP server.
    Imap,
    /// Apple iCloud.
    Icloud,
    /// Yahoo.
    Yahoo,
    /// Microsoft Exchange Web Services.
    Ews,
    /// Zoom.
    Zoom,
    /// Nylas-style virtual calendars.
    VirtualCalendar,
    /// A hosted inbox.
    Inbox,
}

impl Provider {
    /// Every provider, in the document's order.
    pub const ALL: [Provider; 9] = [
        Provider::Google,
        Provider::Microsoft,
        Provider::Imap,
        Provider::Icloud,
        Provider::Yahoo,
        Provider::Ews,
        Provider::Zoom,
        Provider::VirtualCalendar,
        Provider::Inbox,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Imap => "imap",
            Provider::Icloud => "icloud",
            Provider::Yahoo => "yahoo",
            Provider::Ews => "ews",
            Provider::Zoom => "zoom",
            Provider::VirtualCalendar => "virtual-calendar",
            Provider::Inbox => "inbox",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// What kind of credential it is; decides the keys of `credential_data`
/// and the providers it may belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(example = "serviceaccount")]
pub enum CredentialType {
    /// A Google service account (`google` only).
    #[serde(rename = "serviceaccount")]
    ServiceAccount,
    /// Microsoft admin consent (`microsoft` only).
    #[serde(rename = "adminconsent")]
    AdminConsent,
    /// A connector override: another provider app's client id and secret
    /// (any provider).
    Connector,
}

impl CredentialType {
    /// Every type, in the document's order.
    pub const ALL: [CredentialType; 3] = [
        CredentialType::ServiceAccount,
        CredentialType::AdminConsent,
        CredentialType::Connector,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::ServiceAccount => "serviceaccount",
            CredentialType::AdminConsent => "adminconsent",
            CredentialType::Connector => "connector",
        }
    }

    /// Parses a stored or given name.
    pub fn parse(text: &str) -> Option<CredentialType> {
        CredentialType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The keys `credential_data` must have, exactly (sorted).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            CredentialType::ServiceAccount => &["client_email", "private_key", "private_key_id"],
            CredentialType::AdminConsent | CredentialType::Connector => {
                &["client_id", "client_secret"]
            }
        }
    }

    /// The only provider this type may belong to; `None`: any provider.
    pub fn only_provider(self) -> Option<Provider> {
        match self {
            CredentialType::ServiceAccount => Some(Provider::Google),
            CredentialType::AdminConsent => Some(Provider::Microsoft),
            CredentialType::Connector => None,
        }
    }
}

/// The column `list_provider_credentials` sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSortBy {
    /// Creation time (the default).
    #[default]
    CreatedAt,
    /// Time of the last change.
    UpdatedAt,
}

/// The direction of `list_provider_credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first (the default, as Nylas lists).
    #[default]
    Desc,
}

/// One stored credential. `credential_data` is an envelope, never
/// plaintext.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = provider_credentials)]
pub struct CredentialRow {
    /// Owning organization.
    pub organization_id: String,
    /// `crd_` id.
    pub id: String,
    /// The provider's name.
    pub provider: String,
    /// Name, unique per provider and organization.
    pub name: String,
    /// The credential type's name.
    pub credential_type: String,
    /// The sealed JSON object of keys and values.
    pub credential_data: Vec<u8>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When it was deleted; such a credential is kept only for the
    /// recovery window, and only a list with `include_deleted` and
    /// `undelete` see it.
    pub deleted_at: Option<NaiveDateTime>,
}

impl CredentialRow {
    /// The `ETag` of this version.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.updated_at)
    }
}

/// A provider's stored settings (only once it was changed).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = providers)]
pub struct ProviderRow {
    /// Owning organization.
    pub organization_id: String,
    /// The provider's name.
    pub provider: String,
    /// The active credential.
    pub active_credential_id: Option<String>,
    /// When the row was first written.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// The longest value a `credential_data` key may hold, in characters (a
/// 4096-bit RSA private key in PEM is about 3,300).
pub const MAX_VALUE_CHARS: usize = 16_384;

/// Checked credential data: each key of its type, exactly, with a
/// non-blank string value. `Debug` shows the keys only.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialData(BTreeMap<String, String>);

impl std::fmt::Debug for CredentialData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialData")
            .field("keys", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CredentialData {
    /// Checks a JSON object as the data of a credential type (`None`: the
    /// type is itself invalid, so only the values are checked). Every
    /// problem is reported, each under `credential_data.<key>`; messages
    /// never repeat a value.
    pub fn check(
        credential_type: Option<CredentialType>,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<CredentialData, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        for (key, value) in data {
            // A key the type does not have may be a pasted secret: shown
            // only when it is an identifier.
            let field = format!("credential_data.{}", crate::error::shown_name(key));
            if let Some(t) = credential_type {
                if !t.keys().contains(&key.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "unknown_field",
                        format!(
                            "is not a key of {} credentials, which have exactly {}",
                            t.as_str(),
                            t.keys().join(", ")
                        ),
                    ));
                    continue;
                }
            }
            match value {
                serde_json::Value::String(s) if crate::fields::is_blank(s) => errors.push(
                    FieldError::new(field, "blank", "must not be empty or only whitespace"),
                ),
                serde_json::Value::String(s) if s.chars().count() > MAX_VALUE_CHARS => {
                    errors.push(FieldError::new(
                        field,
                        "length",
                        format!("must be at most {MAX_VALUE_CHARS} characters"),
                    ));
                }
                serde_json::Value::String(s) => {
                    values.insert(key.clone(), s.clone());
                }
                _ => errors.push(FieldError::new(field, "type", "must be a string")),
            }
        }
        if let Some(t) = credential_type {
            for key in t.keys() {
                if !data.contains_key(*key) {
                    errors.push(FieldError::new(
                        format!("credential_data.{key}"),
                        "required",
                        format!("is required for {} credentials", t.as_str()),
                    ));
                }
            }
        }
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        if errors.is_empty() {
            Ok(CredentialData(values))
        } else {
            Err(errors)
        }
    }

    /// The plaintext that is sealed: a JSON object with sorted keys.
    pub fn to_plaintext(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("a map of strings serializes")
    }

    /// Reads opened plaintext back; `None` if it is not a JSON object of
    /// strings.
    pub fn from_plaintext(bytes: &[u8]) -> Option<CredentialData> {
        serde_json::from_slice(bytes).ok().map(CredentialData)
    }
}

/// A changeset for PATCH: `None` leaves a column alone. No `Debug`: it
/// holds a sealed value.
#[derive(Clone, AsChangeset)]
#[diesel(table_name = provider_credentials)]
pub struct CredentialChanges {
    /// New name.
    pub name: Option<String>,
    /// New sealed data.
    pub credential_data: Option<Vec<u8>>,
    /// Always set.
    pub updated_at: NaiveDateTime,
}
