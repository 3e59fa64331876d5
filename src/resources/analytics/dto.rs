//! The query of verification analytics, its rules, and the answer.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::repo::{BucketRow, CountQuery};
use crate::error::{ApiError, FieldError};
use crate::keys::analytics::NONE;
use crate::resources::verify::dto::VerifyCode;

/// How long a time bucket is. Buckets are aligned to UTC: a minute starts
/// at second 0, an hour at minute 0, a day at 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One minute; `end` at most 24 hours after `start`.
    Minute,
    /// One hour; `end` at most 31 days after `start`.
    Hour,
    /// One UTC day; `end` at most 366 days after `start`.
    Day,
}

impl Bucket {
    /// Its length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3_600,
            Bucket::Day => 86_400,
        }
    }

    /// The longest range a query may ask for in these buckets: a day of
    /// minutes, a month of hours, a year of days (at most 1,440 buckets a
    /// series).
    fn longest_range(self) -> (Duration, &'static str) {
        match self {
            Bucket::Minute => (Duration::hours(24), "24 hours"),
            Bucket::Hour => (Duration::days(31), "31 days"),
            Bucket::Day => (Duration::days(366), "366 days"),
        }
    }
}

/// What counts are split by besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The verified API key (`api_key_id`).
    Key,
    /// The key's identity (`identity_id`).
    Identity,
    /// The verdict's code (`outcome`).
    Outcome,
}

impl GroupBy {
    fn parse(name: &str) -> Option<GroupBy> {
        match name {
            "key" => Some(GroupBy::Key),
            "identity" => Some(GroupBy::Identity),
            "outcome" => Some(GroupBy::Outcome),
            _ => None,
        }
    }
}

/// The query of `get_verification_analytics`.
#[derive(Debug, Clone, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start of the range, RFC 3339 (write `+` as `%2B`, or use `Z`):
    /// minutes that start at or after it are counted.
    #[param(example = "2026-12-04T00:00:00Z")]
    pub start: DateTime<Utc>,
    /// End of the range, RFC 3339, later than `start`: minutes that start
    /// before it are counted. At most 24 hours after `start` with `bucket=minute`,
    /// 31 days with `hour`, 366 days with `day`.
    #[param(example = "2026-12-05T00:00:00Z")]
    pub end: DateTime<Utc>,
    /// Bucket size: `minute`, `hour` or `day` (UTC days).
    #[param(default = "hour", example = "hour")]
    pub bucket: Option<Bucket>,
    /// What to split the counts by besides time: `key`, `identity` and
    /// `outcome`, comma-separated, each at most once (`key,outcome`). Absent:
    /// one total a bucket. The pattern lists every such list, so it admits
    /// exactly what the server does.
    #[param(
        pattern = "^(key|identity|outcome|key,identity|key,outcome|identity,key|identity,outcome|outcome,key|outcome,identity|key,identity,outcome|key,outcome,identity|identity,key,outcome|identity,outcome,key|outcome,key,identity|outcome,identity,key)$",
        example = "key,outcome"
    )]
    pub group_by: Option<String>,
    /// Only verifies of this API key.
    #[param(
        min_length = 1,
        max_length = 100,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub api_key_id: Option<String>,
    /// Only verifies of keys of this identity.
    #[param(
        min_length = 1,
        max_length = 100,
        example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    #[validate(length(min = 1, max = 100, message = "must be 1 to 100 characters"))]
    pub identity_id: Option<String>,
    /// Only verifies with this verdict.
    #[param(value_type = Option<VerifyCode>, example = "VALID")]
    pub outcome: Option<String>,
}

/// A checked query: what the repo is asked and what the answer echoes.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The bucket size.
    pub bucket: Bucket,
    /// What the counts are split by, in the order asked.
    pub group_by: Vec<GroupBy>,
    /// The query as given.
    pub query: AnalyticsQuery,
}

impl AnalyticsQuery {
    /// Checks the rules the types do not: lengths, `end` after `start`
    /// within the bucket's longest range, `group_by`'s names, `outcome`.
    pub fn check(self) -> Result<Checked, ApiError> {
        self.validate()?;
        let bucket = self.bucket.unwrap_or(Bucket::Hour);
        let mut group_by = Vec::new();
        if let Some(text) = &self.group_by {
            for name in text.split(',') {
                match GroupBy::parse(name) {
                    Some(g) if !group_by.contains(&g) => group_by.push(g),
                    _ => {
                        return Err(ApiError::invalid_input(
                            "invalid_query_parameter",
                            "group_by",
                            "invalid_value",
                            "must be key, identity and outcome, comma-separated, each at most once",
                        ))
                    }
                }
            }
        }
        if let Some(outcome) = &self.outcome {
            if VerifyCode::parse(outcome).is_none() {
                let names: Vec<&str> = VerifyCode::ALL.iter().map(|c| c.as_str()).collect();
                return Err(ApiError::invalid_input(
                    "invalid_query_parameter",
                    "outcome",
                    "invalid_value",
                    format!("must be one of {}", names.join(", ")),
                ));
            }
        }
        let (longest, longest_text) = bucket.longest_range();
        if self.end <= self.start {
            return Err(ApiError::invalid_fields(vec![FieldError::new(
                "end",
                "range",
                "must be later than start",
            )]));
        }
        if self.end - self.start > longest {
            return Err(ApiError::invalid_fields(vec![FieldError::new(
                "end",
                "range",
                format!(
                    "must be at most {longest_text} after start with bucket={}",
                    bucket.name()
                ),
            )]));
        }
        Ok(Checked {
            bucket,
            group_by,
            query: self,
        })
    }
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// The first whole second at or after `t`: minutes start on whole seconds,
/// so a minute starts at or after `t` exactly when it does at or after this.
fn whole_second_from(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

impl Checked {
    /// What the repo is asked.
    pub fn count_query(&self) -> CountQuery {
        CountQuery {
            start: whole_second_from(self.query.start),
            end: whole_second_from(self.query.end),
            bucket_seconds: self.bucket.seconds(),
            by_key: self.group_by.contains(&GroupBy::Key),
            by_identity: self.group_by.contains(&GroupBy::Identity),
            by_outcome: self.group_by.contains(&GroupBy::Outcome),
            api_key_id: self.query.api_key_id.clone(),
            identity_id: self.query.identity_id.clone(),
            outcome: self.query.outcome.clone(),
        }
    }
}

/// The answer of `get_verification_analytics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationAnalytics {
    /// The bucket size.
    pub bucket: Bucket,
    /// The range's start, as asked.
    #[schema(example = "2026-12-04T00:00:00Z")]
    pub start: DateTime<Utc>,
    /// The range's end, as asked.
    #[schema(example = "2026-12-05T00:00:00Z")]
    pub end: DateTime<Utc>,
    /// What the counts are split by besides time, as asked; `[]`: one
    /// total a bucket.
    pub group_by: Vec<GroupBy>,
    /// The buckets that counted at least one verify, by `time`, then by
    /// `api_key_id`, `identity_id` and `outcome`; a bucket without any is
    /// absent. The first and last bucket count only the minutes inside the
    /// range.
    pub data: Vec<VerificationCount>,
}

/// The verifies of one bucket (and, when grouped, of one key, identity or
/// outcome).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationCount {
    /// The bucket's start (UTC).
    #[schema(example = "2026-12-04T10:00:00Z")]
    pub time: DateTime<Utc>,
    /// With `group_by` `key` only: the verified key's id, or `null` for
    /// verifies that found no API key (a malformed or unknown key, or a
    /// connected cluster's key). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        value_type = Option<String>,
        nullable = true,
        example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub api_key_id: Option<Option<String>>,
    /// With `group_by` `identity` only: the key's identity, or `null` for
    /// verifies of no key or of a key without an identity. Absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        value_type = Option<String>,
        nullable = true,
        example = "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub identity_id: Option<Option<String>>,
    /// With `group_by` `outcome` only: the verdict's code. Absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<VerifyCode>, nullable = false)]
    pub outcome: Option<String>,
    /// How many verifies.
    #[schema(minimum = 1, example = 42)]
    pub count: i64,
}

fn none_if_empty(value: String) -> Option<String> {
    Some(value).filter(|v| v != NONE)
}

impl VerificationAnalytics {
    /// The answer of a checked query from its rows.
    pub fn of(checked: Checked, rows: Vec<BucketRow>) -> VerificationAnalytics {
        let grouped = |g: GroupBy| checked.group_by.contains(&g);
        let (by_key, by_identity, by_outcome) = (
            grouped(GroupBy::Key),
            grouped(GroupBy::Identity),
            grouped(GroupBy::Outcome),
        );
        let data = rows
            .into_iter()
            .map(|row| VerificationCount {
                time: DateTime::from_timestamp(row.bucket_start, 0).unwrap_or_default(),
                api_key_id: by_key.then(|| none_if_empty(row.api_key_id)),
                identity_id: by_identity.then(|| none_if_empty(row.identity_id)),
                outcome: by_outcome.then_some(row.outcome),
                count: row.count,
            })
            .collect();
        VerificationAnalytics {
            bucket: checked.bucket,
            start: checked.query.start,
            end: checked.query.end,
            group_by: checked.group_by,
            data,
        }
    }
}
