//! HTTP handlers of `/v1/api_keys` and `/v1/me`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use validator::Validate;

use super::dto::{
    ApiKey, ApiKeyFilter, ApiKeyList, ApiKeyPath, ApiKeyWithSecret, CreateApiKey, ImportApiKeys,
    ImportedApiKeys, UpdateApiKey,
};
use super::model::ApiKeyRow;
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::{JsonBody, OptionalJson, LARGEST_BODY};
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::PageQuery;
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::credits::{ChangeCredits, CreditRow, Credits};
use crate::keys::dto::{RevokedPending, RotateKey};
use crate::keys::rights::Role;
use crate::state::AppState;

/// The view with its `ETag`.
fn respond(
    (row, pending, credits): (
        ApiKeyRow,
        Vec<crate::keys::dto::PendingKey>,
        Option<CreditRow>,
    ),
) -> Result<HttpResponse, ApiError> {
    let etag = row.etag();
    Ok(json_with_etag(
        &etag,
        &ApiKey::from_row(row, pending, credits.as_ref())?,
    ))
}

/// Create an API key
///
/// Creates a key in the caller's organization and returns it with its secret
/// `key`, which is shown only in this response. The new key's rights (role,
/// `api_policy`, `allowed_cidrs`, `expires_at`) can never exceed the
/// caller's: a wider key is refused with 403 `exceeds_caller_rights`. Its
/// `expires_at` must keep the organization's key policy
/// (`max_key_lifetime_seconds`, `require_expiry`): otherwise 400
/// `key_policy_violation` naming the rule.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    request_body(content = CreateApiKey, example = json!({"name": "search frontend", "api_key_role": "serving", "expires_at": "2030-01-01T00:00:00Z"})),
    responses(
        (status = 201, description = "The key, with its secret shown once.", body = ApiKeyWithSecret,
            headers(("Location" = String, description = "Path of the new key."), ("ETag" = String, description = "Version of the key, for `If-Match`."))),
    )
)]
#[post("/api_keys")]
pub async fn create_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input(&state.policy_names)?;
    input.rights().ensure_within(&caller.rights)?;
    let audit = caller.audit("");
    let org = caller.organization_id.clone();
    let (row, key, credits) = state
        .db
        .write(move |conn| {
            let (row, key) = repo::create(conn, &org, &input, audit.clone())?;
            // A key made without credits has no balance to read back.
            let balance = match input.usage.credits {
                Some(_) => crate::keys::credits::one(conn, &row.id)?,
                None => None,
            };
            Ok((row, key, balance))
        })
        .await?;
    let location = format!("/v1/api_keys/{}", row.id);
    let etag = row.etag();
    let created = ApiKeyWithSecret {
        api_key: ApiKey::from_row(row, Vec::new(), credits.as_ref())?,
        key: key.value,
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag))
        .json(created))
}

/// Import API keys by hash
///
/// Moves up to 1,000 keys issued elsewhere into the caller's organization
/// without anyone handling their text: each is given by its SHA-256
/// (`key_sha256`: 64 hex digits or base64 of the 32 bytes) with what to
/// display (`key_prefix`, `key_last4`), a name, a role and the usual
/// options. Callers keep presenting their old keys: an imported key need
/// not look like keygate's (`kg_ak_...`); it authenticates and verifies by
/// its hash. Each key is held to the caller's rights (403
/// `exceeds_caller_rights`) and the organization's key policy (400
/// `key_policy_violation`); a hash keygate already holds refuses the whole
/// import (409 `already_exists`). Rotating an imported key replaces it with
/// a keygate key. One audit event per key.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    request_body(content = ImportApiKeys, example = json!({"keys": [{"key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "key_prefix": "sk_live_", "key_last4": "x9Q2", "name": "billing (imported)", "api_key_role": "serving"}]})),
    responses(
        (status = 201, description = "The imported keys, in the order given.", body = ImportedApiKeys),
        (status = 409, description = "keygate already holds a key with one of these hashes; nothing was imported.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "keys[0]: keygate already holds a key with this hash", "/v1/api_keys/import"))),
    )
)]
#[post("/api_keys/import")]
pub async fn import_api_keys(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<ImportApiKeys, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let keys = body.into_inner().into_input(&state.policy_names)?;
    for key in &keys {
        key.input.rights().ensure_within(&caller.rights)?;
    }
    let audit = caller.audit("");
    let org = caller.organization_id.clone();
    let rows = state
        .db
        .write(move |conn| repo::import(conn, &org, &keys, audit.clone()))
        .await?;
    let data = rows
        .into_iter()
        .map(|row| ApiKey::from_row(row, Vec::new(), None))
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Created().json(ImportedApiKeys { data }))
}

/// List API keys
///
/// The organization's keys, oldest first, a page at a time.
/// `violates_policy=true` lists the keys that break the organization's key
/// policy now (made before a stricter one), and `expires_before` the keys
/// that expire before a time.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal))),
    params(PageQuery, ApiKeyFilter),
    responses((status = 200, description = "A page of keys.", body = ApiKeyList))
)]
#[get("/api_keys")]
pub async fn list_api_keys(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
    filter: Query<ApiKeyFilter>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    let page = page.page()?;
    let filter = filter.into_inner().into_filter(state.recovery_window);
    let org = caller.organization_id;
    let query_page = page.clone();
    let (rows, mut pending, balances) = state
        .db
        .read(move |conn| {
            let rows = repo::list(conn, &org, &filter, &query_page)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let balances = crate::keys::credits::of(conn, &ids)?;
            Ok((rows, repo::pending_keys(conn, &ids)?, balances))
        })
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|row| {
            let of_row = pending.remove(&row.id).unwrap_or_default();
            let balance = balances.get(&row.id);
            ApiKey::from_row(row, of_row, balance)
        })
        .collect::<Result<_, _>>()?;
    Ok(web::Json(ApiKeyList { data, next_cursor }))
}

/// Get an API key
///
/// One key of the caller's organization; never its secret.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal))),
    params(ApiKeyPath),
    responses((status = 200, description = "The key.", body = ApiKey,
        headers(("ETag" = String, description = "Version of the key, for `If-Match`."))))
)]
#[get("/api_keys/{api_key_id}")]
pub async fn get_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let org = caller.organization_id;
    let view = state
        .db
        .read(move |conn| repo::get_with_pending(conn, &org, &id))
        .await?;
    respond(view)
}

/// Update an API key
///
/// Changes only the fields present: `enabled` (a disabled key is refused at
/// once), `name`, and `api_policy`, `allowed_cidrs` and `expires_at`, which
/// `null` clears. The caller must hold at least the key's rights, before and
/// after the change. A new `expires_at` must keep the organization's key
/// policy (400 `key_policy_violation` naming the rule); a change that leaves
/// it alone is allowed on a key made before a stricter policy. With
/// `If-Match`, a key changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath, IfMatch),
    request_body(content = UpdateApiKey, example = json!({"enabled": false})),
    responses((status = 200, description = "The key after the change.", body = ApiKey,
        headers(("ETag" = String, description = "Version of the key, for `If-Match`."))))
)]
#[patch("/api_keys/{api_key_id}")]
pub async fn update_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let patch = body.into_inner().into_patch(&state.policy_names)?;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let view = state
        .db
        .write(move |conn| {
            let row = repo::update_within(
                conn,
                &org,
                &id,
                &if_match,
                &caller.rights,
                patch.clone(),
                audit.clone(),
            )?;
            repo::with_pending(conn, row)
        })
        .await?;
    respond(view)
}

/// Delete an API key
///
/// The key stops working at once and is gone for every operation (404).
/// It stays restorable with `undelete_api_key` for the recovery window
/// (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by default; a list with
/// `include_deleted=true` shows it), then it and its secrets are purged;
/// with a window of 0 it is removed at once. The caller must hold at least
/// the key's rights. A key a connector uses cannot be deleted (409): point
/// the connector elsewhere first.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath, IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "A connector uses the key.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "still_referenced", "api key aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 is used by a connector", "/v1/api_keys/aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[delete("/api_keys/{api_key_id}")]
pub async fn delete_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| {
            repo::delete(
                conn,
                &org,
                &id,
                &if_match,
                keep,
                repo::within(&caller.rights),
                audit.clone(),
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate an API key
///
/// Issues a new secret for the key and returns it, shown only in this
/// response. The previous secret keeps working as a *pending* key for
/// `grace_period_seconds` (default 604,800: seven days; 0 ends it at once)
/// and is listed in `pending_keys`; rotating again adds another pending key.
/// `POST /v1/verify` reports a pending key as `status: pending`, so callers
/// still using it can be found. The body is optional. The key's
/// `expires_at` must keep the organization's key policy, as a new key's
/// must (400 `key_policy_violation`; set a nearer `expires_at` first).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath, IfMatch),
    request_body(content = Option<RotateKey>, example = json!({"grace_period_seconds": 86400})),
    responses((status = 200, description = "The key with its new secret, shown once; the previous secret is in `pending_keys`.", body = ApiKeyWithSecret,
        headers(("ETag" = String, description = "Version of the key, for `If-Match`.")),
        example = json!({"id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "name": "search frontend", "api_key_role": "serving", "api_policy": null, "enabled": true, "allowed_cidrs": null, "expires_at": null, "resource_scopes": null, "key_prefix": "kg_ak_Ab3d", "key_last4": "x9Q2", "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-23T12:00:00Z", "last_used_at": "2026-11-23T11:59:58Z", "pending_keys": [{"key_prefix": "kg_ak_Zx81", "key_last4": "Qw3e", "expires_at": "2026-11-24T12:00:00Z"}], "identity_id": null, "ratelimits": [], "credits": null, "key": "kg_ak_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2"})))
)]
#[post("/api_keys/{api_key_id}/rotate")]
pub async fn rotate_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
    if_match: IfMatch,
    body: OptionalJson<RotateKey>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let body = body.0.unwrap_or_default();
    body.validate()?;
    let grace = body.grace_seconds();
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let view_and_key = state
        .db
        .write(move |conn| {
            let check = repo::within(&caller.rights);
            let (_, key) = repo::rotate(conn, &org, &id, &if_match, grace, check, audit.clone())?;
            let view = repo::get_with_pending(conn, &org, &id)?;
            Ok((view, key))
        })
        .await?;
    let ((row, pending, credits), key) = (view_and_key.0, view_and_key.1);
    let etag = row.etag();
    let body = ApiKeyWithSecret {
        api_key: ApiKey::from_row(row, pending, credits.as_ref())?,
        key: key.value,
    };
    Ok(json_with_etag(&etag, &body))
}

/// Undelete an API key
///
/// Brings back a key deleted within the recovery window
/// (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by default) exactly as it was:
/// its settings, its current secret and any pending secret still in its
/// grace period work again. A key that is not deleted is answered as it
/// is. A key deleted longer ago (purged) or never there is 404. The caller
/// must hold at least the key's rights.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath),
    responses((status = 200, description = "The key, working again.", body = ApiKey,
        headers(("ETag" = String, description = "Version of the key, for `If-Match`."))))
)]
#[post("/api_keys/{api_key_id}/undelete")]
pub async fn undelete_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let Some(since) = crate::db::recovery::restorable_since(state.recovery_window) else {
        return Err(ApiError::not_found("api key", &id));
    };
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let view = state
        .db
        .write(move |conn| {
            repo::undelete(
                conn,
                &org,
                &id,
                since,
                repo::within(&caller.rights),
                audit.clone(),
            )?;
            repo::get_with_pending(conn, &org, &id)
        })
        .await?;
    respond(view)
}

/// Revoke an API key's pending keys
///
/// Ends every pending (rotated-away) secret of the key now and says how many
/// there were; the current secret keeps working. When any was revoked, the
/// key's `updated_at` and `ETag` change (its view no longer lists them).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath),
    responses((status = 200, description = "How many pending keys stopped working.", body = RevokedPending))
)]
#[post("/api_keys/{api_key_id}/revoke_pending")]
pub async fn revoke_pending_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
) -> Result<web::Json<RevokedPending>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let revoked = state
        .db
        .write(move |conn| {
            repo::revoke_pending(conn, &org, &id, repo::within(&caller.rights), audit.clone())
        })
        .await?;
    Ok(web::Json(RevokedPending { revoked }))
}

/// Get the calling key
///
/// The API key this request authenticated with.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    responses((status = 200, description = "The calling key.", body = ApiKey,
        headers(("ETag" = String, description = "Version of the key, for `If-Match`."))))
)]
#[get("/me")]
pub async fn get_me(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (org, id) = (caller.organization_id, caller.key_id);
    let view = state
        .db
        .read(move |conn| repo::get_with_pending(conn, &org, &id))
        .await?;
    respond(view)
}

/// Change an API key's credits
///
/// `set` makes the key's own balance `value` (creating one if the key is
/// unlimited; what nodes had leased of the old balance is void),
/// `increment` adds `value`, `decrement` takes `value` away down to 0. A
/// key without a balance answers `increment` and `decrement` with 409
/// `no_credits`. The caller must hold at least the key's rights. Audited.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key"))),
    params(ApiKeyPath),
    request_body(content = ChangeCredits, example = json!({"operation": "set", "value": 1000})),
    responses(
        (status = 200, description = "The balance after the change.", body = Credits),
        (status = 409, description = "The key has no balance to increment or decrement (`no_credits`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "no_credits", "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 has no credit balance (it is unlimited); set one first", "/v1/api_keys/aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3/credits"))),
    )
)]
#[post("/api_keys/{api_key_id}/credits")]
pub async fn change_api_key_credits(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
    body: JsonBody<ChangeCredits>,
) -> Result<web::Json<Credits>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let body = body.into_inner();
    body.check()?;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::change_credits(conn, &org, &id, &caller.rights, body, audit.clone())
        })
        .await?;
    Ok(web::Json(Credits::from(&row)))
}
