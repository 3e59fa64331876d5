//! The verify request and its answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::fields::present;
use crate::keys::records::{ClusterKeyRecord, KeyRecord, Unusable};
use crate::keys::rights::Role;
use crate::keys::usage::{Metered, Refusal, Scope};
use crate::net::IpAddress;
use crate::resources::clusters::domain::ClusterService;

/// Body of `verify_key`. `Debug` never shows the key.
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyKey {
    /// The key to check, as presented to your service.
    #[validate(length(min = 1, max = 512, message = "must be 1 to 512 characters"))]
    #[schema(
        min_length = 1,
        max_length = 512,
        example = "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2"
    )]
    pub key: String,
    /// The address the key was presented from; when given, the key's
    /// `allowed_cidrs` are checked against it. Cluster and cluster service
    /// keys have no address rules: it does not change their verdict.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub client_ip: Option<IpAddress>,
    /// What this verify costs, 0 to 10,000 (default 1): each applied rate
    /// limit counts it and each credit balance of the key and its identity
    /// pays it. 0 checks the limits without counting.
    #[serde(default, deserialize_with = "crate::fields::present_whole")]
    #[validate(range(min = 0, max = 10000, message = "must be 0 to 10000"))]
    #[schema(nullable = false, minimum = 0, maximum = 10000, example = 1)]
    pub cost: Option<i64>,
    /// The names of the rate limits to apply, of the key's and its
    /// identity's; absent: all of them. A name neither has is not applied.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(max = 40, message = "must name at most 40 limits"))]
    #[schema(nullable = false, max_items = 40, example = json!(["requests"]))]
    pub ratelimits: Option<Vec<String>>,
}

impl VerifyKey {
    /// The cost of this verify.
    pub fn cost(&self) -> i64 {
        self.cost.unwrap_or(1)
    }
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("key", &"<redacted>")
            .field("client_ip", &self.client_ip)
            .field("cost", &self.cost)
            .field("ratelimits", &self.ratelimits)
            .finish()
    }
}

/// The verdict on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// The key works.
    Valid,
    /// Not a keygate key: wrong shape or checksum.
    Malformed,
    /// No such key in the caller's organization.
    NotFound,
    /// The key is disabled.
    Disabled,
    /// The key, or this pending secret of it, has expired.
    Expired,
    /// `client_ip` is outside the key's `allowed_cidrs`.
    IpNotAllowed,
    /// An applied rate limit is exhausted for its window (see
    /// `ratelimits`); nothing was counted or spent.
    RateLimited,
    /// A credit balance of the key or its identity cannot pay the `cost`
    /// (see `credits`); nothing was counted or spent.
    UsageExceeded,
}

impl VerifyCode {
    /// Every code, in the order of the document. Keep it whole: the
    /// analytics filter `outcome` accepts these.
    pub const ALL: [VerifyCode; 8] = [
        VerifyCode::Valid,
        VerifyCode::Malformed,
        VerifyCode::NotFound,
        VerifyCode::Disabled,
        VerifyCode::Expired,
        VerifyCode::IpNotAllowed,
        VerifyCode::RateLimited,
        VerifyCode::UsageExceeded,
    ];

    /// The code named `name`, if any.
    pub fn parse(name: &str) -> Option<VerifyCode> {
        VerifyCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code as it is serialized (`NOT_FOUND`), and as analytics store
    /// it.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "VALID",
            VerifyCode::Malformed => "MALFORMED",
            VerifyCode::NotFound => "NOT_FOUND",
            VerifyCode::Disabled => "DISABLED",
            VerifyCode::Expired => "EXPIRED",
            VerifyCode::IpNotAllowed => "IP_NOT_ALLOWED",
            VerifyCode::RateLimited => "RATE_LIMITED",
            VerifyCode::UsageExceeded => "USAGE_EXCEEDED",
        }
    }
}

/// The identity a verified key belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedIdentity {
    /// `idn_` id.
    #[schema(example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub id: String,
    /// The customer's own id.
    #[schema(example = "customer-42")]
    pub external_id: String,
    /// Display name, or `null`.
    #[schema(required = true, nullable = true, example = "Acme Ltd")]
    pub name: Option<String>,
    /// The identity's metadata, or `null`.
    #[schema(required = true, nullable = true, value_type = Option<std::collections::HashMap<String, serde_json::Value>>, additional_properties = true, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
}

/// One rate limit applied to a verify.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedRateLimit {
    /// The limit's name.
    #[schema(example = "requests")]
    pub name: String,
    /// `key` (the key's own) or `identity` (shared by the identity's keys).
    pub scope: Scope,
    /// Units allowed per window.
    #[schema(example = 10)]
    pub limit: i64,
    /// The window in milliseconds.
    #[schema(example = 1000)]
    pub duration: i64,
    /// Units left in the current window after this verify.
    #[schema(example = 9)]
    pub remaining: i64,
    /// When the current window ends.
    pub reset_at: DateTime<Utc>,
    /// Whether this verify was over the limit.
    pub exceeded: bool,
}

/// A credit balance a verify paid from.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpentCredits {
    /// `key` or `identity`.
    pub scope: Scope,
    /// Credits left after this verify, as the answering node knows them.
    #[schema(example = 99)]
    pub remaining: i64,
}

/// Whether a verified key is the key's current secret or a rotated-away one
/// still in its grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The secret the key was last issued or rotated to.
    Current,
    /// A previous secret, working until `pending_expires_at`.
    Pending,
}

/// What kind of key was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedKeyKind {
    /// A keygate API key (`kg_ak_`).
    ApiKey,
    /// A connected cluster's key (`kg_ck_`).
    ClusterKey,
    /// A connected cluster's per-service key (`kg_cs_`).
    ClusterServiceKey,
}

/// The answer of `verify_key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// Whether the key may be accepted (`code` is `VALID`).
    pub valid: bool,
    /// Why, in one word.
    pub code: VerifyCode,
    /// The key's id, when the key was found.
    #[schema(
        required = true,
        nullable = true,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub api_key_id: Option<String>,
    /// The key's role, when found.
    #[schema(required = true, nullable = true)]
    pub api_key_role: Option<Role>,
    /// `current` or `pending`, when found.
    #[schema(required = true, nullable = true)]
    pub status: Option<KeyStatus>,
    /// When a pending key stops working; `null` for a current key.
    #[schema(required = true, nullable = true)]
    pub pending_expires_at: Option<DateTime<Utc>>,
    /// When the key itself expires, if ever.
    #[schema(required = true, nullable = true)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `api_key`, `cluster_key` or `cluster_service_key`, when found.
    #[schema(required = true, nullable = true)]
    pub key_kind: Option<VerifiedKeyKind>,
    /// The connected cluster a cluster or cluster service key belongs to;
    /// `null` for API keys.
    #[schema(
        required = true,
        nullable = true,
        pattern = "^[a-z0-9]{32}$",
        example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub cluster_id: Option<String>,
    /// The service a cluster service key is for; `null` otherwise.
    #[schema(required = true, nullable = true)]
    pub service: Option<ClusterService>,
    /// The API key's resource scopes, for the data plane to enforce;
    /// `null` when it is not scoped (or not found).
    #[schema(required = true, nullable = true, example = json!(["docs", "faq"]))]
    pub resource_scopes: Option<Vec<String>>,
    /// The identity the API key belongs to, or `null`.
    #[schema(required = true, nullable = true)]
    pub identity: Option<VerifiedIdentity>,
    /// The rate limits applied to a key that is otherwise valid, with what
    /// is left of each; empty when none apply.
    pub ratelimits: Vec<AppliedRateLimit>,
    /// The credit balances paid from (the key's, its identity's); empty
    /// when the key and its identity are unlimited.
    pub credits: Vec<SpentCredits>,
}

fn status_of(secret: &crate::keys::model::KeySecretRow) -> KeyStatus {
    if secret.is_pending() {
        KeyStatus::Pending
    } else {
        KeyStatus::Current
    }
}

impl Verification {
    /// The verdict on a key that was not found (or is malformed).
    pub fn unknown(code: VerifyCode) -> Verification {
        Verification {
            valid: false,
            code,
            api_key_id: None,
            api_key_role: None,
            status: None,
            pending_expires_at: None,
            expires_at: None,
            key_kind: None,
            cluster_id: None,
            service: None,
            resource_scopes: None,
            identity: None,
            ratelimits: Vec::new(),
            credits: Vec::new(),
        }
    }

    /// Adds what usage control said of a valid key; a refusal makes the
    /// verdict invalid.
    pub fn metered(mut self, metered: Metered) -> Verification {
        match metered.refusal {
            Some(Refusal::RateLimited) => self.code = VerifyCode::RateLimited,
            Some(Refusal::UsageExceeded) => self.code = VerifyCode::UsageExceeded,
            None => {}
        }
        self.valid = self.code == VerifyCode::Valid;
        self.ratelimits = metered
            .ratelimits
            .into_iter()
            .map(|l| AppliedRateLimit {
                reset_at: l.reset_at(),
                name: l.name,
                scope: l.scope,
                limit: l.limit,
                duration: l.duration,
                remaining: l.remaining,
                exceeded: l.exceeded,
            })
            .collect();
        self.credits = metered
            .credits
            .into_iter()
            .map(|c| SpentCredits {
                scope: c.scope,
                remaining: c.remaining,
            })
            .collect();
        self
    }

    /// The verdict on a found key of the caller's organization.
    pub fn of(record: &KeyRecord, client_ip: Option<IpAddress>, at: DateTime<Utc>) -> Verification {
        let code = match record.ensure_usable(at) {
            Err(Unusable::Disabled) => VerifyCode::Disabled,
            Err(Unusable::Expired) => VerifyCode::Expired,
            Ok(()) if client_ip.is_some_and(|ip| !record.rights.allows_ip(ip.0.to_canonical())) => {
                VerifyCode::IpNotAllowed
            }
            Ok(()) => VerifyCode::Valid,
        };
        Verification {
            valid: code == VerifyCode::Valid,
            code,
            api_key_id: Some(record.key_id.clone()),
            api_key_role: Some(record.rights.role),
            status: Some(status_of(&record.secret)),
            pending_expires_at: record.secret.pending_expires_at.map(|t| t.and_utc()),
            expires_at: record.rights.expires_at,
            key_kind: Some(VerifiedKeyKind::ApiKey),
            cluster_id: None,
            service: None,
            resource_scopes: record.rights.resource_scopes.clone(),
            identity: record.usage.identity.as_ref().map(|i| VerifiedIdentity {
                id: i.id.clone(),
                external_id: i.external_id.clone(),
                name: i.name.clone(),
                metadata: i.metadata.clone(),
            }),
            ratelimits: Vec::new(),
            credits: Vec::new(),
        }
    }

    /// The verdict on a found cluster or cluster service key of the
    /// caller's organization: valid unless it is a pending key past its
    /// grace. Cluster keys have no role, expiry or address rules.
    pub fn of_cluster(record: &ClusterKeyRecord, at: DateTime<Utc>) -> Verification {
        let code = if record.secret.has_ended(at) {
            VerifyCode::Expired
        } else {
            VerifyCode::Valid
        };
        Verification {
            valid: code == VerifyCode::Valid,
            code,
            api_key_id: None,
            api_key_role: None,
            status: Some(status_of(&record.secret)),
            pending_expires_at: record.secret.pending_expires_at.map(|t| t.and_utc()),
            expires_at: None,
            key_kind: Some(if record.service.is_some() {
                VerifiedKeyKind::ClusterServiceKey
            } else {
                VerifiedKeyKind::ClusterKey
            }),
            cluster_id: Some(record.cluster_id.clone()),
            service: record.service.as_deref().and_then(ClusterService::parse),
            resource_scopes: None,
            identity: None,
            ratelimits: Vec::new(),
            credits: Vec::new(),
        }
    }
}
