//! HTTP handlers of `/v1/identities`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use validator::Validate;

use super::dto::{
    CreateIdentity, Identity, IdentityFilter, IdentityList, IdentityPath, UpdateIdentity,
};
use super::model::IdentityRow;
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::PageQuery;
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::credits::{ChangeCredits, CreditRow, Credits};
use crate::keys::rights::Role;
use crate::state::AppState;

/// A 200 with the identity and its `ETag`.
fn respond((row, credits): (IdentityRow, Option<CreditRow>)) -> Result<HttpResponse, ApiError> {
    let etag = row.etag();
    Ok(json_with_etag(
        &etag,
        &Identity::from_row(row, credits.as_ref())?,
    ))
}

/// Create an identity
///
/// Creates an identity: a customer of yours, under your own id for it
/// (`external_id`, unique in the organization, 409 `already_exists` when
/// taken), with metadata and the rate limits and credits all its keys
/// share. Give keys to it with their `identity_id`: twenty keys of one
/// customer then share one allowance.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("identity"))),
    request_body(content = CreateIdentity, example = json!({"external_id": "customer-42", "name": "Acme Ltd", "metadata": {"plan": "pro"}, "ratelimits": [{"name": "requests", "limit": 10, "duration": 1000}], "credits": {"remaining": 1000, "refill": {"interval": 86400000, "amount": 1000}}})),
    responses(
        (status = 201, description = "The new identity.", body = Identity,
            headers(("Location" = String, description = "Path of the new identity."), ("ETag" = String, description = "Version of the identity, for `If-Match`."))),
        (status = 409, description = "The organization already has an identity with this `external_id` (`already_exists`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "an identity with this external_id already exists", "/v1/identities"))),
    )
)]
#[post("/identities")]
pub async fn create_identity(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateIdentity>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let (row, credits) = state
        .db
        .write(move |conn| repo::create(conn, &org, &input, audit.clone()))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/identities/{}", row.id)))
        .insert_header((header::ETAG, row.etag()))
        .json(Identity::from_row(row, credits.as_ref())?))
}

/// List identities
///
/// The organization's identities in creation order, a page at a time;
/// `external_id` finds the one of that id.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(PageQuery, IdentityFilter),
    responses((status = 200, description = "A page of identities.", body = IdentityList))
)]
#[get("/identities")]
pub async fn list_identities(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
    filter: Query<IdentityFilter>,
) -> Result<web::Json<IdentityList>, ApiError> {
    let page = page.page()?;
    let filter = filter.into_inner();
    filter.validate()?;
    let external_id = filter.external_id;
    let org = caller.organization_id;
    let query_page = page.clone();
    let (rows, balances) = state
        .db
        .read(move |conn| {
            let rows = repo::list(conn, &org, external_id.as_deref(), &query_page)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            Ok((rows, crate::keys::credits::of(conn, &ids)?))
        })
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(|row| {
            let balance = balances.get(&row.id);
            Identity::from_row(row, balance)
        })
        .collect::<Result<_, _>>()?;
    Ok(web::Json(IdentityList { data, next_cursor }))
}

/// Get an identity
///
/// One identity of the caller's organization, with its shared limits and
/// balance.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(IdentityPath),
    responses((status = 200, description = "The identity.", body = Identity,
        headers(("ETag" = String, description = "Version of the identity, for `If-Match`."))))
)]
#[get("/identities/{identity_id}")]
pub async fn get_identity(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<IdentityPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().identity_id.0;
    let org = caller.organization_id;
    let view = state
        .db
        .read(move |conn| repo::get_with_credits(conn, &org, &id))
        .await?;
    respond(view)
}

/// Update an identity
///
/// Changes the fields given: `external_id` (unique, 409 `already_exists`),
/// `name` and `metadata` (`null` clears them), `ratelimits` (replaced; `[]`
/// for none) and `credits` (a new balance, or `null` for unlimited). Every
/// node applies the change to the identity's keys within about a second.
/// With `If-Match`, an identity changed since that `ETag` is not touched
/// (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("identity"))),
    params(IdentityPath, IfMatch),
    request_body(content = UpdateIdentity, example = json!({"metadata": {"plan": "enterprise"}, "ratelimits": [{"name": "requests", "limit": 100, "duration": 1000}]})),
    responses(
        (status = 200, description = "The identity after the change.", body = Identity,
            headers(("ETag" = String, description = "Version of the identity, for `If-Match`."))),
        (status = 409, description = "Another identity of the organization has this `external_id` (`already_exists`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "an identity with this external_id already exists", "/v1/identities/idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[patch("/identities/{identity_id}")]
pub async fn update_identity(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<IdentityPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateIdentity>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().identity_id.0;
    let (changes, balance) = body.into_inner().into_changes()?;
    let audit = caller.audit("");
    let org = caller.organization_id;
    let view = state
        .db
        .write(move |conn| {
            repo::update(
                conn,
                &org,
                &id,
                &if_match,
                changes.clone(),
                balance,
                audit.clone(),
            )
        })
        .await?;
    respond(view)
}

/// Delete an identity
///
/// Deletes an identity without keys, and its balance. While keys belong to
/// it the answer is 409 `still_referenced`: move them (`identity_id` on the
/// key) or delete them first; keys deleted into the recovery window are
/// detached. With `If-Match`, an identity changed since that `ETag` is not
/// touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("identity"))),
    params(IdentityPath, IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "Keys still belong to the identity (`still_referenced`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "still_referenced", "identity idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 still has 2 API keys; move or delete them first", "/v1/identities/idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[delete("/identities/{identity_id}")]
pub async fn delete_identity(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<IdentityPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().identity_id.0;
    let audit = caller.audit("");
    let org = caller.organization_id;
    state
        .db
        .write(move |conn| repo::delete(conn, &org, &id, &if_match, audit.clone()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change an identity's credits
///
/// `set` makes the shared balance `value` (creating one if the identity is
/// unlimited; what nodes had leased of the old balance is void),
/// `increment` adds `value`, `decrement` takes `value` away down to 0. An
/// identity without a balance answers `increment` and `decrement` with 409
/// `no_credits`. Audited.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("identity"))),
    params(IdentityPath),
    request_body(content = ChangeCredits, example = json!({"operation": "increment", "value": 500})),
    responses(
        (status = 200, description = "The balance after the change.", body = Credits),
        (status = 409, description = "The identity has no balance to increment or decrement (`no_credits`).", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "no_credits", "idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 has no credit balance (it is unlimited); set one first", "/v1/identities/idn_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3/credits"))),
    )
)]
#[post("/identities/{identity_id}/credits")]
pub async fn change_identity_credits(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<IdentityPath>,
    body: JsonBody<ChangeCredits>,
) -> Result<web::Json<Credits>, ApiError> {
    let id = path.into_inner().identity_id.0;
    let body = body.into_inner();
    body.check()?;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| repo::change_credits(conn, &org, &id, body, audit.clone()))
        .await?;
    Ok(web::Json(Credits::from(&row)))
}
