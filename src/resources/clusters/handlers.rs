//! HTTP handlers of `/v1/clusters` and their key rotation.

use actix_web::http::header;
use std::collections::HashMap;

use actix_web::{delete, get, patch, post, web, HttpResponse};
use validator::Validate;

use super::domain::ClusterKey;
use super::dto::{
    Cluster, ClusterList, ClusterPath, ClusterServicePath, ClusterWithKey, CreateCluster,
    CreateClusterQuery, CreatedCluster, UpdateCluster,
};
use super::model::ClusterRow;
use super::repo::{self, KeyOwner, Repeat};
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::{JsonBody, OptionalJson};
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::PageQuery;
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::dto::{RevokedPending, RotateKey};
use crate::keys::rights::Role;
use crate::state::AppState;

/// A cluster's view from the row and keys the repo read.
fn view((row, mut keys): (ClusterRow, HashMap<String, ClusterKey>)) -> Result<Cluster, ApiError> {
    Cluster::from_row(row, &mut keys)
}

/// Connect a cluster
///
/// Connects a self-managed cluster to the caller's organization with a
/// server-chosen id (32 lowercase letters or digits). Connecting is
/// idempotent on `self_managed_cluster.id` within the organization: the
/// same body again answers 200 with the existing cluster; a different body
/// for the same `self_managed_cluster.id` is 409. With
/// `create_api_key=true` the answer also carries the cluster's key
/// (`kg_ck_...`) in `key`, shown only this once; a repeated call issues a
/// key only when the cluster has none yet (use `rotate_cluster_api_key` to
/// replace a lost key).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(CreateClusterQuery),
    request_body(content = CreateCluster, example = json!({"name": "my-production-cluster", "self_managed_cluster": {"id": "bJnDrHbXR4-7yT1iQk9dXA", "name": "production-cluster", "version": "9.1.0"}, "license": {"type": "enterprise", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}, "services": {"auto_ops": {"enabled": true}}})),
    responses(
        (status = 200, description = "The cluster was already connected with these settings; `key` only when this call issued the cluster's first key.", body = CreatedCluster,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 201, description = "The cluster, connected now; `key` when `create_api_key=true`.", body = CreatedCluster,
            headers(("Location" = String, description = "Path of the new cluster."), ("ETag" = String, description = "Version of the cluster, for `If-Match`.")),
            example = json!({"id": "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "name": "my-production-cluster", "self_managed_cluster": {"id": "bJnDrHbXR4-7yT1iQk9dXA", "name": "production-cluster", "version": "9.1.0"}, "license": {"type": "enterprise", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}, "services": {"eis": {"enabled": false, "api_key": null}, "auto_ops": {"enabled": true, "api_key": null}}, "api_key": {"key_prefix": "kg_ck_Ab3d", "key_last4": "x9Q2", "created_at": "2026-11-23T12:00:00Z", "pending_keys": []}, "created_at": "2026-11-23T12:00:00Z", "updated_at": "2026-11-23T12:00:00Z", "key": "kg_ck_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2"})),
        (status = 409, description = "This `self_managed_cluster.id` is already connected with other settings, or a concurrent request connected it first (retry to get it).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "cluster cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 already connects self-managed cluster 3a1b9c2d with other settings; change it with PATCH", "/v1/clusters"))),
    )
)]
#[post("/clusters")]
pub async fn create_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    query: Query<CreateClusterQuery>,
    body: JsonBody<CreateCluster>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.into_inner().into_spec()?;
    let create_key = query.create_api_key.unwrap_or(false);
    let audit = caller.audit("");
    let org = caller.organization_id;
    let (created, cluster) = state
        .db
        .write(move |conn| {
            let created =
                repo::create(conn, &org, &spec, create_key, Repeat::Refuse, audit.clone())?;
            let cluster = view(repo::with_keys(conn, &org, created.row.clone())?)?;
            Ok((created, cluster))
        })
        .await?;
    let etag = created.row.etag();
    let body = CreatedCluster {
        cluster,
        key: created.key.map(|k| k.value),
    };
    let mut response = if created.new {
        let mut builder = HttpResponse::Created();
        builder.insert_header((header::LOCATION, format!("/v1/clusters/{}", created.row.id)));
        builder
    } else {
        HttpResponse::Ok()
    };
    Ok(response.insert_header((header::ETAG, etag)).json(body))
}

/// List clusters
///
/// The organization's connected clusters in id order, a page at a time.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(PageQuery),
    responses((status = 200, description = "A page of clusters.", body = ClusterList))
)]
#[get("/clusters")]
pub async fn list_clusters(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
) -> Result<web::Json<ClusterList>, ApiError> {
    let page = page.page()?;
    let org = caller.organization_id;
    let query_page = page.clone();
    let (rows, mut keys) = state
        .db
        .read(move |conn| {
            let rows = repo::list(conn, &org, &query_page)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let keys = repo::keys_of(conn, &org, &ids)?;
            Ok((rows, keys))
        })
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|row| Cluster::from_row(row, &mut keys))
        .collect::<Result<_, _>>()?;
    Ok(web::Json(ClusterList { data, next_cursor }))
}

/// Get a cluster
///
/// One connected cluster of the caller's organization, with the prefixes of
/// its keys and of its services' keys (never the keys).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ClusterPath),
    responses((status = 200, description = "The cluster.", body = Cluster,
        headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))))
)]
#[get("/clusters/{cluster_id}")]
pub async fn get_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().cluster_id.0;
    let org = caller.organization_id;
    let (etag, cluster) = state
        .db
        .read(move |conn| {
            let row = repo::get(conn, &org, &id)?;
            Ok((row.etag(), view(repo::with_keys(conn, &org, row)?)?))
        })
        .await?;
    Ok(json_with_etag(&etag, &cluster))
}

/// Update a cluster
///
/// A JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or
/// `application/json`: a field left out stays, an object is merged into the
/// current one (`{"services": {"eis": {"enabled": true}}}` leaves `auto_ops`
/// alone), and `null` clears `license`. `self_managed_cluster.id` cannot
/// change. A partial `license` on a cluster without one is 409
/// `license_incomplete`. Disabling a service revokes its keys at once. With `If-Match`, a
/// cluster changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterPath, IfMatch),
    request_body(content(
        (UpdateCluster = "application/merge-patch+json", example = json!({"name": "my-renamed-cluster", "self_managed_cluster": {"version": "9.2.0"}, "services": {"eis": {"enabled": true}}})),
        (UpdateCluster = "application/json", example = json!({"license": null}))
    )),
    responses(
        (status = 200, description = "The cluster after the change.", body = Cluster,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 409, description = "`license` gives only `type` or only `uid`, and the cluster has no license to take the other from.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "license_incomplete", "the cluster has no license to merge into; give both license.type and license.uid", "/v1/clusters/cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[patch("/clusters/{cluster_id}")]
pub async fn update_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateCluster>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().cluster_id.0;
    let patch = body.into_inner();
    patch.check()?;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (etag, cluster) = state
        .db
        .write(move |conn| {
            let row = repo::update(
                conn,
                &org,
                &id,
                &if_match,
                |current| patch.clone().apply(current),
                audit.clone(),
            )?;
            Ok((row.etag(), view(repo::with_keys(conn, &org, row)?)?))
        })
        .await?;
    Ok(json_with_etag(&etag, &cluster))
}

/// Disconnect a cluster
///
/// Deletes the cluster and every key of it and of its services in one
/// transaction: they stop verifying at once. With `If-Match`, a cluster
/// changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterPath, IfMatch),
    responses((status = 204, description = "Disconnected; its keys no longer verify."))
)]
#[delete("/clusters/{cluster_id}")]
pub async fn delete_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().cluster_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| repo::delete(conn, &org, &id, &if_match, audit.clone()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotates the cluster's or a service's key and answers like
/// `rotate_api_key`: the resource with the new key.
async fn rotate(
    caller: Caller,
    state: web::Data<AppState>,
    id: String,
    service: KeyOwner,
    if_match: IfMatch,
    body: OptionalJson<RotateKey>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0.unwrap_or_default();
    body.validate()?;
    let grace = body.grace_seconds();
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let (etag, cluster, key) = state
        .db
        .write(move |conn| {
            let (row, key) =
                repo::rotate(conn, &org, &id, service, &if_match, grace, audit.clone())?;
            Ok((row.etag(), view(repo::with_keys(conn, &org, row)?)?, key))
        })
        .await?;
    let body = ClusterWithKey {
        cluster,
        key: key.value,
    };
    Ok(json_with_etag(&etag, &body))
}

/// Ends the pending keys of the cluster or of a service, like
/// `revoke_pending_api_key`.
async fn revoke_pending(
    caller: Caller,
    state: web::Data<AppState>,
    id: String,
    service: KeyOwner,
) -> Result<web::Json<RevokedPending>, ApiError> {
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let revoked = state
        .db
        .write(move |conn| {
            repo::revoke_pending(
                conn,
                &org,
                &id,
                service,
                &IfMatch::parse(None),
                audit.clone(),
            )
        })
        .await?;
    Ok(web::Json(RevokedPending { revoked }))
}

/// Rotate a cluster's key
///
/// Issues a new cluster key (`kg_ck_...`) and returns it in `key`, shown
/// only in this response; a cluster without a key gets its first one. The
/// previous key keeps working as a *pending* key for `grace_period_seconds`
/// (default 604,800: seven days; 0 ends it at once) and is listed in
/// `api_key.pending_keys`. `POST /v1/verify` reports it as `status:
/// pending`. The body is optional. With `If-Match`, a cluster changed since
/// that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterPath, IfMatch),
    request_body(content = Option<RotateKey>, example = json!({"grace_period_seconds": 86400})),
    responses((status = 200, description = "The cluster with its new key, shown once.", body = ClusterWithKey,
        headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))))
)]
#[post("/clusters/{cluster_id}/api_key/rotate")]
pub async fn rotate_cluster_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
    if_match: IfMatch,
    body: OptionalJson<RotateKey>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().cluster_id.0;
    rotate(caller, state, id, None, if_match, body).await
}

/// Revoke a cluster's pending keys
///
/// Ends every pending (rotated-away) cluster key now and says how many
/// there were; the current key keeps working.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterPath),
    responses((status = 200, description = "How many pending keys stopped working.", body = RevokedPending))
)]
#[post("/clusters/{cluster_id}/api_key/revoke_pending")]
pub async fn revoke_pending_cluster_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
) -> Result<web::Json<RevokedPending>, ApiError> {
    let id = path.into_inner().cluster_id.0;
    revoke_pending(caller, state, id, None).await
}

/// Rotate a cluster service's key
///
/// Like `rotate_cluster_api_key` for one service's key (`kg_cs_...`):
/// `service` is `eis` or `auto_ops` and must be enabled on the cluster
/// (409 otherwise). The new key is in `key`, shown only here; the
/// service's keys are listed under `services.<service>.api_key`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterServicePath, IfMatch),
    request_body(content = Option<RotateKey>, example = json!({"grace_period_seconds": 0})),
    responses(
        (status = 200, description = "The cluster with the service's new key, shown once.", body = ClusterWithKey,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 409, description = "The service is not enabled on the cluster.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "service_not_enabled", "service eis is not enabled on cluster cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3; enable it with PATCH first", "/v1/clusters/cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3/services/eis/api_key/rotate"))),
    )
)]
#[post("/clusters/{cluster_id}/services/{service}/api_key/rotate")]
pub async fn rotate_cluster_service_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterServicePath>,
    if_match: IfMatch,
    body: OptionalJson<RotateKey>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let service = Some(path.service);
    rotate(caller, state, path.cluster_id.0, service, if_match, body).await
}

/// Revoke a cluster service's pending keys
///
/// Ends every pending key of one service now and says how many there were.
/// The service must be enabled on the cluster (409 otherwise).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster"))),
    params(ClusterServicePath),
    responses(
        (status = 200, description = "How many pending keys stopped working.", body = RevokedPending),
        (status = 409, description = "The service is not enabled on the cluster.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "service_not_enabled", "service eis is not enabled on cluster cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3; enable it with PATCH first", "/v1/clusters/cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3/services/eis/api_key/revoke_pending"))),
    )
)]
#[post("/clusters/{cluster_id}/services/{service}/api_key/revoke_pending")]
pub async fn revoke_pending_cluster_service_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterServicePath>,
) -> Result<web::Json<RevokedPending>, ApiError> {
    let path = path.into_inner();
    revoke_pending(caller, state, path.cluster_id.0, Some(path.service)).await
}
