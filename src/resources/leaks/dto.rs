//! GitHub's secret scanning partner alert and keygate's answer, in GitHub's
//! shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most matches one alert may carry.
pub const MAX_ALERTS: usize = 1_000;

/// One match GitHub found. Fields GitHub may add later are accepted and
/// ignored, so a new field never makes keygate refuse a leak. `Debug`
/// never shows the token.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2", "type": "keygate_api_key", "url": "https://github.com/octo/app/blob/0123abc/config.yml", "source": "content"}))]
pub struct LeakAlert {
    /// The text that matched keygate's pattern.
    #[schema(example = "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2")]
    pub token: String,
    /// The name of the pattern it matched, as registered with GitHub.
    #[serde(rename = "type")]
    #[schema(example = "keygate_api_key")]
    pub token_type: String,
    /// Where GitHub found it; recorded in the audit event.
    #[serde(default)]
    #[schema(example = "https://github.com/octo/app/blob/0123abc/config.yml")]
    pub url: Option<String>,
    /// What GitHub found it in (`content`, `commit`, `pull_request`, ...).
    #[serde(default)]
    #[schema(example = "content")]
    pub source: Option<String>,
}

impl std::fmt::Debug for LeakAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakAlert")
            .field("token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Whether a reported token was a real keygate key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakLabel {
    /// A key keygate issued and still knew: it is now disabled or revoked.
    TruePositive,
    /// Not a keygate key (wrong shape or checksum), or no key keygate knows
    /// (never issued, deleted, or a secret already revoked).
    FalsePositive,
}

/// keygate's verdict on one match, as GitHub expects it back.
#[derive(Serialize, ToSchema)]
pub struct LeakVerdict {
    /// The reported token, as sent.
    #[schema(example = "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2")]
    pub token_raw: String,
    /// The reported `type`, as sent.
    #[schema(example = "keygate_api_key")]
    pub token_type: String,
    /// `true_positive` or `false_positive`.
    pub label: LeakLabel,
}

impl std::fmt::Debug for LeakVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakVerdict")
            .field("token_raw", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("label", &self.label)
            .finish()
    }
}
