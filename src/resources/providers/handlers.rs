//! HTTP handlers of `/v1/providers/{provider}` and its credentials.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::dto::{
    CreateProviderCredential, CredentialOrder, CredentialPath, Cursor, NewCredentialBody,
    ProviderCredential, ProviderCredentialList, ProviderPath, ProviderSettings, UpdateProvider,
    UpdateProviderCredential,
};
use super::model::CredentialRow;
use super::repo::{self, Created, PageStart, ProviderState};
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::body::{JsonBody, LARGEST_BODY};
use crate::http::conditional::{json_with_etag, IfMatch};
use crate::http::page::{DeletedFilter, PageQuery};
use crate::http::params::{Path, Query};
use crate::http::problem::problem_example;
use crate::keys::rights::Role;
use crate::state::AppState;

/// A 200 with the credential and its `ETag`.
fn respond(row: &CredentialRow) -> Result<HttpResponse, ApiError> {
    Ok(json_with_etag(
        &row.etag(),
        &ProviderCredential::from_row(row)?,
    ))
}

/// A 200 with a provider's settings and their `ETag`.
fn respond_settings(state: ProviderState) -> HttpResponse {
    json_with_etag(&state.etag(), &ProviderSettings::from(state))
}

/// Get a provider
///
/// The caller's organization's settings of a provider: its active
/// credential. Every provider exists for every organization; one never
/// changed has `active_credential_id: null` and `updated_at: null`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ProviderPath),
    responses((status = 200, description = "The provider's settings.", body = ProviderSettings,
        headers(("ETag" = String, description = "Version of the settings, for `If-Match`."))))
)]
#[get("/providers/{provider}")]
pub async fn get_provider(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
) -> Result<HttpResponse, ApiError> {
    let provider = path.into_inner().provider;
    let org = caller.organization_id;
    let state = state
        .db
        .read(move |conn| repo::get_provider(conn, &org, provider))
        .await?;
    Ok(respond_settings(state))
}

/// Set a provider's active credential
///
/// Sets `active_credential_id` to a credential of this provider in the
/// caller's organization (otherwise 400 `validation_failed` with
/// `reference_not_found`), or clears it with `null`. The active credential
/// cannot be deleted until it is replaced or cleared. With `If-Match`,
/// settings changed since that `ETag` are not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider"))),
    params(ProviderPath, IfMatch),
    request_body(content = UpdateProvider, example = json!({"active_credential_id": "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"})),
    responses(
        (status = 200, description = "The provider's settings after the change.", body = ProviderSettings,
            headers(("ETag" = String, description = "Version of the settings, for `If-Match`."))),
        (status = 409, description = "Another request changed the provider at the same moment; retry.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "provider google was changed by another request at the same moment; retry", "/v1/providers/google"))),
    )
)]
#[patch("/providers/{provider}")]
pub async fn update_provider(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateProvider>,
) -> Result<HttpResponse, ApiError> {
    let provider = path.into_inner().provider;
    let active = body.into_inner().into_active()?;
    let audit = caller.audit(provider.as_str());
    let org = caller.organization_id;
    let state = state
        .db
        .write(move |conn| {
            repo::update_provider(
                conn,
                &org,
                provider,
                &if_match,
                active.clone(),
                audit.clone(),
            )
        })
        .await?;
    Ok(respond_settings(state))
}

/// Create a provider credential
///
/// Stores a credential for the provider. `credential_type` decides the keys
/// of `credential_data`, exactly: `serviceaccount` (provider `google` only)
/// needs `private_key_id`, `private_key` and `client_email`;
/// `adminconsent` (provider `microsoft` only) and `connector` (any
/// provider) need `client_id` and `client_secret`. Missing, unknown,
/// non-string and blank keys are each reported as
/// `credential_data.<key>`. `credential_data` is encrypted with
/// AES-256-GCM and never returned; the answer lists its key names.
///
/// Idempotent for a `personal` key: when a credential of this name exists
/// with the same type and data, it is returned with 200 and nothing is
/// written; with other content the name is taken (409). A key of a lower
/// role, which may not read secret values, gets 409 for any existing
/// name, whatever the data, so the answer tells nothing about the stored
/// data. Every attempt is audited (a taken name as `denied`).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential"))),
    params(ProviderPath),
    request_body(content = CreateProviderCredential, examples(
        ("serviceaccount" = (summary = "Google service account (provider google)", value = json!({"name": "Google service account", "credential_type": "serviceaccount", "credential_data": {"private_key_id": "<PRIVATE_KEY_ID>", "private_key": "<PRIVATE_KEY>", "client_email": "<CLIENT_EMAIL>"}}))),
        ("adminconsent" = (summary = "Microsoft admin consent (provider microsoft)", value = json!({"name": "Microsoft admin consent", "credential_type": "adminconsent", "credential_data": {"client_id": "<CLIENT_ID>", "client_secret": "<CLIENT_SECRET>"}}))),
        ("connector" = (summary = "Connector override (any provider)", value = json!({"name": "Google auth app #2 multitenant", "credential_type": "connector", "credential_data": {"client_id": "3805ABCD1234-ABCD1234uv02m.apps.googleusercontent.com", "client_secret": "Ilg....01pe8db"}})))
    )),
    responses(
        (status = 200, description = "A credential of this name with the same type and data existed (seen only by a `personal` key); it is returned and nothing changed.", body = ProviderCredential,
            headers(("ETag" = String, description = "Version of the credential, for `If-Match`.")),
            links(
                ("get_provider_credential" = (operation_id = "get_provider_credential", parameters(("provider" = "$request.path.provider"), ("credential_id" = "$response.body#/id")), description = "The `credential_id` of the credential, for get_provider_credential.")),
                ("update_provider_credential" = (operation_id = "update_provider_credential", parameters(("provider" = "$request.path.provider"), ("credential_id" = "$response.body#/id")), description = "The `credential_id` of the credential, for update_provider_credential.")),
                ("delete_provider_credential" = (operation_id = "delete_provider_credential", parameters(("provider" = "$request.path.provider"), ("credential_id" = "$response.body#/id")), description = "The `credential_id` of the credential, for delete_provider_credential."))
            )),
        (status = 201, description = "The new credential.", body = ProviderCredential,
            // Its links are written by `openapi::links` (from every create).
            headers(("Location" = String, description = "Path of the new credential."), ("ETag" = String, description = "Version of the credential, for `If-Match`."))),
        (status = 409, description = "A credential of this name exists: with another type or other data, or (for a key below `personal`) with any content.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "a google credential named \"workspace sync\" already exists with other content", "/v1/providers/google/credentials"))),
    )
)]
#[post("/providers/{provider}/credentials")]
pub async fn create_provider_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
    body: JsonBody<NewCredentialBody, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let provider = path.into_inner().provider;
    let input = body.into_inner().into_input(provider)?;
    let vault = state.vault()?.clone();
    let audit = caller.audit("");
    let org = caller.organization_id;
    // Only a role that may read secret values learns whether the stored
    // data equals the body (docs/PROVIDERS.md).
    let compare = caller.rights.role >= Role::Personal;
    let name = input.name.clone();
    let created = state
        .db
        .write(move |conn| {
            repo::create(conn, &vault, &org, provider, &input, compare, audit.clone())
        })
        .await?;
    match created {
        Created::Taken => Err(repo::name_taken(provider, &name)),
        Created::Existing(row) => respond(&row),
        Created::New(row) => Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/v1/providers/{}/credentials/{}", provider.as_str(), row.id),
            ))
            .insert_header((header::ETAG, row.etag()))
            .json(ProviderCredential::from_row(&row)?)),
    }
}

/// List provider credentials
///
/// The provider's credentials in the caller's organization, a page at a
/// time, sorted by `sort_by` (`created_at` by default, or `updated_at`) in
/// `order` (`desc` by default), ties broken by id. A `cursor` holds its
/// position in that order and works only with the `sort_by` and `order`
/// it was made with (400 otherwise). Data values are never listed.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(ProviderPath, PageQuery, CredentialOrder, DeletedFilter),
    responses((status = 200, description = "A page of credentials.", body = ProviderCredentialList))
)]
#[get("/providers/{provider}/credentials")]
pub async fn list_provider_credentials(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
    page: Query<PageQuery>,
    order: Query<CredentialOrder>,
    filter: Query<DeletedFilter>,
) -> Result<web::Json<ProviderCredentialList>, ApiError> {
    let provider = path.into_inner().provider;
    let deleted_since = filter.since(state.recovery_window);
    let page = page.page()?;
    let (sort_by, direction) = order.sort();
    let start = match page.after.as_deref() {
        Some(text) => {
            let (at, id) = Cursor::parse(text, sort_by, direction)?;
            PageStart::After(at, id)
        }
        None => PageStart::First,
    };
    let org = caller.organization_id;
    let limit = page.limit;
    let mut rows = state
        .db
        .read(move |conn| {
            repo::list(
                conn,
                &org,
                provider,
                sort_by,
                direction,
                start,
                limit,
                deleted_since,
            )
        })
        .await?;
    let page_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > page_len;
    rows.truncate(page_len);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|row| Cursor::after(row, sort_by, direction))
        })
        .flatten();
    let data = rows
        .iter()
        .map(ProviderCredential::from_row)
        .collect::<Result<_, _>>()?;
    Ok(web::Json(ProviderCredentialList { data, next_cursor }))
}

/// Get a provider credential
///
/// One credential of the provider in the caller's organization: its key
/// names, never its data's values.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving))),
    params(CredentialPath),
    responses((status = 200, description = "The credential.", body = ProviderCredential,
        headers(("ETag" = String, description = "Version of the credential, for `If-Match`."))))
)]
#[get("/providers/{provider}/credentials/{credential_id}")]
pub async fn get_provider_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, path.provider, &path.credential_id.0))
        .await?;
    respond(&row)
}

/// Update a provider credential
///
/// Changes `name` and/or `credential_data` (at least one). `credential_data`
/// replaces the stored data wholesale (a key left out is gone, nothing is
/// merged) and must have exactly the keys of the credential's type, which
/// cannot change: otherwise 400 with an error per key under
/// `credential_data.<key>`. With `If-Match`, a credential changed since
/// that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential"))),
    params(CredentialPath, IfMatch),
    request_body(content = UpdateProviderCredential, example = json!({"name": "Google auth app #2 multitenant", "credential_data": {"client_id": "3805ABCD1234-ABCD1234uv02m.apps.googleusercontent.com", "client_secret": "Ilg....01pe8db"}})),
    responses(
        (status = 200, description = "The credential after the change.", body = ProviderCredential,
            headers(("ETag" = String, description = "Version of the credential, for `If-Match`."))),
        (status = 409, description = "Another credential of the provider has this name.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "already_exists", "a google credential named \"workspace sync\" already exists with other content", "/v1/providers/google/credentials/crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[patch("/providers/{provider}/credentials/{credential_id}")]
pub async fn update_provider_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateProviderCredential, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let patch = body.into_inner().into_patch()?;
    let vault = state.vault()?.clone();
    let id = path.credential_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| {
            repo::update(
                conn,
                &vault,
                &org,
                path.provider,
                &id,
                &if_match,
                patch.clone(),
                audit.clone(),
            )
        })
        .await?;
    respond(&row)
}

/// Delete a provider credential
///
/// Deletes the credential. The provider's active credential cannot be
/// deleted (409 `still_referenced`): set the provider's
/// `active_credential_id` to another credential or `null` first. The
/// credential is gone for every operation (404) but stays restorable with
/// `undelete_provider_credential` for the recovery window
/// (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by default; a list with
/// `include_deleted=true` shows it), then it is purged; with a window of 0
/// it is removed at once. A new credential may take a deleted one's name,
/// which then removes the deleted one for good. With
/// `If-Match`, a credential changed since that `ETag` is not touched (412).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential"))),
    params(CredentialPath, IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "The credential is the provider's active credential.", body = crate::http::problem::ProblemDetails, content_type = "application/problem+json",
            example = json!(problem_example(409, "still_referenced", "credential crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 is the active credential of provider google; set the provider's active_credential_id to another credential or null first", "/v1/providers/google/credentials/crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"))),
    )
)]
#[delete("/providers/{provider}/credentials/{credential_id}")]
pub async fn delete_provider_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let id = path.credential_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| {
            repo::delete(
                conn,
                &org,
                path.provider,
                &id,
                &if_match,
                keep,
                audit.clone(),
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Undelete a provider credential
///
/// Brings back a credential deleted within the recovery window
/// (`KEYGATE_RECOVERY_WINDOW_DAYS`, 30 days by default) with its name, type
/// and data. One that is not deleted is answered as it is. One deleted
/// longer ago (purged), replaced by a new credential of its name, or never
/// there is 404.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential"))),
    params(CredentialPath),
    responses((status = 200, description = "The credential, back as it was.", body = ProviderCredential,
        headers(("ETag" = String, description = "Version of the credential, for `If-Match`."))))
)]
#[post("/providers/{provider}/credentials/{credential_id}/undelete")]
pub async fn undelete_provider_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let id = path.credential_id.0;
    let Some(since) = crate::db::recovery::restorable_since(state.recovery_window) else {
        return Err(ApiError::NotFound(format!(
            "{} credential {id} was not found",
            path.provider.as_str()
        )));
    };
    let audit = caller.audit(&id);
    let org = caller.organization_id;
    let row = state
        .db
        .write(move |conn| repo::undelete(conn, &org, path.provider, &id, since, audit.clone()))
        .await?;
    respond(&row)
}
