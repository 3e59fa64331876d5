//! The Elasticsearch paths: each handler translates the vendor's request,
//! calls the same domain function as its native twin (`x-keygate-acts-as`),
//! and translates the answer back. Every answer is 200 with a body, as the
//! client expects (never 201 or 204).

use actix_web::{delete, get, head, post, put, web, HttpResponse};

use super::wire::{
    Acknowledged, Connector, ConnectorList, ConnectorPath, ConnectorWritten, DeleteQuery, GetQuery,
    Info, InfoVersion, ListQuery, PutConnector, SecretBody, SecretCreated, SecretDeleted,
    SecretPath, SecretValue, UpdateApiKeyId, WriteResult, Written,
};
use super::TAG;
use crate::auth::Caller;
use crate::db::new_id;
use crate::db::version::IfMatch;
use crate::error::ApiError;
use crate::http::body::{JsonBody, OptionalJson, LARGEST_BODY};
use crate::http::params::{Path, Query};
use crate::keys::rights::Role;
use crate::resources::connectors::model::{ConnectorChanges, ConnectorRow};
use crate::resources::connectors::repo::{self as connectors, NewConnector, Put, SearchFilter};
use crate::resources::secrets::{domain as secret_rules, repo as secrets};
use crate::state::AppState;

/// The API version keygate answers as: elasticsearch-py 9 sends
/// `compatible-with=9`.
const API_VERSION: &str = "9.0.0";

impl From<ConnectorRow> for Connector {
    fn from(row: ConnectorRow) -> Self {
        Connector {
            id: row.id,
            name: row.name,
            description: row.description,
            index_name: row.index_name,
            service_type: row.service_type,
            api_key_id: row.api_key_id,
            api_key_secret_id: row.api_key_secret_id,
            is_native: false,
            language: None,
            status: "created".to_owned(),
            sync_now: false,
            deleted: false,
            configuration: Default::default(),
            custom_scheduling: Default::default(),
            scheduling: Default::default(),
            filtering: Vec::new(),
        }
    }
}

/// The domain's input from the vendor's body (absent: every field empty).
/// `is_native: true` asks for what keygate cannot do; `language` is not
/// stored.
fn new_connector(body: Option<PutConnector>) -> Result<NewConnector, ApiError> {
    let body = body.unwrap_or_default();
    if body.is_native == Some(true) {
        return Err(ApiError::invalid_field(
            "is_native",
            "not_supported",
            "keygate runs no native connectors; leave is_native out or false",
        ));
    }
    let input = NewConnector {
        name: body.name,
        description: body.description,
        index_name: body.index_name,
        service_type: body.service_type,
        api_key_id: None,
        api_key_secret_id: None,
    };
    validator::Validate::validate(&input)?;
    Ok(input)
}

/// A list filter's comma-separated values.
fn values(list: Option<String>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Server information
///
/// What `info()` reads at start: keygate's name and the Elasticsearch API
/// version it speaks. Public, like `/healthz`: it describes the server, not
/// an organization.
#[utoipa::path(
    tag = TAG,
    responses((status = 200, description = "The server's name and versions.", body = Info))
)]
#[get("/")]
pub async fn es_info() -> web::Json<Info> {
    web::Json(Info {
        name: "keygate".to_owned(),
        cluster_name: "keygate".to_owned(),
        cluster_uuid: "_na_".to_owned(),
        version: InfoVersion {
            number: API_VERSION.to_owned(),
            build_flavor: "default".to_owned(),
            keygate_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        tagline: "You Know, for Search".to_owned(),
    })
}

/// Ping
///
/// What `ping()` sends: 200 with no body when the server is up. Public.
#[utoipa::path(
    tag = TAG,
    responses((status = 200, description = "The server is up."))
)]
#[head("/")]
pub async fn es_ping() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Create or update a connector
///
/// `connector.put(connector_id=...)`: creates the connector with this id
/// (`result: created`) or replaces its name, description, index and
/// service type (`result: updated`), keeping the API key and secret set
/// with `_api_key_id`. The same connector as `/v1/connectors/{id}`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector")), ("x-keygate-acts-as" = json!("put_connector"))),
    params(ConnectorPath),
    request_body(content = Option<PutConnector>),
    responses(
        (status = 200, description = "Created or updated.", body = ConnectorWritten),
        (status = 409, description = "Another request created the connector at the same moment; retry.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "already_exists", "a resource with the same unique value already exists"))),
    )
)]
#[put("/{connector_id}")]
pub async fn es_put_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    body: OptionalJson<PutConnector>,
) -> Result<web::Json<ConnectorWritten>, ApiError> {
    let id = path.into_inner().connector_id.0;
    let input = new_connector(body.0)?;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (row, done) = state
        .db
        .write(move |conn| connectors::put_keeping_api_key(conn, &org, &id, &input, audit.clone()))
        .await?;
    let result = match done {
        Put::Created => WriteResult::Created,
        Put::Replaced => WriteResult::Updated,
    };
    Ok(web::Json(ConnectorWritten { result, id: row.id }))
}

async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: Option<PutConnector>,
) -> Result<web::Json<ConnectorWritten>, ApiError> {
    let input = new_connector(body)?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| connectors::create(conn, &org, &input, audit.clone()))
        .await?;
    Ok(web::Json(ConnectorWritten {
        result: WriteResult::Created,
        id: row.id,
    }))
}

/// Create a connector
///
/// `connector.post()`: creates a connector with a server-chosen id (`con_`
/// and 32 hex digits).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector")), ("x-keygate-acts-as" = json!("create_connector"))),
    request_body(content = Option<PutConnector>),
    responses((status = 200, description = "Created.", body = ConnectorWritten))
)]
#[post("")]
pub async fn es_create_connector(
    caller: Caller,
    state: web::Data<AppState>,
    body: OptionalJson<PutConnector>,
) -> Result<web::Json<ConnectorWritten>, ApiError> {
    create(caller, state, body.0).await
}

/// Create a connector (PUT without an id)
///
/// `connector.put()` without `connector_id`: the same as `POST
/// /_connector`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector")), ("x-keygate-acts-as" = json!("create_connector"))),
    request_body(content = Option<PutConnector>),
    responses((status = 200, description = "Created.", body = ConnectorWritten))
)]
#[put("")]
pub async fn es_create_connector_by_put(
    caller: Caller,
    state: web::Data<AppState>,
    body: OptionalJson<PutConnector>,
) -> Result<web::Json<ConnectorWritten>, ApiError> {
    create(caller, state, body.0).await
}

/// Get a connector
///
/// `connector.get(connector_id=...)`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_connector"))),
    params(ConnectorPath, GetQuery),
    responses((status = 200, description = "The connector.", body = Connector))
)]
#[get("/{connector_id}")]
pub async fn es_get_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    _query: Query<GetQuery>,
) -> Result<web::Json<Connector>, ApiError> {
    let id = path.into_inner().connector_id.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| connectors::get(conn, &org, &id))
        .await?;
    Ok(web::Json(row.into()))
}

/// List connectors
///
/// `connector.list(...)`: the organization's connectors in id order,
/// `size` of them after skipping `from`, with the `count` of all that
/// match.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("list_connectors"))),
    params(ListQuery),
    responses((status = 200, description = "A page of connectors and the total.", body = ConnectorList))
)]
#[get("")]
pub async fn es_list_connectors(
    caller: Caller,
    state: web::Data<AppState>,
    query: Query<ListQuery>,
) -> Result<web::Json<ConnectorList>, ApiError> {
    let query = query.into_inner();
    validator::Validate::validate(&query)?;
    let filter = SearchFilter {
        names: values(query.connector_name),
        index_names: values(query.index_name),
        service_types: values(query.service_type),
        text: query.query.filter(|q| !q.is_empty()),
    };
    let (from, size) = (i64::from(query.from), i64::from(query.size));
    let org = caller.organization_id;
    let (rows, count) = state
        .db
        .read(move |conn| connectors::search(conn, &org, &filter, from, size))
        .await?;
    Ok(web::Json(ConnectorList {
        count,
        results: rows.into_iter().map(Connector::from).collect(),
    }))
}

/// Delete a connector
///
/// `connector.delete(connector_id=...)`: deletes the connector at once;
/// the API key and secret it names stay.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector")), ("x-keygate-acts-as" = json!("delete_connector"))),
    params(ConnectorPath, DeleteQuery),
    responses((status = 200, description = "Deleted.", body = Acknowledged))
)]
#[delete("/{connector_id}")]
pub async fn es_delete_connector(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    _query: Query<DeleteQuery>,
) -> Result<web::Json<Acknowledged>, ApiError> {
    let id = path.into_inner().connector_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| {
            connectors::delete(conn, &org, &id, &IfMatch::parse(None), audit.clone())
        })
        .await?;
    Ok(web::Json(Acknowledged { acknowledged: true }))
}

/// Set a connector's API key
///
/// `connector.update_api_key_id(...)`: sets or clears the keygate API key
/// the connector writes with and the secret holding its encoded value.
/// Each id must name an API key or secret of the caller's organization
/// (400). A field left out stays; `{}` or the values the connector already
/// has change nothing (`result: noop`).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("connector")), ("x-keygate-acts-as" = json!("update_connector_api_key_id"))),
    params(ConnectorPath),
    request_body = UpdateApiKeyId,
    responses((status = 200, description = "`updated`, or `noop` when nothing changed.", body = Written))
)]
#[put("/{connector_id}/_api_key_id")]
pub async fn es_update_connector_api_key_id(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ConnectorPath>,
    body: JsonBody<UpdateApiKeyId>,
) -> Result<web::Json<Written>, ApiError> {
    let id = path.into_inner().connector_id.0;
    let body = body.into_inner();
    let changes = ConnectorChanges {
        api_key_id: body.api_key_id,
        api_key_secret_id: body.api_key_secret_id,
        ..ConnectorChanges::default()
    };
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (_, changed) = state
        .db
        .write(move |conn| {
            connectors::update_api_key_id(
                conn,
                &org,
                &id,
                &IfMatch::parse(None),
                changes.clone(),
                audit.clone(),
            )
        })
        .await?;
    let result = if changed {
        WriteResult::Updated
    } else {
        WriteResult::Noop
    };
    Ok(web::Json(Written { result }))
}

/// Create a connector secret
///
/// `perform_request("POST", "/_connector/_secret", body={"value": ...})`:
/// stores the value encrypted and returns its new id. The same secret as
/// `/v1/secrets/{id}`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret")), ("x-keygate-acts-as" = json!("create_secret"))),
    request_body = SecretBody,
    responses((status = 200, description = "The new secret's id.", body = SecretCreated))
)]
#[post("/_secret")]
pub async fn es_create_secret(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<SecretBody, LARGEST_BODY>,
) -> Result<web::Json<SecretCreated>, ApiError> {
    let value = body.into_inner().value;
    secret_rules::check_value(&value)?;
    let vault = state.vault()?.clone();
    let id = new_id("sec_");
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| secrets::create(conn, &vault, &org, &id, &value, None, audit.clone()))
        .await?;
    Ok(web::Json(SecretCreated { id: row.id }))
}

/// Get a connector secret's value
///
/// `perform_request("GET", "/_connector/_secret/{id}")`: the plaintext
/// value. As natively, it needs a `personal` key and every read is audited.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("secret")), ("x-keygate-acts-as" = json!("get_secret"))),
    params(SecretPath),
    responses((status = 200, description = "The secret's id and value.", body = SecretValue))
)]
#[get("/_secret/{secret_id}")]
pub async fn es_get_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
) -> Result<web::Json<SecretValue>, ApiError> {
    let id = path.into_inner().secret_id.0;
    let vault = state.vault()?.clone();
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let (row, value) = state
        .db
        .write(move |conn| secrets::read_version(conn, &vault, &org, &id, None, audit.clone()))
        .await?;
    Ok(web::Json(SecretValue {
        id: row.id,
        value: value.value,
    }))
}

/// Create or replace a connector secret
///
/// `perform_request("PUT", "/_connector/_secret/{id}", body={"value":
/// ...})`: stores the value under this id (`result: created`) or replaces
/// it (`result: updated`).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret")), ("x-keygate-acts-as" = json!("put_secret"))),
    params(SecretPath),
    request_body = SecretBody,
    responses((status = 200, description = "Created or replaced.", body = Written))
)]
#[put("/_secret/{secret_id}")]
pub async fn es_put_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
    body: JsonBody<SecretBody, LARGEST_BODY>,
) -> Result<web::Json<Written>, ApiError> {
    let id = path.into_inner().secret_id.0;
    let value = body.into_inner().value;
    secret_rules::check_value(&value)?;
    let vault = state.vault()?.clone();
    let keep = state.secret_versions;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let (_, created) = state
        .db
        .write(move |conn| {
            secrets::put(
                conn,
                &vault,
                &org,
                &id,
                &value,
                None,
                &IfMatch::parse(None),
                keep,
                audit.clone(),
            )
        })
        .await?;
    let result = if created {
        WriteResult::Created
    } else {
        WriteResult::Updated
    };
    Ok(web::Json(Written { result }))
}

/// Delete a connector secret
///
/// `perform_request("DELETE", "/_connector/_secret/{id}")`; 409 while a
/// connector names the secret.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("secret")), ("x-keygate-acts-as" = json!("delete_secret"))),
    params(SecretPath),
    responses(
        (status = 200, description = "Deleted.", body = SecretDeleted),
        (status = 409, description = "A connector names the secret.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "still_referenced", "the resource is referenced by another resource"))),
    )
)]
#[delete("/_secret/{secret_id}")]
pub async fn es_delete_secret(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<SecretPath>,
) -> Result<web::Json<SecretDeleted>, ApiError> {
    let id = path.into_inner().secret_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| {
            secrets::delete(conn, &org, &id, &IfMatch::parse(None), keep, audit.clone())
        })
        .await?;
    Ok(web::Json(SecretDeleted { deleted: true }))
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn list_filters_split_on_commas_and_drop_empty_values() {
        assert_eq!(values(Some("a, b,,c".into())), ["a", "b", "c"]);
        assert!(values(Some(String::new())).is_empty());
        assert!(values(None).is_empty());
    }
}
