//! HTTP handlers of `/v1/organizations/{organization_id}/key_policy`.

use actix_web::{get, patch, web, HttpResponse};

use super::dto::{KeyPolicyView, UpdateKeyPolicy};
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::params::Path;
use crate::keys::rights::Role;
use crate::resources::organizations::dto::OrganizationPath;
use crate::resources::organizations::repo::ensure_visible;
use crate::state::AppState;

fn respond(row: &super::model::KeyPolicyRow) -> HttpResponse {
    json_with_etag(&row.etag(), &KeyPolicyView::from(row))
}

/// Get an organization's key policy
///
/// What a GitHub secret scanning alert does to a reported key of the
/// organization (`leak_response`), and the lifetime rules its API keys are
/// created, updated and rotated under. An organization that never changed
/// it has the defaults: `disable`, no limit, expiry optional. The caller's
/// own organization; the operator (a `personal` key of the first
/// organization) sees any.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal))),
    params(OrganizationPath),
    responses((status = 200, description = "The key policy.", body = KeyPolicyView,
        headers(("ETag" = String, description = "Version of the policy, for `If-Match`.")),
        example = json!({"organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "leak_response": "disable", "max_key_lifetime_seconds": 7_776_000, "require_expiry": true, "updated_at": "2026-12-02T03:00:00Z"})))
)]
#[get("/organizations/{organization_id}/key_policy")]
pub async fn get_key_policy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let row = state
        .db
        .read(move |conn| {
            ensure_visible(conn, &caller.organization_id, caller.rights.role, &id, true)?;
            repo::row(conn, &id)
        })
        .await?;
    Ok(respond(&row))
}

/// Change an organization's key policy
///
/// Changes only the fields present. `max_key_lifetime_seconds` (60 to
/// 315,360,000, or `null` for no limit) bounds how far ahead `expires_at`
/// may be when a key is created, its `expires_at` changed, or it is rotated;
/// a limit also requires an `expires_at`, as `require_expiry` does alone.
/// A key that breaks the rule is refused with 400 `key_policy_violation`
/// naming it. Keys made before a stricter policy keep working: list them
/// with `GET /v1/api_keys?violates_policy=true`. With `If-Match`, a policy
/// changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("key_policy"))),
    params(OrganizationPath, IfMatch),
    request_body(content = UpdateKeyPolicy, example = json!({"max_key_lifetime_seconds": 7_776_000, "require_expiry": true, "leak_response": "revoke"})),
    responses((status = 200, description = "The policy after the change.", body = KeyPolicyView,
        headers(("ETag" = String, description = "Version of the policy, for `If-Match`."))))
)]
#[patch("/organizations/{organization_id}/key_policy")]
pub async fn update_key_policy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateKeyPolicy>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let patch = body.into_inner().into_patch()?;
    let audit = caller.audit(&id);
    let row = state
        .db
        .write(move |conn| {
            ensure_visible(conn, &caller.organization_id, caller.rights.role, &id, true)?;
            repo::update(conn, &id, &if_match, patch, audit)
        })
        .await?;
    Ok(respond(&row))
}
