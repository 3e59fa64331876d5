//! `/healthz` and `/readyz`.

use std::time::Duration;

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::TAG;
use crate::db::deadline::{current_deadline, within_deadline, Deadline};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest `/readyz` waits for the database before it answers 503: a
/// readiness probe that outlasts the prober's own timeout says nothing.
pub const READINESS_BOUND: Duration = Duration::from_secs(2);

/// Health of the process or of its database.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the answer is 200.
    #[schema(example = "ok")]
    pub status: String,
}

fn ok() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".to_owned(),
    })
}

/// Liveness
///
/// 200 while the process runs; touches nothing else.
#[utoipa::path(tag = TAG, responses((status = 200, description = "The process is up.", body = Health)))]
#[get("/healthz")]
pub async fn get_health() -> web::Json<Health> {
    ok()
}

/// Readiness
///
/// 200 when the database answers, 503 when it does not, within 2 seconds
/// (or the request's shorter `Request-Timeout`, then 504) even when the
/// database holds the connection open without answering.
#[utoipa::path(tag = TAG, responses(
    (status = 200, description = "The database answers.", body = Health),
    (status = 503, description = "The database does not answer within 2 seconds.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    let bound = Deadline::after(READINESS_BOUND, false);
    let deadline = current_deadline()
        .filter(|d| d.at <= bound.at)
        .unwrap_or(bound);
    within_deadline(deadline, state.db.ping()).await?;
    Ok(ok())
}
