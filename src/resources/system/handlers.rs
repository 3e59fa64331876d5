//! `/healthz` and `/readyz`.

use std::time::Duration;

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::TAG;
use crate::db::deadline::{current_deadline, within_deadline, Deadline};
use crate::error::ApiError;
use crate::http::problem::problem_example;
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

/// Whether secret values can be stored and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretsState {
    /// A master key is configured.
    Available,
    /// No master key is configured: operations that store or read secret
    /// values answer 503 `master_key_missing`.
    MasterKeyMissing,
}

/// Readiness: the database answers; and whether secrets can be sealed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ok` when the answer is 200.
    #[schema(example = "ok")]
    pub status: String,
    /// Whether secret values (connector secrets, proxy secret keys, provider
    /// credentials) can be stored and read.
    #[schema(example = "available")]
    pub secrets: SecretsState,
    /// What an operator should do, when `secrets` is not `available`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Readiness
///
/// 200 when the database answers, 503 when it does not, within 2 seconds
/// (or the request's shorter `Request-Timeout`, then 504) even when the
/// database holds the connection open without answering. A server without a
/// master key is still ready (it serves keys, verification and every
/// resource without a secret value): the answer says so in `secrets` and
/// `detail`, so that a load balancer keeps it while an operator sees it.
#[utoipa::path(tag = TAG, responses(
    (status = 200, description = "The database answers.", body = Readiness,
        example = json!({"status": "ok", "secrets": "available"})),
    (status = 503, description = "The database does not answer within 2 seconds.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
        example = json!(problem_example(503, "service_unavailable", "the database is unavailable", "/readyz"))),
))]
#[get("/readyz")]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    let bound = Deadline::after(READINESS_BOUND, false);
    let deadline = current_deadline()
        .filter(|d| d.at <= bound.at)
        .unwrap_or(bound);
    within_deadline(deadline, state.db.ping()).await?;
    let (secrets, detail) = match state.vault() {
        Ok(_) => (SecretsState::Available, None),
        Err(missing) => (SecretsState::MasterKeyMissing, Some(missing.to_string())),
    };
    Ok(web::Json(Readiness {
        status: "ok".to_owned(),
        secrets,
        detail,
    }))
}
