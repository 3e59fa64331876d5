//! The Apinizer paths: the handler translates Apinizer's camelCase body
//! (`null` meaning not given), calls the same domain function as its
//! native twin (`x-keygate-acts-as`), and answers exactly `{"success":
//! true}`.

use actix_web::{delete, get, patch, post, web};

use super::wire::{
    CreateProxy, CreationType, Deleted, DeploymentResult, ProjectEntry, ProjectList, ProxyDetail,
    ProxyEntry, ProxyList, Routing, RoutingAddress, Success, UpdateKeys,
};
use super::TAG;
use crate::auth::Caller;
use crate::db::page::{every, Page};
use crate::db::version::IfMatch;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::params::Path;
use crate::keys::rights::Role;
use crate::resources::api_proxies::dto::{ApiProxyPath, CreateApiProxy, UpdateApiProxyKeys};
use crate::resources::api_proxies::model::ApiProxyRow;
use crate::resources::api_proxies::repo;
use crate::resources::projects::dto::ProjectPath;
use crate::resources::projects::repo as projects;
use crate::state::AppState;

/// Rows read a query at a time when a list answers every row.
const BATCH: i64 = 500;

/// A switch of Apinizer's that keygate does not have: absent or `false`
/// is accepted, `true` is a 400 naming the field.
fn refuse_switch(field: &str, on: Option<bool>, message: &str) -> Result<(), ApiError> {
    if on == Some(true) {
        return Err(ApiError::invalid_field(field, "not_supported", message));
    }
    Ok(())
}

/// `deploy: true` has no meaning in keygate (no environments): 400.
fn refuse_deploy(deploy: Option<bool>) -> Result<(), ApiError> {
    refuse_switch(
        "deploy",
        deploy,
        "deployment is not supported: keygate has no environments; leave deploy out or false",
    )
}

/// The create body's specification and SOAP settings, which a reverse
/// proxy does not use: each may be left out or off, none turned on.
fn refuse_unused_settings(body: &CreateProxy) -> Result<(), ApiError> {
    refuse_switch(
        "reParse",
        body.re_parse,
        "keygate parses no specification; leave reParse out or false",
    )?;
    for (field, on) in [
        ("soapToRest", body.soap_to_rest),
        ("enableWSA", body.enable_wsa),
        ("enableWSRM", body.enable_wsrm),
    ] {
        refuse_switch(
            field,
            on,
            "is for SOAP APIs, which keygate does not proxy; leave it out or false",
        )?;
    }
    refuse_switch(
        "maintenanceModeSetting.enabled",
        body.maintenance_mode_setting
            .as_ref()
            .and_then(|m| m.enabled),
        "keygate's API proxies have no maintenance mode; leave it out or false",
    )?;
    if body
        .spec_authorization_value_list
        .as_ref()
        .is_some_and(|list| !list.is_empty())
    {
        return Err(ApiError::invalid_field(
            "specAuthorizationValueList",
            "not_supported",
            "is not used for REVERSE_PROXY; leave it out or empty",
        ));
    }
    Ok(())
}

/// The native create's field names as Apinizer writes them.
const CREATE_FIELDS: &[(&str, &str)] = &[
    ("name", "apiProxyName"),
    ("description", "apiProxyDescription"),
    ("upstream_url", "routingInfo.routingAddressList[0].address"),
];

/// List projects
///
/// Every project of the caller's organization, in creation order, as
/// `GET /v1/projects` pages them.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("list_projects"))),
    responses((status = 200, description = "Every project.", body = ProjectList,
        example = json!({"status": "SUCCESS", "resultList": [{"name": "MyProject", "description": "Partner APIs"}], "resultCount": 1})))
)]
#[get("/projects/")]
pub async fn apinizer_list_projects(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<ProjectList>, ApiError> {
    let org = caller.organization_id;
    let rows = state
        .db
        .read(move |conn| every(BATCH, |page| projects::list(conn, &org, page), |r| &r.id))
        .await?;
    let result_list: Vec<ProjectEntry> = rows
        .into_iter()
        .map(|r| ProjectEntry {
            name: r.name,
            description: r.description,
        })
        .collect();
    Ok(web::Json(ProjectList {
        status: "SUCCESS",
        result_count: result_list.len(),
        result_list,
    }))
}

/// Create an API proxy from a URL
///
/// Creates a reverse proxy in the project, as `POST
/// /v1/projects/{project_name}/api_proxies` does: `apiProxyName` follows
/// the native name rule and is unique in the project (409 `conflict`), and
/// the one routing address becomes the proxy's `upstream_url` (an absolute
/// `http` or `https` URL). Only `REVERSE_PROXY` is supported (keygate
/// never fetches a specification, so `specUrl` must be left out), at most
/// one routing address, and `deploy: true` is refused: keygate has no
/// environments. Apinizer's other documented fields are accepted when off
/// (`reParse`, `soapToRest`, `enableWSA`, `enableWSRM`,
/// `maintenanceModeSetting.enabled` false; `specAuthorizationValueList`
/// empty) and refused when on; the client route and `backendApiVersion`
/// are accepted and not kept.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy")), ("x-keygate-acts-as" = json!("create_api_proxy"))),
    params(ProjectPath),
    request_body = CreateProxy,
    responses(
        (status = 200, description = "The proxy is created.", body = Success, example = json!({"success": true})),
        (status = 409, description = "The project already has an API proxy of this name.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "already_exists", "project MyProject already has an API proxy named OrdersAPI"))),
    )
)]
#[post("/projects/{project_name}/apiProxies/url/")]
pub async fn apinizer_create_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
    body: JsonBody<CreateProxy>,
) -> Result<web::Json<Success>, ApiError> {
    let project_name = path.into_inner().project_name.0;
    let body = body.into_inner();
    refuse_deploy(body.deploy)?;
    if body.api_proxy_creation_type != CreationType::ReverseProxy {
        return Err(ApiError::invalid_field(
            "apiProxyCreationType",
            "not_supported",
            "only REVERSE_PROXY is supported: keygate never fetches a specification",
        ));
    }
    if body.spec_url.is_some() {
        return Err(ApiError::invalid_field(
            "specUrl",
            "not_supported",
            "is not used for REVERSE_PROXY; leave it out",
        ));
    }
    refuse_unused_settings(&body)?;
    let mut addresses = body
        .routing_info
        .map(|r| r.routing_address_list)
        .unwrap_or_default();
    if addresses.len() > 1 {
        return Err(ApiError::invalid_field(
            "routingInfo.routingAddressList",
            "too_many",
            "keygate keeps one routing address (the upstream) per API proxy",
        ));
    }
    let input = CreateApiProxy {
        name: body.api_proxy_name,
        description: body.api_proxy_description,
        upstream_url: addresses.pop().map(|a| a.address),
    }
    .into_input()
    .map_err(|e| crate::dialects::shared::vendor_fields(e, CREATE_FIELDS))?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| repo::create(conn, &org, &project_name, &input, audit.clone()))
        .await?;
    Ok(web::Json(Success { success: true }))
}

fn entry(row: ApiProxyRow) -> ProxyEntry {
    ProxyEntry {
        name: row.name,
        description: row.description,
        kind: "REST",
        relative_path: None,
        soap_to_rest: false,
    }
}

/// List API proxies
///
/// Every API proxy of the project, as `GET
/// /v1/projects/{project_name}/api_proxies` pages them, ordered by name
/// as Apinizer orders them; 404 when the project does not exist.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("list_api_proxies"))),
    params(ProjectPath),
    responses((status = 200, description = "Every API proxy of the project.", body = ProxyList,
        example = json!({"status": "SUCCESS", "resultList": [{"name": "OrdersAPI", "description": "Orders API for partners", "type": "REST", "relativePath": null, "soapToRest": false}], "resultCount": 1})))
)]
#[get("/projects/{project_name}/apiProxies/")]
pub async fn apinizer_list_api_proxies(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProjectPath>,
) -> Result<web::Json<ProxyList>, ApiError> {
    let project_name = path.into_inner().project_name.0;
    let org = caller.organization_id;
    let rows = state
        .db
        .read(move |conn| {
            every(
                BATCH,
                |page: &Page| repo::list(conn, &org, &project_name, page).map(|(_, rows)| rows),
                |r| &r.id,
            )
        })
        .await?;
    let mut rows = rows;
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let result_list: Vec<ProxyEntry> = rows.into_iter().map(entry).collect();
    Ok(web::Json(ProxyList {
        status: "SUCCESS",
        result_count: result_list.len(),
        result_list,
    }))
}

/// Get an API proxy
///
/// One API proxy, as `GET /v1/projects/{project_name}/api_proxies/
/// {api_proxy_name}` finds it: its upstream as the one routing address,
/// its public key and, of the secret key, only the last four characters.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_api_proxy"))),
    params(ApiProxyPath),
    responses((status = 200, description = "The API proxy.", body = ProxyDetail))
)]
#[get("/projects/{project_name}/apiProxies/{api_proxy_name}/")]
pub async fn apinizer_get_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
) -> Result<web::Json<ProxyDetail>, ApiError> {
    let path = path.into_inner();
    let org = caller.organization_id;
    let (_, row) = state
        .db
        .read(move |conn| repo::get(conn, &org, &path.project_name.0, &path.api_proxy_name.0))
        .await?;
    let routing_address_list = row
        .upstream_url
        .map(|address| RoutingAddress {
            address,
            weight: Some(100),
            health_check_enabled: Some(false),
        })
        .into_iter()
        .collect();
    Ok(web::Json(ProxyDetail {
        name: row.name,
        description: row.description,
        api_type: "REST",
        category_list: Vec::new(),
        sharing_type: "PRIVATE",
        client_route: None,
        routing: Routing {
            routing_address_list,
        },
        deployment_list: Vec::new(),
        public_key: row.public_key,
        secret_key_last4: row.secret_key_last4,
    }))
}

/// Delete an API proxy
///
/// Deletes the API proxy, as `DELETE /v1/projects/{project_name}/
/// api_proxies/{api_proxy_name}` does: its keys stop working at once and
/// become free for other proxies. A missing project or proxy is 404 (as
/// on get and update; Apinizer's delete page says 400 for a missing
/// proxy, its other pages 404).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy")), ("x-keygate-acts-as" = json!("delete_api_proxy"))),
    params(ApiProxyPath),
    responses((status = 200, description = "Deleted.", body = Deleted,
        example = json!({"success": true, "deploymentResult": {"success": true, "deploymentResults": []}})))
)]
#[delete("/projects/{project_name}/apiProxies/{api_proxy_name}/")]
pub async fn apinizer_delete_api_proxy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
) -> Result<web::Json<Deleted>, ApiError> {
    let path = path.into_inner();
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::delete(
                conn,
                &org,
                project,
                name,
                &IfMatch::parse(None),
                audit.clone(),
            )
        })
        .await?;
    Ok(web::Json(Deleted {
        success: true,
        deployment_result: DeploymentResult {
            success: true,
            deployment_results: Vec::new(),
        },
    }))
}

/// Update API keys
///
/// Sets the API proxy's `publicKey` and/or `secretKey`, as `PATCH
/// /v1/projects/{project_name}/api_proxies/{api_proxy_name}/settings/keys`
/// does: at least one key (a `null` key is not given), none blank or
/// whitespace-only, the two different, and each unique among the
/// organization's proxy keys (409 `conflict`). The secret key is encrypted
/// at rest. `deploy: true` is refused: keygate has no environments.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("api_proxy")), ("x-keygate-acts-as" = json!("update_api_proxy_keys"))),
    params(ApiProxyPath),
    request_body(content = UpdateKeys, examples(
        ("both_keys" = (summary = "Update both keys", value = json!({"publicKey": "ak_1234567890abcdef", "secretKey": "sk_9876543210fedcba"}))),
        ("public_key_only" = (summary = "Update only the public key", value = json!({"publicKey": "ak_1234567890abcdef"}))),
        ("secret_key_only" = (summary = "Update only the secret key", value = json!({"secretKey": "sk_9876543210fedcba"}))),
    )),
    responses(
        (status = 200, description = "The keys are set.", body = Success, example = json!({"success": true})),
        (status = 409, description = "A key is already used by another API proxy of the organization, or is this proxy's other key.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "duplicate_key", "secret_key is already a key of another API proxy in the organization"))),
    )
)]
#[patch("/projects/{project_name}/apiProxies/{api_proxy_name}/settings/keys/")]
pub async fn apinizer_update_api_proxy_keys(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiProxyPath>,
    body: JsonBody<UpdateKeys>,
) -> Result<web::Json<Success>, ApiError> {
    let path = path.into_inner();
    let body = body.into_inner();
    refuse_deploy(body.deploy)?;
    let keys = UpdateApiProxyKeys {
        public_key: body.public_key.map(Some),
        secret_key: body.secret_key.map(Some),
    }
    .into_keys()?;
    let vault = state.vault()?.clone();
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| {
            let (project, name) = (&path.project_name.0, &path.api_proxy_name.0);
            repo::set_keys(
                conn,
                &vault,
                &org,
                project,
                name,
                &IfMatch::parse(None),
                &keys,
                audit.clone(),
            )
        })
        .await?;
    Ok(web::Json(Success { success: true }))
}
