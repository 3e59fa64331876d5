//! HTTP handlers of `/v1/secrets`.

use actix_web::http::header;
use actix_web::{delete, get, post, put, web, HttpResponse};

use validator::Validate;

use super::dto::{
    PutResult, PutSecretResult, Secret, SecretBody, SecretList, SecretPath, SecretVersion,
    SecretVersionList, SecretVersionPath, SecretWithValue, VersionQuery,
};
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::db::new_id;
use crate::error::ApiError;
use crate::http::body::{JsonBody, LARGEST_BODY};
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::{DeletedFilter, PageQuery};
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::rights::Role;
use crate::state::AppState;

/// Create a secret
///
/// Stores a value (an API key's encoded value, a token) encrypted with
/// AES-256-GCM under the master key, and returns its id and metadata, never
/// the value.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret"))),
    request_body = SecretBody,
    responses((status = 201, description = "The secret's metadata.", body = Secret,
        headers(("Location" = String, description = "Path of the new secret."), ("ETag" = String, description = "Version of the secret."))))
)]
#[post("/secrets")]
pub async fn create_secret(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<SecretBody, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.check()?;
    let vault = state.vault()?.clone();
    let id = new_id("sec_");
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::create(
                conn,
                &vault,
                &org,
                &id,
                &body.value,
                body.description.clone(),
                audit.clone(),
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/secrets/{}", row.id)))
        .insert_header((header::ETAG, row.etag()))
        .json(Secret::from(&row)))
}

/// List secrets
///
/// The organization's secrets by id: metadata only, never values. With
/// `include_deleted=true`, also the secrets deleted within the recovery
/// window, with their `deleted_at`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(PageQuery, DeletedFilter),
    responses((status = 200, description = "A page of secrets.", body = SecretList))
)]
#[get("/secrets")]
pub async fn list_secrets(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
    filter: Query<DeletedFilter>,
) -> Result<web::Json<SecretList>, ApiError> {
    let page = page.page()?;
    let deleted_since = crate::db::recovery::listed_since(
        filter.into_inner().include_deleted,
        state.recovery_window,
    );
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| repo::list(conn, &org, &query_page, deleted_since))
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    Ok(web::Json(SecretList {
        data: rows.iter().map(Secret::from).collect(),
        next_cursor,
    }))
}

/// Get a secret's value
///
/// Returns the secret with its plaintext `value`: the current one, or with
/// `?version=N` that earlier version while it is kept
/// (`KEYGATE_SECRET_VERSIONS` earlier ones, 10 by default; 404 once
/// pruned). Needs a `personal` key (a policy may narrow that); every read
/// is recorded in the audit trail. The `ETag` is the secret's, whichever
/// version is read.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("secret"))),
    params(SecretPath, VersionQuery),
    responses(
        (status = 200, description = "The secret with the value of the version asked for.", body = SecretWithValue,
            headers(("ETag" = String, description = "Version of the secret."))),
        (status = 404, description = "No such secret, or that version is not kept.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(404, "not_found", "secret version my-connector-api-key/3 was not found", "/v1/secrets/my-connector-api-key"))),
    )
)]
#[get("/secrets/{secret_id}")]
pub async fn get_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
    query: Query<VersionQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().secret_id.0;
    let query = query.into_inner();
    query.validate()?;
    let vault = state.vault()?.clone();
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let (row, value) = state
        .db
        .write(move |conn| {
            repo::read_version(conn, &vault, &org, &id, query.version, audit.clone())
        })
        .await?;
    Ok(json_with_etag(
        &row.etag(),
        &SecretWithValue {
            secret: Secret::from(&row),
            value_version: value.version,
            value_created_at: value.created_at.and_utc(),
            value: value.value,
        },
    ))
}

/// List a secret's versions
///
/// The versions still kept, newest (the current one) first: numbers and
/// times only, never values.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(SecretPath),
    responses((status = 200, description = "The secret's versions.", body = SecretVersionList,
        headers(("ETag" = String, description = "Version of the secret."))))
)]
#[get("/secrets/{secret_id}/versions")]
pub async fn list_secret_versions(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().secret_id.0;
    let org = caller.organization_id;
    let (row, versions) = state
        .db
        .read(move |conn| repo::versions(conn, &org, &id))
        .await?;
    let data = versions
        .into_iter()
        .map(|(version, created_at)| SecretVersion {
            version,
            created_at: created_at.and_utc(),
            current: version == row.version,
        })
        .collect();
    Ok(json_with_etag(&row.etag(), &SecretVersionList { data }))
}

/// Restore a secret version
///
/// Stores the value of an earlier version as the secret's new current
/// version (the next number; the description stays), keeping the value it
/// replaces as `put_secret` does. `If-Match` guards it; 404 when that
/// version is not kept. Restoring the current version makes a new version
/// with the same value.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret"))),
    params(SecretVersionPath, IfMatch),
    responses(
        (status = 200, description = "The secret, its current version now holding the restored value.", body = Secret,
            headers(("ETag" = String, description = "Version of the secret."))),
        (status = 404, description = "No such secret, or that version is not kept.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(404, "not_found", "secret version my-connector-api-key/3 was not found", "/v1/secrets/my-connector-api-key/versions/3/restore"))),
    )
)]
#[post("/secrets/{secret_id}/versions/{version}/restore")]
pub async fn restore_secret_version(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretVersionPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    path.validate()?;
    let (id, version) = (path.secret_id.0, path.version);
    let vault = state.vault()?.clone();
    let keep = state.secret_versions;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::restore(
                conn,
                &vault,
                &org,
                &id,
                version,
                &if_match,
                keep,
                audit.clone(),
            )
        })
        .await?;
    Ok(json_with_etag(&row.etag(), &Secret::from(&row)))
}

/// Create or replace a secret
///
/// Stores the value under this id: 201 with `result: created` when the id
/// was new in the organization, else 200 with `result: updated` (the value
/// and description are replaced; `If-Match` guards the replacement). The
/// replaced value is kept as an earlier version (see `get_secret`'s
/// `version`); beyond `KEYGATE_SECRET_VERSIONS` the oldest are deleted in
/// the same transaction.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret"))),
    params(SecretPath, IfMatch),
    request_body = SecretBody,
    responses(
        (status = 200, description = "The value was replaced.", body = PutSecretResult,
            headers(("ETag" = String, description = "Version of the secret."))),
        (status = 201, description = "The secret was created.", body = PutSecretResult,
            headers(("Location" = String, description = "Path of the secret."), ("ETag" = String, description = "Version of the secret."))),
    )
)]
#[put("/secrets/{secret_id}")]
pub async fn put_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
    if_match: IfMatch,
    body: JsonBody<SecretBody, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().secret_id.0;
    let body = body.into_inner();
    body.check()?;
    let vault = state.vault()?.clone();
    let keep = state.secret_versions;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let (row, created) = state
        .db
        .write(move |conn| {
            repo::put(
                conn,
                &vault,
                &org,
                &id,
                &body.value,
                body.description.clone(),
                &if_match,
                keep,
                audit.clone(),
            )
        })
        .await?;
    let answer = PutSecretResult {
        result: if created {
            PutResult::Created
        } else {
            PutResult::Updated
        },
        secret: Secret::from(&row),
    };
    if created {
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/v1/secrets/{}", row.id)))
            .insert_header((header::ETAG, row.etag()))
            .json(answer))
    } else {
        Ok(json_with_etag(&row.etag(), &answer))
    }
}

/// Delete a secret
///
/// Deletes the secret; 409 while a connector references it. It is gone for
/// every operation (404) but stays restorable with `undelete_secret` for
/// the recovery window (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by
/// default; a list with `include_deleted=true` shows it), then it is
/// purged; with a window of 0 it is removed at once. A new secret may take
/// the id of a deleted one, which is then removed for good.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret"))),
    params(SecretPath, IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "A connector references the secret.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "still_referenced", "secret sec_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 is referenced by a connector", "/v1/secrets/sec_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[delete("/secrets/{secret_id}")]
pub async fn delete_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().secret_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| repo::delete(conn, &org, &id, &if_match, keep, audit.clone()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Undelete a secret
///
/// Brings back a secret deleted within the recovery window
/// (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by default) with its value and
/// description. A secret that is not deleted is answered as it is. A
/// secret deleted longer ago (purged), replaced by a new secret of its id,
/// or never there is 404.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret"))),
    params(SecretPath),
    responses((status = 200, description = "The secret, back as it was.", body = Secret,
        headers(("ETag" = String, description = "Version of the secret."))))
)]
#[post("/secrets/{secret_id}/undelete")]
pub async fn undelete_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().secret_id.0;
    let Some(since) = crate::db::recovery::restorable_since(state.recovery_window) else {
        return Err(ApiError::not_found("secret", &id));
    };
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| repo::undelete(conn, &org, &id, since, audit.clone()))
        .await?;
    Ok(json_with_etag(&row.etag(), &Secret::from(&row)))
}
