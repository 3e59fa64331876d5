//! HTTP handlers of `/v1/organizations`.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use validator::Validate;

use super::dto::{
    CreateOrganization, CreatedOrganization, KeyPolicyView, Organization, OrganizationPath,
    Subscription, TermsAndConditions, UpdateKeyPolicy, UpdateSubscription,
};
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::db::AnyConnection;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::params::Path;
use crate::http::problem::problem_example;
use crate::keys::rights::Role;
use crate::resources::api_keys::dto::{ApiKey, ApiKeyWithSecret};
use crate::resources::key_policies::{self, model::KeyPolicyRow};
use crate::state::AppState;

/// Create an organization
///
/// Creates an organization and its first `personal` key, returned with its
/// secret this once. Only `personal` keys of the first organization may call
/// it; others get 403 `not_root_organization`. The first key is never wider
/// than the caller's: it keeps the caller's `api_policy`, `allowed_cidrs`
/// and `expires_at`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("organization"))),
    request_body(content = CreateOrganization, example = json!({"name": "acme"})),
    responses(
        (status = 201, description = "The organization and its first key.", body = CreatedOrganization,
            headers(("Location" = String, description = "Path of the new organization."), ("ETag" = String, description = "Version of the organization."))),
        (status = 409, description = "An organization with this name exists.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "an organization named acme already exists", "/v1/organizations"))),
    )
)]
#[post("/organizations")]
pub async fn create_organization(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateOrganization>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let audit = caller.audit("");
    let org = caller.organization_id.clone();
    let creator = caller.rights.clone();
    let created = state
        .db
        .write(move |conn| {
            repo::ensure_root(conn, &org, "create_organization")?;
            repo::create(conn, &body.name, &creator, audit.clone())
        })
        .await?;
    let location = format!("/v1/organizations/{}", created.organization.id);
    let etag = created.organization.etag();
    let body = CreatedOrganization {
        organization: created.organization.into(),
        api_key: ApiKeyWithSecret {
            api_key: ApiKey::from_row(created.api_key, Vec::new(), None)?,
            key: created.key.value,
        },
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag))
        .json(body))
}

/// Get an organization
///
/// The caller's own organization; any other id is 404.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(OrganizationPath),
    responses((status = 200, description = "The organization.", body = Organization,
        headers(("ETag" = String, description = "Version of the organization."))))
)]
#[get("/organizations/{organization_id}")]
pub async fn get_organization(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    if id != caller.organization_id {
        return Err(ApiError::not_found("organization", &id));
    }
    let row = state.db.read(move |conn| repo::get(conn, &id)).await?;
    Ok(json_with_etag(&row.etag(), &Organization::from(row)))
}

/// Lets the caller address organization `target` (the domain's rule,
/// `repo::ensure_visible`).
fn ensure_visible(
    conn: &mut AnyConnection,
    caller: &Caller,
    target: &str,
    operator: bool,
) -> Result<(), ApiError> {
    repo::ensure_visible(
        conn,
        &caller.organization_id,
        caller.rights.role,
        target,
        operator,
    )
}

/// Get an organization's subscription
///
/// The subscription `state`: `trial` (where every organization starts),
/// `active` or `inactive`. A caller sees its own organization's; the
/// operator (a `personal` key of the first organization) sees any.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(OrganizationPath),
    responses((status = 200, description = "The subscription.", body = Subscription,
        headers(("ETag" = String, description = "Version of the subscription, for `If-Match`."))))
)]
#[get("/organizations/{organization_id}/subscription")]
pub async fn get_organization_subscription(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let row = state
        .db
        .read(move |conn| {
            ensure_visible(conn, &caller, &id, true)?;
            Ok(repo::settings(conn, &id)?.1)
        })
        .await?;
    Ok(json_with_etag(
        &row.subscription_etag(),
        &Subscription::from_row(&row)?,
    ))
}

/// Set an organization's subscription
///
/// Sets the subscription `state`. Only the operator may: `personal` keys of
/// the first organization, for any organization; other keys get 403
/// `not_root_organization` for their own organization and 404 for any
/// other. With `If-Match`, a subscription changed since that `ETag` is not
/// touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("organization"))),
    params(OrganizationPath, IfMatch),
    request_body(content = UpdateSubscription, example = json!({"state": "active"})),
    responses((status = 200, description = "The subscription after the change.", body = Subscription,
        headers(("ETag" = String, description = "Version of the subscription, for `If-Match`."))))
)]
#[patch("/organizations/{organization_id}/subscription")]
pub async fn update_organization_subscription(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateSubscription>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let new_state = body.into_inner().state;
    let audit = caller.audit(&id);
    let row = state
        .db
        .write(move |conn| {
            ensure_visible(conn, &caller, &id, true)?;
            repo::ensure_root(
                conn,
                &caller.organization_id,
                "update_organization_subscription",
            )?;
            repo::set_subscription(conn, &id, new_state.as_str(), &if_match, audit.clone())
        })
        .await?;
    Ok(json_with_etag(
        &row.subscription_etag(),
        &Subscription::from_row(&row)?,
    ))
}

/// Get an organization's terms and conditions
///
/// Whether the caller's organization accepted the terms and conditions;
/// `accepted_at` and `accepted_by` (the API key that accepted) are present
/// only once they were accepted. Another organization's id is 404.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(OrganizationPath),
    responses((status = 200, description = "The acceptance.", body = TermsAndConditions,
        headers(("ETag" = String, description = "Version of the acceptance.")),
        examples(
            ("accepted" = (summary = "Accepted", value = json!({"organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "accepted": true, "accepted_at": "2026-11-23T12:00:00Z", "accepted_by": "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"}))),
            ("not_accepted" = (summary = "Not accepted yet", value = json!({"organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "accepted": false})))
        )))
)]
#[get("/organizations/{organization_id}/terms_and_conditions")]
pub async fn get_organization_terms_and_conditions(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let (organization, row) = state
        .db
        .read(move |conn| {
            ensure_visible(conn, &caller, &id, false)?;
            repo::settings(conn, &id)
        })
        .await?;
    Ok(json_with_etag(
        &row.terms_etag(organization.created_at),
        &TermsAndConditions::from(&row),
    ))
}

/// Accept the terms and conditions
///
/// Records that the calling API key accepted the terms and conditions for
/// its organization, and when. Accepting again changes nothing: the first
/// acceptance (time and key) is kept and answered.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("organization"))),
    params(OrganizationPath),
    responses((status = 200, description = "The acceptance (the first one, if they were already accepted).", body = TermsAndConditions,
        headers(("ETag" = String, description = "Version of the acceptance."))))
)]
#[post("/organizations/{organization_id}/terms_and_conditions/accept")]
pub async fn accept_organization_terms_and_conditions(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let audit = caller.audit(&id);
    let (organization, row) = state
        .db
        .write(move |conn| {
            ensure_visible(conn, &caller, &id, false)?;
            repo::accept_terms(conn, &id, &caller.key_id, audit.clone())
        })
        .await?;
    Ok(json_with_etag(
        &row.terms_etag(organization.created_at),
        &TermsAndConditions::from(&row),
    ))
}

fn respond_policy(row: &KeyPolicyRow) -> HttpResponse {
    json_with_etag(&row.etag(), &KeyPolicyView::from(row))
}

/// Get an organization's key policy
///
/// What a GitHub secret scanning alert does to a reported key of the
/// organization (`leak_response`), and the lifetime rules its API keys are
/// created, updated and rotated under. An organization that never changed
/// it has the defaults: `disable`, no limit, expiry optional. The caller's
/// own organization; the operator (a `personal` key of the first
/// organization) sees any.
#[utoipa::path(
    tag = key_policies::TAG,
    extensions(("x-keygate-role" = json!(Role::Personal))),
    params(OrganizationPath),
    responses((status = 200, description = "The key policy.", body = KeyPolicyView,
        headers(("ETag" = String, description = "Version of the policy, for `If-Match`.")),
        example = json!({"organization_id": "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3", "leak_response": "disable", "max_key_lifetime_seconds": 7_776_000, "require_expiry": true, "updated_at": "2026-12-02T03:00:00Z"})))
)]
#[get("/organizations/{organization_id}/key_policy")]
pub async fn get_key_policy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let row = state
        .db
        .read(move |conn| {
            ensure_visible(conn, &caller, &id, true)?;
            key_policies::repo::row(conn, &id)
        })
        .await?;
    Ok(respond_policy(&row))
}

/// Change an organization's key policy
///
/// Changes only the fields present. `max_key_lifetime_seconds` (60 to
/// 315,360,000, or `null` for no limit) bounds how far ahead `expires_at`
/// may be when a key is created, its `expires_at` changed, or it is rotated;
/// a limit also requires an `expires_at`, as `require_expiry` does alone.
/// A key that breaks the rule is refused with 400 `key_policy_violation`
/// naming it. Keys made before a stricter policy keep working: list them
/// with `GET /v1/api_keys?violates_policy=true`. With `If-Match`, a policy
/// changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = key_policies::TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("key_policy"))),
    params(OrganizationPath, IfMatch),
    request_body(content = UpdateKeyPolicy, example = json!({"max_key_lifetime_seconds": 7_776_000, "require_expiry": true, "leak_response": "revoke"})),
    responses((status = 200, description = "The policy after the change.", body = KeyPolicyView,
        headers(("ETag" = String, description = "Version of the policy, for `If-Match`."))))
)]
#[patch("/organizations/{organization_id}/key_policy")]
pub async fn update_key_policy(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<OrganizationPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateKeyPolicy>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    let patch = body.into_inner().into_patch()?;
    let audit = caller.audit(&id);
    let row = state
        .db
        .write(move |conn| {
            ensure_visible(conn, &caller, &id, true)?;
            key_policies::repo::update(conn, &id, &if_match, patch.clone(), audit.clone())
        })
        .await?;
    Ok(respond_policy(&row))
}
