//! `Request-Timeout` (seconds) and `Request-Timeout-Millis`: the caller's
//! budget for one request. The middleware parses the headers (bad values are
//! 400) and runs the request with its deadline (`db::deadline`); `Db` reads
//! it, stops waiting at the deadline with 504, and rolls back a write that
//! would commit after it.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;

use crate::db::deadline::within_deadline;
use crate::error::ApiError;

/// Budget in whole seconds.
pub const REQUEST_TIMEOUT: &str = "request-timeout";
/// Budget in milliseconds.
pub const REQUEST_TIMEOUT_MILLIS: &str = "request-timeout-millis";

fn parse_one(
    headers: &HeaderMap,
    name: &str,
    unit: Duration,
    max: u64,
) -> Result<Option<Duration>, ApiError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let n = value
        .to_str()
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_field(
                name_of(name),
                "invalid_header",
                format!("must be a whole number from 1 to {max}"),
            )
        })?;
    Ok(Some(
        unit.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)),
    ))
}

fn name_of(header: &str) -> &'static str {
    if header == REQUEST_TIMEOUT {
        "Request-Timeout"
    } else {
        "Request-Timeout-Millis"
    }
}

/// The budget the headers give (the smaller when both are present).
pub fn budget(headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
    // At most one day either way.
    let seconds = parse_one(headers, REQUEST_TIMEOUT, Duration::from_secs(1), 86_400)?;
    let millis = parse_one(
        headers,
        REQUEST_TIMEOUT_MILLIS,
        Duration::from_millis(1),
        86_400_000,
    )?;
    Ok(match (seconds, millis) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The middleware function; wrap the app with `from_fn(request_timeout)`.
pub async fn request_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match budget(req.headers()) {
        Err(err) => Ok(req.error_response(err)),
        Ok(None) => Ok(next.call(req).await?.map_into_boxed_body()),
        Ok(Some(budget)) => {
            let deadline = Instant::now() + budget;
            let res = within_deadline(deadline, next.call(req)).await?;
            Ok(res.map_into_boxed_body())
        }
    }
}
