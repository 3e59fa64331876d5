//! HTTP handlers of `/v1/projects`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::dto::{CreateProject, Project, ProjectList, ProjectPath, UpdateProject};
use super::model::ProjectRow;
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
use crate::state::AppState;

/// A 200 with the project and its `ETag`.
fn respond(row: ProjectRow) -> HttpResponse {
    let etag = row.etag();
    json_with_etag(&etag, &Project::from(row))
}

/// Create a project
///
/// Creates a project. Its `name` is unique in the organization
/// (case-sensitive) and addresses it in paths, so it is 1 to 100 of
/// `A-Z a-z 0-9 . _ -` and neither `.` nor `..`. A name already taken is
/// 409 `already_exists`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("project"))),
    request_body(content = CreateProject, example = json!({"name": "MyProject", "description": "Public APIs of the shop"})),
    responses(
        (status = 201, description = "The new project.", body = Project,
            headers(("Location" = String, description = "Path of the new project."), ("ETag" = String, description = "Version of the project, for `If-Match`."))),
        (status = 409, description = "The organization already has a project of this name (`already_exists`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "a project named MyProject already exists", "/v1/projects"))),
    )
)]
#[post("/projects")]
pub async fn create_project(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateProject>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.check()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| {
            repo::create(
                conn,
                &org,
                &body.name,
                body.description.clone(),
                audit.clone(),
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/projects/{}", row.name)))
        .insert_header((header::ETAG, row.etag()))
        .json(Project::from(row)))
}

/// List projects
///
/// The organization's projects in creation order, a page at a time.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(PageQuery),
    responses((status = 200, description = "A page of projects.", body = ProjectList))
)]
#[get("/projects")]
pub async fn list_projects(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
) -> Result<web::Json<ProjectList>, ApiError> {
    let page = page.page()?;
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| repo::list(conn, &org, &query_page))
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows.into_iter().map(Project::from).collect();
    Ok(web::Json(ProjectList { data, next_cursor }))
}

/// Get a project
///
/// One project of the caller's organization, by name.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ProjectPath),
    responses((status = 200, description = "The project.", body = Project,
        headers(("ETag" = String, description = "Version of the project, for `If-Match`."))))
)]
#[get("/projects/{project_name}")]
pub async fn get_project(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner().project_name.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, &name))
        .await?;
    Ok(respond(row))
}

/// Update a project
///
/// Changes the description (`null` clears it); the name cannot change, as
/// paths and policies use it. With `If-Match`, a project changed since that
/// `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("project"))),
    params(ProjectPath, IfMatch),
    request_body(content = UpdateProject, example = json!({"description": "Public and partner APIs"})),
    responses((status = 200, description = "The project after the change.", body = Project,
        headers(("ETag" = String, description = "Version of the project, for `If-Match`."))))
)]
#[patch("/projects/{project_name}")]
pub async fn update_project(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateProject>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner().project_name.0;
    let changes = body.into_inner().into_changes()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| {
            repo::update(conn, &org, &name, &if_match, changes.clone(), audit.clone())
        })
        .await?;
    Ok(respond(row))
}

/// Delete a project
///
/// Deletes an empty project. While it holds API proxies the answer is 409
/// `still_referenced`: delete them first. With `If-Match`, a project
/// changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("project"))),
    params(ProjectPath, IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "The project still holds API proxies (`still_referenced`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "still_referenced", "project MyProject still holds 2 API proxies; delete them first", "/v1/projects/MyProject"))),
    )
)]
#[delete("/projects/{project_name}")]
pub async fn delete_project(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner().project_name.0;
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| repo::delete(conn, &org, &name, &if_match, audit.clone()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
