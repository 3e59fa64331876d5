//! `/healthz` and `/readyz`.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::TAG;
use crate::error::ApiError;
use crate::state::AppState;

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
/// 200 when the database answers, 503 when it does not.
#[utoipa::path(tag = TAG, responses(
    (status = 200, description = "The database answers.", body = Health),
    (status = 503, description = "The database does not answer.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    state.db.ping().await?;
    Ok(ok())
}
