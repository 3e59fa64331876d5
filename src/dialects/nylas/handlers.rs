//! The Nylas paths: each handler reads the vendor's request, calls the same
//! domain function as its native twin (`x-keygate-acts-as`), and wraps the
//! answer in Nylas's `{request_id, data}`. A delete answers 200 with
//! `{request_id}` (the SDK cannot read an empty 204).

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::wire::{
    Credential, CredentialList, CredentialPath, CredentialResponse, DeleteResponse, ListQuery,
    ProviderPath,
};
use super::{PREFIX, TAG};
use crate::auth::Caller;
use crate::db::version::IfMatch;
use crate::error::ApiError;
use crate::http::body::{JsonBody, LARGEST_BODY};
use crate::http::params::{Path, Query};
use crate::keys::rights::Role;
use crate::resources::providers::dto::{
    CreateProviderCredential, CredentialId, NewCredentialBody, ProviderCredential,
    UpdateProviderCredential,
};
use crate::resources::providers::model::{CredentialRow, Provider};
use crate::resources::providers::repo::{self, Created, PageStart};
use crate::state::AppState;

/// The Nylas view of a row.
fn credential(row: &CredentialRow) -> Result<Credential, ApiError> {
    Ok(ProviderCredential::from_row(row)?.into())
}

/// One credential in Nylas's envelope.
fn respond(
    caller: &Caller,
    row: &CredentialRow,
) -> Result<web::Json<CredentialResponse>, ApiError> {
    Ok(web::Json(CredentialResponse {
        request_id: caller.request_id.clone(),
        data: credential(row)?,
    }))
}

/// The id of a path, or 404: Nylas answers 404 for any id that names
/// nothing, so text that is no keygate id is one more such id (and is not
/// repeated in the answer).
fn credential_id(provider: Provider, id: String) -> Result<String, ApiError> {
    if CredentialId::is_valid(&id) {
        Ok(id)
    } else {
        Err(ApiError::NotFound(format!(
            "no {} credential has this id",
            provider.as_str()
        )))
    }
}

/// Create a credential
///
/// `credentials.create(provider, request_body)`: stores a credential for
/// the provider, as `POST /v1/providers/{provider}/credentials` does.
/// `credential_type` decides the keys of `credential_data`, exactly:
/// `serviceaccount` (provider `google` only) needs `private_key_id`,
/// `private_key` and `client_email`; `adminconsent` (provider `microsoft`
/// only) and `connector` (any provider) need `client_id` and
/// `client_secret`. Any other key is refused (400 naming it), not dropped.
/// The data is encrypted and never returned.
///
/// Idempotent for a `personal` key: the same name, type and data again
/// answer 200 with the existing credential; other content under the name
/// is 409.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential")), ("x-keygate-acts-as" = json!("create_provider_credential"))),
    params(ProviderPath),
    request_body(content = CreateProviderCredential, examples(
        ("serviceaccount" = (summary = "Google service account (provider google)", value = json!({"name": "Google service account", "credential_type": "serviceaccount", "credential_data": {"private_key_id": "<PRIVATE_KEY_ID>", "private_key": "<PRIVATE_KEY>", "client_email": "<CLIENT_EMAIL>"}}))),
        ("adminconsent" = (summary = "Microsoft admin consent (provider microsoft)", value = json!({"name": "Microsoft admin consent", "credential_type": "adminconsent", "credential_data": {"client_id": "<CLIENT_ID>", "client_secret": "<CLIENT_SECRET>"}}))),
        ("connector" = (summary = "Connector override (any provider)", value = json!({"name": "Google auth app #2 multitenant", "credential_type": "connector", "credential_data": {"client_id": "3805ABCD1234-ABCD1234uv02m.apps.googleusercontent.com", "client_secret": "Ilg....01pe8db"}})))
    )),
    responses(
        (status = 200, description = "A credential of this name with the same type and data existed (seen only by a `personal` key); it is returned and nothing changed.", body = CredentialResponse),
        (status = 201, description = "The new credential.", body = CredentialResponse,
            headers(("Location" = String, description = "Path of the new credential."))),
        (status = 409, description = "A credential of this name exists: with another type or other data, or (for a key below `personal`) with any content.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "already_exists", "a google credential named \"workspace sync\" already exists with other content"))),
    )
)]
#[post("/{provider}/creds")]
pub async fn nylas_create_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
    body: JsonBody<NewCredentialBody, LARGEST_BODY>,
) -> Result<HttpResponse, ApiError> {
    let provider = path.into_inner().provider;
    let input = body.into_inner().into_input(provider)?;
    let vault = state.vault()?.clone();
    let audit = caller.audit("");
    let org = caller.organization_id.clone();
    // As natively: only a role that may read secret values learns whether
    // the stored data equals the body.
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
        Created::Existing(row) => Ok(HttpResponse::Ok().json(respond(&caller, &row)?.0)),
        Created::New(row) => Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("{PREFIX}/{}/creds/{}", provider.as_str(), row.id),
            ))
            .json(respond(&caller, &row)?.0)),
    }
}

/// List credentials
///
/// `credentials.list(provider, query_params)`: the provider's credentials,
/// `limit` of them after skipping `offset`, sorted by `sort_by`
/// (`created_at` by default, or `updated_at`) in `order_by` (`desc` by
/// default), ties broken by id. A page shorter than `limit` is the last.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("list_provider_credentials"))),
    params(ProviderPath, ListQuery),
    responses((status = 200, description = "A page of credentials.", body = CredentialList))
)]
#[get("/{provider}/creds")]
pub async fn nylas_list_credentials(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ProviderPath>,
    query: Query<ListQuery>,
) -> Result<web::Json<CredentialList>, ApiError> {
    let provider = path.into_inner().provider;
    let query = query.into_inner();
    validator::Validate::validate(&query)?;
    let (limit, offset) = (query.limit.unwrap_or(50), query.offset.unwrap_or(0));
    let sort_by = query.sort_by.unwrap_or_default();
    let order = query.order_by.unwrap_or_default();
    let org = caller.organization_id.clone();
    let mut rows = state
        .db
        .read(move |conn| {
            repo::list(
                conn,
                &org,
                provider,
                sort_by,
                order,
                PageStart::Skip(offset),
                limit,
                None,
            )
        })
        .await?;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(web::Json(CredentialList {
        request_id: caller.request_id.clone(),
        data: rows.iter().map(credential).collect::<Result<_, _>>()?,
        limit,
        offset,
    }))
}

/// Find a credential
///
/// `credentials.find(provider, credential_id)`: one credential of the
/// provider, never its data's values.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Serving)), ("x-keygate-acts-as" = json!("get_provider_credential"))),
    params(CredentialPath),
    responses((status = 200, description = "The credential.", body = CredentialResponse))
)]
#[get("/{provider}/creds/{credential_id}")]
pub async fn nylas_find_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
) -> Result<web::Json<CredentialResponse>, ApiError> {
    let path = path.into_inner();
    let provider = path.provider;
    let id = credential_id(provider, path.credential_id)?;
    let org = caller.organization_id.clone();
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, provider, &id))
        .await?;
    respond(&caller, &row)
}

/// Update a credential
///
/// `credentials.update(provider, credential_id, request_body)`: changes
/// `name` and/or `credential_data` (at least one). `credential_data`
/// replaces the stored data wholesale (a key left out is gone) and must
/// have exactly the keys of the credential's type.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential")), ("x-keygate-acts-as" = json!("update_provider_credential"))),
    params(CredentialPath),
    request_body(content = UpdateProviderCredential, example = json!({"name": "Google auth app #2 multitenant", "credential_data": {"client_id": "3805ABCD1234-ABCD1234uv02m.apps.googleusercontent.com", "client_secret": "Ilg....01pe8db"}})),
    responses(
        (status = 200, description = "The credential after the change.", body = CredentialResponse),
        (status = 409, description = "Another credential of the provider has this name.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "already_exists", "a google credential named \"workspace sync\" already exists with other content"))),
    )
)]
#[patch("/{provider}/creds/{credential_id}")]
pub async fn nylas_update_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
    body: JsonBody<UpdateProviderCredential, LARGEST_BODY>,
) -> Result<web::Json<CredentialResponse>, ApiError> {
    let path = path.into_inner();
    let provider = path.provider;
    let id = credential_id(provider, path.credential_id)?;
    let patch = body.into_inner().into_patch()?;
    let vault = state.vault()?.clone();
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::update(
                conn,
                &vault,
                &org,
                provider,
                &id,
                &IfMatch::parse(None),
                patch.clone(),
                audit.clone(),
            )
        })
        .await?;
    respond(&caller, &row)
}

/// Destroy a credential
///
/// `credentials.destroy(provider, credential_id)`: deletes the credential
/// and answers 200 with `{request_id}`. The provider's active credential
/// cannot be deleted (409 `still_referenced`): set the provider's
/// `active_credential_id` (`PATCH /v1/providers/{provider}`) to another
/// credential or `null` first.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::ServingAndIndexing)), ("x-keygate-audit" = json!("provider_credential")), ("x-keygate-acts-as" = json!("delete_provider_credential"))),
    params(CredentialPath),
    responses(
        (status = 200, description = "Deleted.", body = DeleteResponse),
        (status = 409, description = "The credential is the provider's active credential.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "still_referenced", "credential crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 is the active credential of provider google; set the provider's active_credential_id to another credential or null first"))),
    )
)]
#[delete("/{provider}/creds/{credential_id}")]
pub async fn nylas_destroy_credential(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<CredentialPath>,
) -> Result<web::Json<DeleteResponse>, ApiError> {
    let path = path.into_inner();
    let provider = path.provider;
    let id = credential_id(provider, path.credential_id)?;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| {
            repo::delete(
                conn,
                &org,
                provider,
                &id,
                &IfMatch::parse(None),
                keep,
                audit.clone(),
            )
        })
        .await?;
    Ok(web::Json(DeleteResponse {
        request_id: caller.request_id.clone(),
    }))
}
