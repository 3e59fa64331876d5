//! HTTP handlers of `/v1/api_keys` and `/v1/me`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::dto::{
    ApiKey, ApiKeyFilter, ApiKeyList, ApiKeyPath, CreateApiKey, CreatedApiKey, UpdateApiKey,
};
use super::repo;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::resources::PageQuery;
use crate::startup::AppState;

/// Create an API key
///
/// Creates a key in the caller's organization and returns it with its secret
/// `key`, which is shown only in this response. The new key's rights (role,
/// `api_policy`, `allowed_cidrs`, `expires_at`) can never exceed the
/// caller's: a wider key is refused with 403 `exceeds_caller_rights`.
#[utoipa::path(
    tag = "api_keys",
    request_body(content = CreateApiKey, example = json!({"name": "search frontend", "api_key_role": "serving", "allowed_cidrs": ["10.0.0.0/8"], "expires_at": "2030-01-01T00:00:00Z"})),
    responses(
        (status = 201, description = "The key, with its secret shown once.", body = CreatedApiKey,
            headers(("Location" = String, description = "Path of the new key."))),
    )
)]
#[post("/api_keys")]
pub async fn create_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input()?;
    input.rights().ensure_within(&caller.rights)?;
    let audit = caller.audit("api_key", "");
    let org = caller.organization_id.clone();
    let (row, key) = state
        .db
        .write(move |conn| repo::create(conn, &org, &input, audit))
        .await?;
    let location = format!("/v1/api_keys/{}", row.id);
    let created = CreatedApiKey {
        api_key: ApiKey::from_row(row)?,
        key: key.value,
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(created))
}

/// List API keys
///
/// The organization's keys, oldest first, a page at a time.
#[utoipa::path(
    tag = "api_keys",
    params(PageQuery, ApiKeyFilter),
    responses((status = 200, description = "A page of keys.", body = ApiKeyList))
)]
#[get("/api_keys")]
pub async fn list_api_keys(
    caller: Caller,
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
    filter: web::Query<ApiKeyFilter>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    let page = page.page()?;
    let filter = filter.into_inner().into();
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| repo::list(conn, &org, &filter, &query_page))
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(ApiKey::from_row)
        .collect::<Result<_, _>>()?;
    Ok(web::Json(ApiKeyList { data, next_cursor }))
}

/// Get an API key
///
/// One key of the caller's organization; never its secret.
#[utoipa::path(
    tag = "api_keys",
    params(ApiKeyPath),
    responses((status = 200, description = "The key.", body = ApiKey))
)]
#[get("/api_keys/{api_key_id}")]
pub async fn get_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ApiKeyPath>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, &id))
        .await?;
    Ok(web::Json(ApiKey::from_row(row)?))
}

/// Update an API key
///
/// Changes only the fields present: `enabled` (a disabled key is refused at
/// once), `name`, and `api_policy`, `allowed_cidrs` and `expires_at`, which
/// `null` clears. The caller must hold at least the key's rights, before and
/// after the change.
#[utoipa::path(
    tag = "api_keys",
    params(ApiKeyPath),
    request_body(content = UpdateApiKey, example = json!({"enabled": false})),
    responses((status = 200, description = "The key after the change.", body = ApiKey))
)]
#[patch("/api_keys/{api_key_id}")]
pub async fn update_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ApiKeyPath>,
    body: web::Json<UpdateApiKey>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let body = body.into_inner();
    let audit = caller.audit("api_key", &id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::update(
                conn,
                &org,
                &id,
                |current| {
                    let before = current.rights()?;
                    before.ensure_within(&caller.rights)?;
                    let (changes, after) = body.into_changes(&before)?;
                    after.ensure_within(&caller.rights)?;
                    Ok(changes)
                },
                audit,
            )
        })
        .await?;
    Ok(web::Json(ApiKey::from_row(row)?))
}

/// Delete an API key
///
/// Deletes the key and every secret of it; it stops working at once. The
/// caller must hold at least the key's rights.
#[utoipa::path(
    tag = "api_keys",
    params(ApiKeyPath),
    responses((status = 204, description = "Deleted."))
)]
#[delete("/api_keys/{api_key_id}")]
pub async fn delete_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<ApiKeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let audit = caller.audit("api_key", &id);
    let org = caller.organization_id.clone();
    state
        .db
        .write(move |conn| {
            repo::delete(
                conn,
                &org,
                &id,
                |current| current.rights()?.ensure_within(&caller.rights),
                audit,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Get the calling key
///
/// The API key this request authenticated with.
#[utoipa::path(
    tag = "api_keys",
    responses((status = 200, description = "The calling key.", body = ApiKey))
)]
#[get("/me")]
pub async fn get_me(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let (org, id) = (caller.organization_id, caller.key_id);
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, &id))
        .await?;
    Ok(web::Json(ApiKey::from_row(row)?))
}
