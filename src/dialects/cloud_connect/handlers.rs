//! The Cloud Connect paths: each handler translates Elastic's request,
//! calls the same domain function as its native twin (`x-keygate-acts-as`),
//! and translates the answer back.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use validator::Validate;

use super::wire::{
    Accepted, Cluster, ClusterList, ClusterPath, ClusterServicePath, CreateCluster, CreateQuery,
    CreatedCluster, Disconnected, Metadata, OrganizationPath, Revoked, RotatedKey, Service,
    Services, Subscription, TermsAndConditions,
};
use super::TAG;
use crate::auth::Caller;
use crate::db::page::Page;
use crate::error::ApiError;
use crate::http::body::{JsonBody, OptionalJson};
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::params::{Path, Query};
use crate::keys::dto::RotateKey;
use crate::keys::rights::Role;
use crate::resources::clusters::domain::{ClusterService, ClusterSpec, UpdateCluster};
use crate::resources::clusters::model::ClusterRow;
use crate::resources::clusters::repo::{self as clusters, KeyOwner, Repeat};
use crate::resources::organizations::model::OrganizationSettingsRow;
use crate::resources::organizations::repo as organizations;
use crate::state::AppState;

/// The prefix of keygate's organization ids, which Elastic's ids lack.
const ORGANIZATION_PREFIX: &str = "org_";

/// The view of a cluster row.
fn cluster(row: ClusterRow) -> Result<Cluster, ApiError> {
    let spec = row.spec()?;
    let service = |s: ClusterService| Service {
        enabled: s.enabled_in(&spec),
        supported: true,
    };
    Ok(Cluster {
        services: Services {
            auto_ops: service(ClusterService::AutoOps),
            eis: service(ClusterService::Eis),
        },
        id: row.id,
        name: spec.name.clone(),
        metadata: Metadata {
            created_at: row.created_at.and_utc(),
            created_by: None,
            organization_id: row
                .organization_id
                .strip_prefix(ORGANIZATION_PREFIX)
                .unwrap_or(&row.organization_id)
                .to_owned(),
        },
        self_managed_cluster: spec.self_managed_cluster,
        license: spec.license,
    })
}

/// List clusters
///
/// Every cluster of the caller's organization, in id order.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("list_clusters"))),
    responses((status = 200, description = "The clusters.", body = ClusterList))
)]
#[get("/clusters")]
pub async fn cc_list_clusters(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<ClusterList>, ApiError> {
    let org = caller.organization_id;
    let rows = state
        .db
        .read(move |conn| {
            // Elastic's list has no pages: read the domain's pages in turn.
            const LIMIT: i64 = 100;
            let mut rows: Vec<ClusterRow> = Vec::new();
            loop {
                let after = rows.last().map(|r| r.id.clone());
                let mut page = clusters::list(
                    conn,
                    &org,
                    &Page {
                        limit: LIMIT,
                        after,
                    },
                )?;
                let more = page.len() as i64 > LIMIT;
                page.truncate(LIMIT as usize);
                rows.extend(page);
                if !more {
                    return Ok(rows);
                }
            }
        })
        .await?;
    let items = rows.into_iter().map(cluster).collect::<Result<_, _>>()?;
    Ok(web::Json(ClusterList { items }))
}

/// Register a cluster
///
/// What the AutoOps agent sends on every start, and Kibana when it
/// onboards a cluster: connects the self-managed cluster (201), or, when
/// its `self_managed_cluster.id` is already connected, answers 200 with the
/// same cluster after taking the request's self-managed name, version and
/// license (an upgraded cluster re-registers with its new version). `name`
/// defaults to the self-managed cluster's name. With `create_api_key=true`
/// the answer carries the cluster's key in `key`, shown only this once (a
/// repeat issues one only when the cluster has none).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("create_cluster"))),
    params(CreateQuery),
    request_body = CreateCluster,
    responses(
        (status = 200, description = "Already registered: the same cluster, with the request's version and license.", body = CreatedCluster,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 201, description = "Registered now.", body = CreatedCluster,
            headers(("Location" = String, description = "Path of the new cluster."), ("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 409, description = "Another request registered the same cluster at the same moment; retry.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "already_exists", "a resource with the same unique value already exists"))),
    )
)]
#[post("/clusters")]
pub async fn cc_create_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    query: Query<CreateQuery>,
    body: JsonBody<CreateCluster>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let name_given = body.name.is_some();
    let mut spec = ClusterSpec {
        name: body
            .name
            .unwrap_or_else(|| body.self_managed_cluster.name.clone()),
        self_managed_cluster: body.self_managed_cluster,
        license: body.license,
        eis_enabled: false,
        auto_ops_enabled: false,
    };
    spec.set_services(body.services.unwrap_or_default());
    let create_key = query.create_api_key.unwrap_or(false);
    let audit = caller.audit("");
    let org = caller.organization_id;
    let repeat = Repeat::Register { name_given };
    let created = state
        .db
        .write(move |conn| clusters::create(conn, &org, &spec, create_key, repeat, audit.clone()))
        .await?;
    let etag = created.row.etag();
    let id = created.row.id.clone();
    let body = CreatedCluster {
        cluster: cluster(created.row)?,
        key: created.key.map(|k| k.value),
    };
    let mut response = if created.new {
        let mut builder = HttpResponse::Created();
        builder.insert_header((header::LOCATION, format!("{}/clusters/{id}", super::PREFIX)));
        builder
    } else {
        HttpResponse::Ok()
    };
    Ok(response.insert_header((header::ETAG, etag)).json(body))
}

/// Get a cluster
///
/// One cluster of the caller's organization.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_cluster"))),
    params(ClusterPath),
    responses((status = 200, description = "The cluster.", body = Cluster,
        headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))))
)]
#[get("/clusters/{cluster_id}")]
pub async fn cc_get_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().cluster_id.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| clusters::get(conn, &org, &id))
        .await?;
    Ok(json_with_etag(&row.etag(), &cluster(row)?))
}

/// Update a cluster
///
/// A merge: a field left out stays, an object is merged into the current
/// one, `null` clears `license`; disabling a service revokes its keys.
/// With `If-Match`, a cluster changed since that `ETag` is not touched
/// (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("update_cluster"))),
    params(ClusterPath, IfMatch),
    request_body(content = UpdateCluster, example = json!({"self_managed_cluster": {"version": "9.2.0"}, "services": {"eis": {"enabled": true}}})),
    responses(
        (status = 200, description = "The cluster after the change.", body = Cluster,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 409, description = "`license` gives only `type` or only `uid`, and the cluster has no license to take the other from.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "license_incomplete", "the cluster has no license to merge into; give both license.type and license.uid"))),
    )
)]
#[patch("/clusters/{cluster_id}")]
pub async fn cc_update_cluster(
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
    let row = state
        .db
        .write(move |conn| {
            clusters::update(
                conn,
                &org,
                &id,
                &if_match,
                |c| patch.clone().apply(c),
                audit.clone(),
            )
        })
        .await?;
    Ok(json_with_etag(&row.etag(), &cluster(row)?))
}

/// Disconnect a cluster
///
/// Deletes the cluster and every key of it and of its services: they stop
/// working at once. Answers 200 with `{}`. With `If-Match`, a cluster
/// changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("delete_cluster"))),
    params(ClusterPath, IfMatch),
    responses((status = 200, description = "Disconnected.", body = Disconnected))
)]
#[delete("/clusters/{cluster_id}")]
pub async fn cc_delete_cluster(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
    if_match: IfMatch,
) -> Result<web::Json<Disconnected>, ApiError> {
    let id = path.into_inner().cluster_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| clusters::delete(conn, &org, &id, &if_match, audit.clone()))
        .await?;
    Ok(web::Json(Disconnected {}))
}

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
    let (row, key) = state
        .db
        .write(move |conn| {
            clusters::rotate(conn, &org, &id, service, &if_match, grace, audit.clone())
        })
        .await?;
    Ok(json_with_etag(&row.etag(), &RotatedKey { key: key.value }))
}

async fn revoke_pending(
    caller: Caller,
    state: web::Data<AppState>,
    id: String,
    service: KeyOwner,
    if_match: IfMatch,
) -> Result<web::Json<Revoked>, ApiError> {
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let revoked = state
        .db
        .write(move |conn| {
            clusters::revoke_pending(conn, &org, &id, service, &if_match, audit.clone())
        })
        .await?;
    Ok(web::Json(Revoked { revoked }))
}

/// Rotate a cluster's key
///
/// Issues a new cluster key and returns it in `key`, shown only here. The
/// previous key keeps working for `grace_period_seconds` (default 604,800:
/// seven days, as Elastic's), until `_revoke-pending` ends it. Kibana
/// sends `{}`; the body is optional.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("rotate_cluster_api_key"))),
    params(ClusterPath, IfMatch),
    request_body(content = Option<RotateKey>, example = json!({})),
    responses((status = 200, description = "The new key, shown once.", body = RotatedKey,
        headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))))
)]
#[post("/clusters/{cluster_id}/apikey/_rotate")]
pub async fn cc_rotate_cluster_api_key(
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
/// Ends the previous cluster keys now; the current key keeps working.
/// With `If-Match`, a cluster changed since that `ETag` is not touched
/// (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("revoke_pending_cluster_api_key"))),
    params(ClusterPath, IfMatch),
    responses((status = 200, description = "How many pending keys stopped working.", body = Revoked))
)]
#[post("/clusters/{cluster_id}/apikey/_revoke-pending")]
pub async fn cc_revoke_pending_cluster_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterPath>,
    if_match: IfMatch,
) -> Result<web::Json<Revoked>, ApiError> {
    let id = path.into_inner().cluster_id.0;
    revoke_pending(caller, state, id, None, if_match).await
}

/// Rotate a service's key
///
/// Like rotating the cluster's key, for one service (`eis` or
/// `auto_ops`), which must be enabled on the cluster (409 otherwise).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("rotate_cluster_service_api_key"))),
    params(ClusterServicePath, IfMatch),
    request_body(content = Option<RotateKey>, example = json!({})),
    responses(
        (status = 200, description = "The service's new key, shown once.", body = RotatedKey,
            headers(("ETag" = String, description = "Version of the cluster, for `If-Match`."))),
        (status = 409, description = "The service is not enabled on the cluster.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "service_not_enabled", "service eis is not enabled on cluster cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3; enable it with PATCH first"))),
    )
)]
#[post("/clusters/{cluster_id}/apikey/{service}/_rotate")]
pub async fn cc_rotate_cluster_service_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterServicePath>,
    if_match: IfMatch,
    body: OptionalJson<RotateKey>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    rotate(
        caller,
        state,
        path.cluster_id.0,
        Some(path.service),
        if_match,
        body,
    )
    .await
}

/// Revoke a service's pending keys
///
/// Ends the previous keys of one service now. The service must be enabled
/// (409 otherwise).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("cluster")), ("x-keygate-acts-as" = json!("revoke_pending_cluster_service_api_key"))),
    params(ClusterServicePath, IfMatch),
    responses(
        (status = 200, description = "How many pending keys stopped working.", body = Revoked),
        (status = 409, description = "The service is not enabled on the cluster.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "service_not_enabled", "service eis is not enabled on cluster cls_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3; enable it with PATCH first"))),
    )
)]
#[post("/clusters/{cluster_id}/apikey/{service}/_revoke-pending")]
pub async fn cc_revoke_pending_cluster_service_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ClusterServicePath>,
    if_match: IfMatch,
) -> Result<web::Json<Revoked>, ApiError> {
    let path = path.into_inner();
    revoke_pending(
        caller,
        state,
        path.cluster_id.0,
        Some(path.service),
        if_match,
    )
    .await
}

/// keygate's id of the organization a path names (`org_` and the vendor's
/// id).
fn organization_id(path: OrganizationPath) -> String {
    format!("{ORGANIZATION_PREFIX}{}", path.organization_id.0)
}

/// The settings of the organization a path names, once the caller may see
/// it (`operator`: the first organization's `personal` keys see any, as
/// natively for the subscription).
async fn settings_of(
    caller: Caller,
    state: &AppState,
    path: OrganizationPath,
    operator: bool,
) -> Result<OrganizationSettingsRow, ApiError> {
    let id = organization_id(path);
    let (_, row) = state
        .db
        .read(move |conn| {
            organizations::ensure_visible(
                conn,
                &caller.organization_id,
                caller.rights.role,
                &id,
                operator,
            )?;
            organizations::settings(conn, &id)
        })
        .await?;
    Ok(row)
}

/// Get the subscription
///
/// The organization's subscription state: `trial`, `active` or `inactive`.
/// A caller sees its own organization's; the operator (a `personal` key of
/// the first organization) any.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_organization_subscription"))),
    params(OrganizationPath),
    responses((status = 200, description = "The subscription.", body = Subscription))
)]
#[get("/organizations/{organization_id}/subscription")]
pub async fn cc_get_organization_subscription(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<web::Json<Subscription>, ApiError> {
    let row = settings_of(caller, &state, path.into_inner(), true).await?;
    Ok(web::Json(Subscription {
        state: row.subscription_state,
    }))
}

fn terms(
    row: &crate::resources::organizations::model::OrganizationSettingsRow,
) -> TermsAndConditions {
    let accepted = match (row.terms_accepted_at, &row.terms_accepted_by) {
        (Some(at), Some(by)) => Some(Accepted {
            accepted_at: at.and_utc(),
            accepted_by: by.clone(),
        }),
        _ => None,
    };
    TermsAndConditions { accepted }
}

/// Get the terms and conditions
///
/// Whether the caller's organization accepted the terms and conditions:
/// `accepted` (when and by which key) is present only once they were.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_organization_terms_and_conditions"))),
    params(OrganizationPath),
    responses((status = 200, description = "The acceptance.", body = TermsAndConditions))
)]
#[get("/organizations/{organization_id}/terms-and-conditions")]
pub async fn cc_get_organization_terms_and_conditions(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<web::Json<TermsAndConditions>, ApiError> {
    let row = settings_of(caller, &state, path.into_inner(), false).await?;
    Ok(web::Json(terms(&row)))
}

/// Accept the terms and conditions
///
/// Records that the calling key accepted them for its organization, and
/// when; accepting again keeps the first acceptance.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("organization")), ("x-keygate-acts-as" = json!("accept_organization_terms_and_conditions"))),
    params(OrganizationPath),
    responses((status = 200, description = "The acceptance (the first one, if they were already accepted).", body = TermsAndConditions))
)]
#[post("/organizations/{organization_id}/terms-and-conditions/_accept")]
pub async fn cc_accept_organization_terms_and_conditions(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<web::Json<TermsAndConditions>, ApiError> {
    let id = organization_id(path.into_inner());
    let audit = caller.audit(&id);
    let (_, row) = state
        .db
        .write(move |conn| {
            organizations::ensure_visible(
                conn,
                &caller.organization_id,
                caller.rights.role,
                &id,
                false,
            )?;
            organizations::accept_terms(conn, &id, &caller.key_id, audit.clone())
        })
        .await?;
    Ok(web::Json(terms(&row)))
}
