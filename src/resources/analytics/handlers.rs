//! HTTP handler of `/v1/analytics/verifications`.

use actix_web::{get, web};

use super::dto::{AnalyticsQuery, VerificationAnalytics};
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::params::Query;
use crate::keys::rights::Role;
use crate::state::AppState;

/// Count verifications
///
/// How many `verify_key` calls of the caller's organization ended in each
/// outcome, by time bucket (`minute`, `hour` or UTC `day`), optionally
/// split by API key, identity and outcome (`group_by=key,outcome`) and
/// filtered to one key, identity or outcome. Every verdict is counted,
/// `VALID` or not; verifies that found no API key (malformed or unknown
/// keys, connected clusters' keys) count under `api_key_id: null`. Counts
/// are written every second (`KEYGATE_ANALYTICS_FLUSH_MS`), so the last
/// second's verifies may not show yet, and kept for 90 days
/// (`KEYGATE_ANALYTICS_RETENTION_DAYS`). The range is `[start, end)`: a
/// minute counts when it starts inside it; buckets without verifies are
/// absent.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "The counts, by bucket.", body = VerificationAnalytics,
            examples(
                ("by_outcome" = (summary = "Hourly, by outcome", value = json!({"bucket": "hour", "start": "2026-12-04T00:00:00Z", "end": "2026-12-05T00:00:00Z", "group_by": ["outcome"], "data": [{"time": "2026-12-04T10:00:00Z", "outcome": "NOT_FOUND", "count": 3}, {"time": "2026-12-04T10:00:00Z", "outcome": "VALID", "count": 42}, {"time": "2026-12-04T11:00:00Z", "outcome": "VALID", "count": 17}]}))),
                ("by_key" = (summary = "Daily, by key; null: no key was found", value = json!({"bucket": "day", "start": "2026-12-01T00:00:00Z", "end": "2026-12-08T00:00:00Z", "group_by": ["key"], "data": [{"time": "2026-12-04T00:00:00Z", "api_key_id": null, "count": 3}, {"time": "2026-12-04T00:00:00Z", "api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "count": 59}]}))),
                ("totals" = (summary = "By minute, one key's valid verifies", value = json!({"bucket": "minute", "start": "2026-12-04T10:00:00Z", "end": "2026-12-04T10:05:00Z", "group_by": [], "data": [{"time": "2026-12-04T10:01:00Z", "count": 12}, {"time": "2026-12-04T10:02:00Z", "count": 5}]})))
            )),
        (status = 400, description = "A query parameter is missing or invalid (`invalid_query_parameter`: `start` or `end` not RFC 3339, an unknown `bucket`, `group_by` name or `outcome`), or the range breaks a rule (`validation_failed`: `end` not later than `start`, or farther from it than 24 hours with `bucket=minute`, 31 days with `hour`, 366 days with `day`); `errors` names the parameter.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            examples(
                ("bucket" = (summary = "An unknown bucket", value = json!({"type": "urn:keygate:problem:invalid_query_parameter", "title": "Bad Request", "status": 400, "detail": "bucket: must be one of `minute`, `hour`, `day`", "instance": "/v1/analytics/verifications", "code": "invalid_query_parameter", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "bucket", "code": "invalid_value", "message": "must be one of `minute`, `hour`, `day`"}]}))),
                ("start_missing" = (summary = "No start", value = json!({"type": "urn:keygate:problem:invalid_query_parameter", "title": "Bad Request", "status": 400, "detail": "start: is required", "instance": "/v1/analytics/verifications", "code": "invalid_query_parameter", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "start", "code": "required", "message": "is required"}]}))),
                ("group_by" = (summary = "An unknown group_by name", value = json!({"type": "urn:keygate:problem:invalid_query_parameter", "title": "Bad Request", "status": 400, "detail": "group_by: must be key, identity and outcome, comma-separated, each at most once", "instance": "/v1/analytics/verifications", "code": "invalid_query_parameter", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "group_by", "code": "invalid_value", "message": "must be key, identity and outcome, comma-separated, each at most once"}]}))),
                ("end_before_start" = (summary = "end not later than start", value = json!({"type": "urn:keygate:problem:validation_failed", "title": "Bad Request", "status": 400, "detail": "end: must be later than start", "instance": "/v1/analytics/verifications", "code": "validation_failed", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "end", "code": "range", "message": "must be later than start"}]}))),
                ("range_too_long" = (summary = "More than a day of minutes", value = json!({"type": "urn:keygate:problem:validation_failed", "title": "Bad Request", "status": 400, "detail": "end: must be at most 24 hours after start with bucket=minute", "instance": "/v1/analytics/verifications", "code": "validation_failed", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "end", "code": "range", "message": "must be at most 24 hours after start with bucket=minute"}]})))
            ))
    )
)]
#[get("/analytics/verifications")]
pub async fn get_verification_analytics(
    caller: Caller,
    state: web::Data<AppState>,
    query: Query<AnalyticsQuery>,
) -> Result<web::Json<VerificationAnalytics>, ApiError> {
    let checked = query.into_inner().check()?;
    let count_query = checked.count_query();
    let org = caller.organization_id;
    let rows = state
        .db
        .read(move |conn| Ok(repo::counts(conn, &org, &count_query)?))
        .await?;
    Ok(web::Json(VerificationAnalytics::of(checked, rows)))
}
