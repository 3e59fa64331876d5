//! `/healthz`, `/readyz` and `/metrics`.

use std::time::Duration;

use actix_web::{get, web, HttpRequest, HttpResponse};
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

/// Metrics
///
/// The node's metrics in Prometheus' text format (0.0.4): requests by
/// operationId and status, their latency, the authentication cache, the
/// invalidations of other nodes' changes and their lag, the database pool
/// and errors, the `last_used_at` backlog, audit write failures and the
/// build. No API key is asked for; with `KEYGATE_METRICS_TOKEN` set, the
/// request must carry `Authorization: Bearer TOKEN` (else 401). The
/// families are listed in docs/OPERATIONS.md, "Metrics".
#[utoipa::path(tag = TAG, responses(
    (status = 200, description = "The metrics, in Prometheus' text format.", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8",
        example = "# HELP keygate_http_requests_total Answered requests by operationId and status.\n# TYPE keygate_http_requests_total counter\nkeygate_http_requests_total{operation=\"verify_key\",status=\"200\"} 1027\n"),
    (status = 401, description = "`KEYGATE_METRICS_TOKEN` is set and the request does not carry it as `Authorization: Bearer`.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
        example = json!(problem_example(401, "unauthorized", "the metrics token is missing or wrong", "/metrics"))),
))]
#[get("/metrics")]
pub async fn get_metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.metrics_token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !token.admits(given) {
            return Err(ApiError::Unauthorized(
                "the metrics token is missing or wrong".into(),
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(state.render_metrics()))
}
