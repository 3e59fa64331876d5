//! `Request-Timeout` (seconds) and `Request-Timeout-Millis`: the caller's
//! budget for one request, within keygate's default request deadline
//! (`KEYGATE_REQUEST_DEADLINE_MS`, app data [`DefaultDeadline`]). The
//! middleware parses the headers (bad values are 400) and runs every request
//! with the shorter of the two as its deadline (`db::deadline`); `Db` reads
//! it: a read stops waiting at the deadline, a write is rolled back when the
//! deadline passed before it committed (504 for the caller's budget, 503 for
//! keygate's own), and a write that committed is answered as done.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::middleware::Next;

use crate::db::deadline::{within_deadline, Deadline};
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

/// keygate's own bound on every request (`KEYGATE_REQUEST_DEADLINE_MS`), as
/// app data: a caller's longer `Request-Timeout` is cut to it.
#[derive(Debug, Clone, Copy)]
pub struct DefaultDeadline(pub Duration);

/// The deadline of a request with this caller budget: the caller's when it
/// is the shorter, else keygate's default (none without one).
pub fn deadline_of(caller: Option<Duration>, default: Option<Duration>) -> Option<Deadline> {
    match (caller, default) {
        (Some(caller), Some(default)) if default <= caller => Some(Deadline::after(default, false)),
        (Some(caller), _) => Some(Deadline::after(caller, true)),
        (None, default) => default.map(|d| Deadline::after(d, false)),
    }
}

/// The middleware function; wrap the app with `from_fn(request_timeout)`.
pub async fn request_timeout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let default = req.app_data::<DefaultDeadline>().map(|d| d.0);
    match budget(req.headers()) {
        Err(err) => Ok(req.error_response(err)),
        Ok(caller) => match deadline_of(caller, default) {
            None => Ok(next.call(req).await?.map_into_boxed_body()),
            Some(deadline) => {
                let res = within_deadline(deadline, next.call(req)).await?;
                Ok(res.map_into_boxed_body())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_of_the_callers_budget_and_the_default_is_the_deadline() {
        let s = Duration::from_secs;
        let caller = deadline_of(Some(s(1)), Some(s(5))).unwrap();
        assert!(caller.by_caller);
        assert!(caller.remaining() <= s(1));
        let cut = deadline_of(Some(s(60)), Some(s(5))).unwrap();
        assert!(
            !cut.by_caller,
            "a longer Request-Timeout is cut to keygate's own"
        );
        assert!(cut.remaining() <= s(5));
        assert!(!deadline_of(None, Some(s(5))).unwrap().by_caller);
        assert!(deadline_of(Some(s(60)), None).unwrap().by_caller);
        assert!(deadline_of(None, None).is_none());
        assert_eq!(cut.ran_out().status().as_u16(), 503);
        assert_eq!(caller.ran_out().status().as_u16(), 504);
    }
}
