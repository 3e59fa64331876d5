//! HTTP handler of `/v1/verify`.

use actix_web::{post, web};
use validator::Validate;

use super::dto::{Verification, VerifyCode, VerifyKey};
use super::TAG;
use crate::auth::{lookup, Caller, Lookup};
use crate::db::now;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::keys::format::{self, KeyKind};
use crate::keys::rights::Role;
use crate::resources::clusters::repo as cluster_repo;
use crate::state::AppState;

/// Verify a key
///
/// Checks a key that one of your callers presented: whether it is valid,
/// and if not why (`MALFORMED`, `NOT_FOUND`, `DISABLED`, `EXPIRED`,
/// `IP_NOT_ALLOWED` when `client_ip` is given, `RATE_LIMITED`,
/// `USAGE_EXCEEDED`). Only keys of the caller's
/// organization are found. A key rotated away but still in its grace period
/// is valid with `status: pending` and `pending_expires_at`, which shows who
/// still uses an old key. Connected clusters' keys (`kg_ck_`, `kg_cs_`) are
/// verified too: `key_kind` says which kind a key is, with its `cluster_id`
/// and, for a service key, its `service`. An API key's `resource_scopes`
/// (when it was created scoped) come back for the data plane to enforce.
///
/// Usage control: a key that is otherwise valid counts `cost` (default 1)
/// against its rate limits and its identity's (only those named in
/// `ratelimits`, when given) and pays it from its credits and its
/// identity's. Over a limit the answer is `RATE_LIMITED`, with each limit's
/// `remaining` and `reset_at`; a balance that cannot pay is
/// `USAGE_EXCEEDED`. A refused verify counts and spends nothing. The key's
/// `identity` (its `external_id` and `metadata`) comes back too. Limits are
/// counted in memory on each node (with N nodes a limit of L per window
/// admits at most N × L); credits are leased from the database in blocks
/// and never overspent.
/// After a key's first check,
/// answers come from memory (at most 1 s stale by default) at a rate that
/// does not depend on how many keys exist. Every verdict is counted, per
/// key and outcome, for `get_verification_analytics`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    request_body(content = VerifyKey, example = json!({"key": "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2", "client_ip": "10.1.2.3", "cost": 1})),
    responses((status = 200, description = "The verdict; `valid` tells whether to accept the key.", body = Verification,
        examples(
            ("current" = (summary = "A valid current key", value = json!({"valid": true, "code": "VALID", "api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_role": "serving", "status": "current", "pending_expires_at": null, "expires_at": null, "key_kind": "api_key", "cluster_id": null, "service": null, "resource_scopes": null, "identity": null, "ratelimits": [], "credits": []}))),
            ("pending" = (summary = "A rotated-away key still in its grace period", value = json!({"valid": true, "code": "VALID", "api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_role": "serving", "status": "pending", "pending_expires_at": "2026-11-30T12:00:00Z", "expires_at": null, "key_kind": "api_key", "cluster_id": null, "service": null, "resource_scopes": null, "identity": null, "ratelimits": [], "credits": []}))),
            ("cluster_service_key" = (summary = "A connected cluster's pending service key", value = json!({"valid": true, "code": "VALID", "api_key_id": null, "api_key_role": null, "status": "pending", "pending_expires_at": "2026-11-30T12:00:00Z", "expires_at": null, "key_kind": "cluster_service_key", "cluster_id": "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "service": "auto_ops", "resource_scopes": null, "identity": null, "ratelimits": [], "credits": []}))),
            ("rate_limited" = (summary = "A key of an identity over its shared limit", value = json!({"valid": false, "code": "RATE_LIMITED", "api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_role": "serving", "status": "current", "pending_expires_at": null, "expires_at": null, "key_kind": "api_key", "cluster_id": null, "service": null, "resource_scopes": null, "identity": {"id": "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "external_id": "customer-42", "name": "Acme Ltd", "metadata": {"plan": "pro"}}, "ratelimits": [{"name": "requests", "scope": "identity", "limit": 10, "duration": 1000, "remaining": 0, "reset_at": "2026-12-01T12:00:01Z", "exceeded": true}], "credits": []}))),
            ("credits" = (summary = "A valid key paying from its credits", value = json!({"valid": true, "code": "VALID", "api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_role": "serving", "status": "current", "pending_expires_at": null, "expires_at": null, "key_kind": "api_key", "cluster_id": null, "service": null, "resource_scopes": null, "identity": null, "ratelimits": [], "credits": [{"scope": "key", "remaining": 99}]}))),
            ("not_found" = (summary = "No such key in this organization", value = json!({"valid": false, "code": "NOT_FOUND", "api_key_id": null, "api_key_role": null, "status": null, "pending_expires_at": null, "expires_at": null, "key_kind": null, "cluster_id": null, "service": null, "resource_scopes": null, "identity": null, "ratelimits": [], "credits": []})))
        )))
)]
#[post("/verify")]
pub async fn verify_key(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<VerifyKey>,
) -> Result<web::Json<Verification>, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    if let Ok(KeyKind::ClusterKey | KeyKind::ClusterServiceKey) = format::parse(&body.key) {
        let found = state
            .caches
            .clusters
            .lookup(&state.db, &body.key, cluster_repo::find_by_secret)
            .await?;
        let verdict = match found {
            Some(record) if record.secret.organization_id == caller.organization_id => {
                Verification::of_cluster(&record, now())
            }
            _ => Verification::unknown(VerifyCode::NotFound),
        };
        return Ok(counted(&state, &caller, verdict));
    }
    let verdict = match lookup(&state, &body.key).await? {
        Lookup::Malformed => Verification::unknown(VerifyCode::Malformed),
        Lookup::Unknown => Verification::unknown(VerifyCode::NotFound),
        Lookup::Found(record) if record.organization_id != caller.organization_id => {
            Verification::unknown(VerifyCode::NotFound)
        }
        Lookup::Found(record) => {
            let at = now();
            let mut verdict = Verification::of(&record, body.client_ip, at);
            if verdict.valid {
                let names = body.ratelimits.as_deref();
                let metered = state
                    .metering
                    .meter(&state.db, &record, names, body.cost(), true, at)
                    .await?;
                verdict = verdict.metered(metered);
                state.last_used.touch(&record.key_id, at.naive_utc());
            }
            verdict
        }
    };
    Ok(counted(&state, &caller, verdict))
}

/// The answer, its outcome counted for analytics (in memory).
fn counted(state: &AppState, caller: &Caller, verdict: Verification) -> web::Json<Verification> {
    let key = verdict.api_key_id.as_deref();
    let identity = verdict.identity.as_ref().map(|i| i.id.as_str());
    let outcome = verdict.code.as_str();
    state
        .analytics
        .note(&caller.organization_id, key, identity, outcome, now());
    web::Json(verdict)
}
