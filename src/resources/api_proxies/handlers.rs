//! HTTP handlers of `/v1/projects/{project_name}/api_proxies`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::dto::{
    ApiProxy, ApiProxyKeysCheck, ApiProxyKeysUpdated, ApiProxyList, ApiProxyPath,
    CheckApiProxyKeys, CreateApiProxy, UpdateApiProxy, UpdateApiProxyKeys,
};
use super::model::ApiProxyRow;
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::PageQuery;
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::rights::Role;
use crate::resources::projects::dto::ProjectPath;
use crate::resources::projects::model::ProjectRow;
use crate::state::AppState;

/// A 200 with the proxy and its `ETag`.
fn respond((project, row): (ProjectRow, ApiProxyRow)) -> HttpResponse {
    let etag = row.etag();
    json_with_etag(&etag, &ApiProxy::from_row(row, &project.name))
}

/// Create an API proxy
///
/// Creates an API proxy in the project, without keys (set them with
/// `update_api_proxy_keys`). Its `name` is unique in the project
/// (case-sensitive) and follows the project name rule. A name already taken
/// is 409 `already_exists`; a missing project is 404.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy"))),
    params(ProjectPath),
    request_body(content = CreateApiProxy, example = json!({"name": "MyAPI", "description": "Orders API for partners", "upstream_url": "https://orders.internal.example.com/v2"})),
    responses(
        (status = 201, description = "The new API proxy.", body = ApiProxy,
            headers(("Location" = String, description = "Path of the new API proxy."), ("ETag" = String, description = "Version of the API proxy, for `If-Match`."))),
        (status = 409, description = "The project already has an API proxy of this name (`already_exists`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "project MyProject already has an API proxy named MyAPI", "/v1/projects/MyProject/api_proxies"))),
    )
)]
#[post("/projects/{project_name}/api_proxies")]
pub async fn create_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
    body: JsonBody<CreateApiProxy>,
) -> Result<HttpResponse, ApiError> {
    let project_name = path.into_inner().project_name.0;
    let input = body.into_inner().into_input()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let (project, row) = state
        .db
        .write(move |conn| repo::create(conn, &org, &project_name, &input, audit.clone()))
        .await?;
    let location = format!("/v1/projects/{}/api_proxies/{}", project.name, row.name);
    let etag = row.etag();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag))
        .json(ApiProxy::from_row(row, &project.name)))
}

/// List API proxies
///
/// The project's API proxies in creation order, a page at a time.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ProjectPath, PageQuery),
    responses((status = 200, description = "A page of API proxies.", body = ApiProxyList))
)]
#[get("/projects/{project_name}/api_proxies")]
pub async fn list_api_proxies(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
    page: Query<PageQuery>,
) -> Result<web::Json<ApiProxyList>, ApiError> {
    let project_name = path.into_inner().project_name.0;
    let page = page.page()?;
    let org = caller.organization_id;
    let query_page = page.clone();
    let (project, rows) = state
        .db
        .read(move |conn| repo::list(conn, &org, &project_name, &query_page))
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|row| ApiProxy::from_row(row, &project.name))
        .collect();
    Ok(web::Json(ApiProxyList { data, next_cursor }))
}

/// Get an API proxy
///
/// One API proxy, by project and proxy name: its public key and, of the
/// secret key, only whether it is set and its last four characters.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ApiProxyPath),
    responses((status = 200, description = "The API proxy.", body = ApiProxy,
        headers(("ETag" = String, description = "Version of the API proxy, for `If-Match`."))))
)]
#[get("/projects/{project_name}/api_proxies/{api_proxy_name}")]
pub async fn get_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let org = caller.organization_id;
    let found = state
        .db
        .read(move |conn| repo::get(conn, &org, &path.project_name.0, &path.api_proxy_name.0))
        .await?;
    Ok(respond(found))
}

/// Update an API proxy
///
/// Changes `description` and `upstream_url` (`null` clears one); the name
/// cannot change, as paths and policies use it, and keys change with
/// `update_api_proxy_keys`. With `If-Match`, a proxy changed since that
/// `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy"))),
    params(ApiProxyPath, IfMatch),
    request_body(content = UpdateApiProxy, example = json!({"upstream_url": "https://orders.internal.example.com/v3"})),
    responses((status = 200, description = "The API proxy after the change.", body = ApiProxy,
        headers(("ETag" = String, description = "Version of the API proxy, for `If-Match`."))))
)]
#[patch("/projects/{project_name}/api_proxies/{api_proxy_name}")]
pub async fn update_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateApiProxy>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let changes = body.into_inner().into_changes()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let found = state
        .db
        .write(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::update(
                conn,
                &org,
                project,
                name,
                &if_match,
                changes.clone(),
                audit.clone(),
            )
        })
        .await?;
    Ok(respond(found))
}

/// Delete an API proxy
///
/// Deletes the API proxy; its keys stop working at once and become free
/// for other proxies. With `If-Match`, a proxy changed since that `ETag` is
/// not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy"))),
    params(ApiProxyPath, IfMatch),
    responses((status = 204, description = "Deleted."))
)]
#[delete("/projects/{project_name}/api_proxies/{api_proxy_name}")]
pub async fn delete_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::delete(conn, &org, project, name, &if_match, audit.clone())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set an API proxy's keys
///
/// Sets the public key (identification) and/or the secret key
/// (authentication), effective at once; a key left out stays as it is, but
/// at least one must be given (400, `detail` "At least one key (public_key
/// or secret_key) must be provided"). `null` is not a key: beside a key it
/// is 400 naming the field, alone it gives no key. Each key is 1 to 512
/// characters, not blank or whitespace-only (400 naming the field), and
/// case-sensitive. A key that another API proxy of the organization holds,
/// as public or secret key, is 409 `duplicate_key`, and so is a key equal
/// to this proxy's other key or to the other key of the same body.
/// The secret key is stored encrypted and never shown. With `If-Match`, a
/// proxy changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy"))),
    params(ApiProxyPath, IfMatch),
    request_body(content = UpdateApiProxyKeys, examples(
        ("both_keys" = (summary = "Update both keys", value = json!({"public_key": "ak_1234567890abcdef", "secret_key": "sk_9876543210fedcba"}))),
        ("public_key_only" = (summary = "Update only the public key", value = json!({"public_key": "ak_1234567890abcdef"}))),
        ("secret_key_only" = (summary = "Update only the secret key", value = json!({"secret_key": "sk_9876543210fedcba"}))),
    )),
    responses(
        (status = 200, description = "The keys are set; the API proxy after the change.", body = ApiProxyKeysUpdated,
            headers(("ETag" = String, description = "Version of the API proxy, for `If-Match`."))),
        (status = 400, description = "No key given, a key blank, whitespace-only or longer than 512 characters, or both keys equal; `errors` names the fields.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!({"type": "urn:keygate:problem:validation_failed", "title": "Bad Request", "status": 400, "detail": "At least one key (public_key or secret_key) must be provided", "instance": "/v1/projects/MyProject/api_proxies/MyAPI/settings/keys", "code": "validation_failed", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3", "errors": [{"field": "public_key", "code": "required", "message": "give public_key, secret_key or both"}, {"field": "secret_key", "code": "required", "message": "give public_key, secret_key or both"}]})),
        (status = 404, description = "The project or the API proxy does not exist; `detail` names which.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!({"type": "urn:keygate:problem:not_found", "title": "Not Found", "status": 404, "detail": "ApiProxy (name: MyAPI) was not found!", "instance": "/v1/projects/MyProject/api_proxies/MyAPI/settings/keys", "code": "not_found", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3"})),
        (status = 409, description = "A key is already used by another API proxy of the organization, or is this proxy's other key (`duplicate_key`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!({"type": "urn:keygate:problem:duplicate_key", "title": "Conflict", "status": 409, "detail": "secret_key is already a key of another API proxy in the organization", "instance": "/v1/projects/MyProject/api_proxies/MyAPI/settings/keys", "code": "duplicate_key", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3"})),
    )
)]
#[patch("/projects/{project_name}/api_proxies/{api_proxy_name}/settings/keys")]
pub async fn update_api_proxy_keys(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateApiProxyKeys>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let keys = body.into_inner().into_keys()?;
    let vault = state.vault()?.clone();
    let audit = caller.audit("");
    let org = caller.organization_id;
    let (project, row) = state
        .db
        .write(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::set_keys(
                conn,
                &vault,
                &org,
                project,
                name,
                &if_match,
                &keys,
                audit.clone(),
            )
        })
        .await?;
    let etag = row.etag();
    let body = ApiProxyKeysUpdated {
        success: true,
        api_proxy: ApiProxy::from_row(row, &project.name),
    };
    Ok(json_with_etag(&etag, &body))
}

/// Check an API proxy's keys
///
/// Tells whether a presented public and secret key are this API proxy's,
/// so a data plane can authenticate its callers through keygate. The answer
/// takes the same work whether the proxy has no keys, the public key is
/// wrong or the secret key is wrong (keyed hashes compared in constant
/// time), and says only `valid`. A missing project or proxy is 404: names
/// are not secret to a key that may list them.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ApiProxyPath),
    request_body(content = CheckApiProxyKeys, example = json!({"public_key": "ak_1234567890abcdef", "secret_key": "sk_9876543210fedcba"})),
    responses(
        (status = 200, description = "Whether the key pair is the proxy's.", body = ApiProxyKeysCheck),
        (status = 404, description = "The project or the API proxy does not exist; `detail` names which.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!({"type": "urn:keygate:problem:not_found", "title": "Not Found", "status": 404, "detail": "ApiProxy (name: MyAPI) was not found!", "instance": "/v1/projects/MyProject/api_proxies/MyAPI/settings/keys/check", "code": "not_found", "request_id": "0190a0b1-c2d3-7e4f-a6b7-c8d9e0f1a2b3"})),
    )
)]
#[post("/projects/{project_name}/api_proxies/{api_proxy_name}/settings/keys/check")]
pub async fn check_api_proxy_keys(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
    body: JsonBody<CheckApiProxyKeys>,
) -> Result<web::Json<ApiProxyKeysCheck>, ApiError> {
    let path = path.into_inner();
    let body = body.into_inner();
    body.check()?;
    let vault = state.vault()?.clone();
    let org = caller.organization_id;
    let valid = state
        .db
        .read(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::check_keys(
                conn,
                &vault,
                &org,
                project,
                name,
                &body.public_key,
                &body.secret_key,
            )
        })
        .await?;
    Ok(web::Json(ApiProxyKeysCheck { valid }))
}
