//! Request metrics: every answer counts in
//! `keygate_http_requests_total{operation, status}` and its time in
//! `keygate_http_request_duration_seconds{operation}` (`crate::metrics`).
//! The operationId is the one authentication found for the request
//! ([`Addressed`]); a path no document has counts as `unmatched`, so the
//! labels stay a bounded set.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::metrics::metrics;
use crate::routes::Addressed;

/// The operation label of a request no documented operation matched.
pub const UNMATCHED: &str = "unmatched";

/// Counts and times each answer (middleware).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let res = next.call(req).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let extensions = res.request().extensions();
    let operation = extensions
        .get::<Addressed>()
        .map_or(UNMATCHED, |a| a.0.as_str());
    let m = metrics();
    m.requests
        .with_label_values(&[operation, res.status().as_str()])
        .inc();
    m.request_duration
        .with_label_values(&[operation])
        .observe(elapsed);
    drop(extensions);
    Ok(res)
}
