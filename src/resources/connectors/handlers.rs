//! HTTP handlers of `/v1/connectors`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, put, web, HttpResponse};

use super::dto::{
    Connector, ConnectorApiKeyIdUpdated, ConnectorFilter, ConnectorList, ConnectorPath,
    ConnectorUpdateResult, CreateConnector, UpdateConnector, UpdateConnectorApiKeyId,
};
use super::model::ConnectorRow;
use super::repo::{self, Put};
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

/// A 201 with `Location` and `ETag`.
fn created(row: ConnectorRow) -> HttpResponse {
    let location = format!("/v1/connectors/{}", row.id);
    let etag = row.etag();
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag))
        .json(Connector::from(row))
}

/// A 200 with the connector and its `ETag`.
fn respond(row: ConnectorRow) -> HttpResponse {
    let etag = row.etag();
    json_with_etag(&etag, &Connector::from(row))
}

/// Create a connector
///
/// Creates a connector with a server-chosen id (`con_` and 32 hex digits).
/// Every field is optional. `api_key_id` must name an API key and
/// `api_key_secret_id` a secret of the caller's organization, otherwise
/// 400 `validation_failed` with `reference_not_found` on that field. To
/// choose the id, use `put_connector`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector"))),
    request_body(content = CreateConnector, example = json!({"name": "My Connector", "index_name": "search-google-drive", "service_type": "google_drive"})),
    responses(
        (status = 201, description = "The new connector.", body = Connector,
            headers(("Location" = String, description = "Path of the new connector."), ("ETag" = String, description = "Version of the connector, for `If-Match`."))),
    )
)]
#[post("/connectors")]
pub async fn create_connector(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateConnector>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| repo::create(conn, &org, &input, audit.clone()))
        .await?;
    Ok(created(row))
}

/// List connectors
///
/// The organization's connectors in id order, a page at a time, optionally
/// only those of one `service_type` or `index_name`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(PageQuery, ConnectorFilter),
    responses((status = 200, description = "A page of connectors.", body = ConnectorList))
)]
#[get("/connectors")]
pub async fn list_connectors(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
    filter: Query<ConnectorFilter>,
) -> Result<web::Json<ConnectorList>, ApiError> {
    let page = page.page()?;
    let filter = filter.into_inner().into();
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| repo::list(conn, &org, &filter, &query_page))
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows.into_iter().map(Connector::from).collect();
    Ok(web::Json(ConnectorList { data, next_cursor }))
}

/// Get a connector
///
/// One connector of the caller's organization.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ConnectorPath),
    responses((status = 200, description = "The connector.", body = Connector,
        headers(("ETag" = String, description = "Version of the connector, for `If-Match`."))))
)]
#[get("/connectors/{connector_id}")]
pub async fn get_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().connector_id.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, &id))
        .await?;
    Ok(respond(row))
}

/// Create or replace a connector
///
/// Creates the connector with the id in the path (201), or, when it exists,
/// replaces every field with the body's: a field left out becomes `null`
/// (200). References are checked as in `create_connector`. With `If-Match`,
/// a connector changed since that `ETag`, or one that does not exist, is
/// not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector"))),
    params(ConnectorPath, IfMatch),
    request_body(content = CreateConnector, example = json!({"name": "My Connector", "index_name": "search-google-drive", "service_type": "google_drive"})),
    responses(
        (status = 200, description = "The connector existed; its fields were replaced.", body = Connector,
            headers(("ETag" = String, description = "Version of the connector, for `If-Match`."))),
        (status = 201, description = "The connector was created.", body = Connector,
            headers(("Location" = String, description = "Path of the new connector."), ("ETag" = String, description = "Version of the connector, for `If-Match`."))),
        (status = 409, description = "Another request created the connector at the same moment; retry.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "another request created connector my-connector at the same moment; retry", "/v1/connectors/my-connector"))),
    )
)]
#[put("/connectors/{connector_id}")]
pub async fn put_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    if_match: IfMatch,
    body: JsonBody<CreateConnector>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().connector_id.0;
    let input = body.into_inner().into_input()?;
    let conditional = if_match.is_present();
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (row, done) = state
        .db
        .write(move |conn| {
            repo::put(
                conn,
                &org,
                &id,
                &input,
                &if_match,
                conditional,
                audit.clone(),
            )
        })
        .await?;
    Ok(match done {
        Put::Created => created(row),
        Put::Replaced => respond(row),
    })
}

/// Update a connector
///
/// Changes only the fields present: `name`, `description`, `index_name` and
/// `service_type`; `null` clears one. With `If-Match`, a connector changed
/// since that `ETag` is not touched (412). The API key and secret are set
/// with `update_connector_api_key_id`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector"))),
    params(ConnectorPath, IfMatch),
    request_body(content = UpdateConnector, example = json!({"name": "Marketing Drive", "description": null})),
    responses((status = 200, description = "The connector after the change.", body = Connector,
        headers(("ETag" = String, description = "Version of the connector, for `If-Match`."))))
)]
#[patch("/connectors/{connector_id}")]
pub async fn update_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateConnector>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().connector_id.0;
    let changes = body.into_inner().into_changes()?;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| repo::update(conn, &org, &id, &if_match, changes.clone(), audit.clone()))
        .await?;
    Ok(respond(row))
}

/// Delete a connector
///
/// Deletes the connector; the API key and secret it names stay. With
/// `If-Match`, a connector changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector"))),
    params(ConnectorPath, IfMatch),
    responses((status = 204, description = "Deleted."))
)]
#[delete("/connectors/{connector_id}")]
pub async fn delete_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().connector_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| repo::delete(conn, &org, &id, &if_match, audit.clone()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a connector's API key
///
/// Sets or clears the API key the connector writes with (`api_key_id`) and
/// the secret holding its encoded value (`api_key_secret_id`). Give at least
/// one; a field left out stays, `null` clears it. Each id must name an API
/// key or secret of the caller's organization (400 `reference_not_found`).
/// `result` is `noop` when the connector already had these values: then
/// nothing is written, not even `updated_at` or an audit event. With
/// `If-Match`, a connector changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector"))),
    params(ConnectorPath, IfMatch),
    request_body(content = UpdateConnectorApiKeyId, example = json!({"api_key_id": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "api_key_secret_id": "my-connector-api-key"})),
    responses((status = 200, description = "Whether the connector changed, and the connector.", body = ConnectorApiKeyIdUpdated,
        headers(("ETag" = String, description = "Version of the connector, for `If-Match`."))))
)]
#[put("/connectors/{connector_id}/api_key_id")]
pub async fn update_connector_api_key_id(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateConnectorApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().connector_id.0;
    let changes = body.into_inner().into_changes()?;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (row, changed) = state
        .db
        .write(move |conn| {
            repo::update_api_key_id(conn, &org, &id, &if_match, changes.clone(), audit.clone())
        })
        .await?;
    let etag = row.etag();
    let result = if changed {
        ConnectorUpdateResult::Updated
    } else {
        ConnectorUpdateResult::Noop
    };
    let body = ConnectorApiKeyIdUpdated {
        result,
        connector: Connector::from(row),
    };
    Ok(json_with_etag(&etag, &body))
}
