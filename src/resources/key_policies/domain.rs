//! The rules of an organization's key policy: what a leak report does, and
//! how long an API key may live. One place, so that create, update, rotate
//! and the `violates_policy` filter agree.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::KeyPolicyRow;
use crate::error::ApiError;

/// What a leak report does to a reported key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LeakResponse {
    /// An API key is disabled (`enabled: false`): it stops authenticating at
    /// once, keeps its id and settings, and can be rotated and enabled again.
    #[default]
    Disable,
    /// The reported secret is deleted for good; the key (or cluster) keeps
    /// its other secrets and can be rotated to a new one.
    Revoke,
}

impl LeakResponse {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeakResponse::Disable => "disable",
            LeakResponse::Revoke => "revoke",
        }
    }

    /// The stored name back; an unknown one is the default.
    pub fn parse(text: &str) -> LeakResponse {
        if text == "revoke" {
            LeakResponse::Revoke
        } else {
            LeakResponse::Disable
        }
    }
}

/// The error code of a key refused by its organization's policy.
pub const POLICY_VIOLATION: &str = "key_policy_violation";

/// An organization's key policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyPolicy {
    /// What a leak report does.
    pub leak_response: LeakResponse,
    /// Longest lifetime an API key may be given, counted from the change
    /// that gives it (create, update of `expires_at`, rotate).
    pub max_key_lifetime_seconds: Option<i64>,
    /// Whether every API key needs an `expires_at`.
    pub require_expiry: bool,
}

impl KeyPolicy {
    /// The policy a stored row says.
    pub fn from_row(row: &KeyPolicyRow) -> KeyPolicy {
        KeyPolicy {
            leak_response: LeakResponse::parse(&row.leak_response),
            max_key_lifetime_seconds: row.max_key_lifetime_seconds,
            require_expiry: row.require_expiry,
        }
    }

    /// Whether an expiry breaks the lifetime rules at `at`: none where one is
    /// required (a maximum lifetime requires one too), or later than the
    /// maximum from `at`. The error names the rule; `field` is where the
    /// caller set it (`expires_at`).
    pub fn check_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
        field: &str,
    ) -> Result<(), ApiError> {
        match (expires_at, self.max_key_lifetime_seconds) {
            (None, Some(max)) => Err(violation(
                field,
                "required",
                format!(
                    "the organization's key policy (max_key_lifetime_seconds: {max}) requires expires_at"
                ),
            )),
            (None, None) if self.require_expiry => Err(violation(
                field,
                "required",
                "the organization's key policy (require_expiry) requires expires_at".to_owned(),
            )),
            (Some(t), Some(max)) if t > at + Duration::seconds(max) => Err(violation(
                field,
                "too_far",
                format!(
                    "the organization's key policy (max_key_lifetime_seconds: {max}) allows an expires_at at most {max} seconds from now"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Whether a key with this expiry breaks the policy now.
    pub fn is_violated_by(&self, expires_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
        self.check_expiry(expires_at, at, "expires_at").is_err()
    }
}

fn violation(field: &str, code: &str, message: String) -> ApiError {
    ApiError::invalid_input(POLICY_VIOLATION, field, code, message)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use crate::resources::key_policies::domain::KeyPolicy;

    #[test]
    fn a_ninety_day_policy_refuses_a_hundred_day_key() {
        let policy = KeyPolicy {
            max_key_lifetime_seconds: Some(90 * 86_400),
            ..KeyPolicy::default()
        };
        let now = Utc::now();
        assert!(policy
            .check_expiry(Some(now + Duration::days(100)), now, "expires_at")
            .is_err());
        assert!(policy
            .check_expiry(Some(now + Duration::days(89)), now, "expires_at")
            .is_ok());
        assert!(
            policy.is_violated_by(None, now),
            "a limit requires an expiry"
        );
    }

    #[test]
    fn require_expiry_alone_accepts_any_expiry() {
        let policy = KeyPolicy {
            require_expiry: true,
            ..KeyPolicy::default()
        };
        let now = Utc::now();
        assert!(policy.is_violated_by(None, now));
        assert!(!policy.is_violated_by(Some(now + Duration::days(9_000)), now));
        assert!(!KeyPolicy::default().is_violated_by(None, now));
    }
}
