//! The Vectara paths: each handler translates the vendor's request, calls
//! the same domain function as its native twin (`x-keygate-acts-as`), and
//! translates the answer back. The create answers 201 with `secret_key`;
//! the delete 204, as Vectara does.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::wire::{
    ApiKey, ApiKeyList, ApiKeyPath, ApiPolicy, CreateApiKey, ListMetadata, ListQuery, UpdateApiKey,
};
use super::{PREFIX, TAG};
use crate::auth::Caller;
use crate::db::version::IfMatch;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::page::PageQuery;
use crate::http::params::{Path, Query};
use crate::keys::rights::Role;
use crate::resources::api_keys::dto::{self as native, ApiKey as NativeApiKey};
use crate::resources::api_keys::model::ApiKeyRow;
use crate::resources::api_keys::repo::{self, ListFilter};
use crate::state::AppState;

/// The Vectara view of a native key.
fn view(key: NativeApiKey, secret_key: Option<String>) -> ApiKey {
    ApiKey {
        api_policy: key.api_policy.map(|policy| ApiPolicy {
            name: key.api_key_role.as_str().to_owned(),
            allowed_operations: policy.allowed_operations,
        }),
        id: key.id,
        name: key.name,
        secret_key,
        enabled: key.enabled,
        api_key_role: key.api_key_role,
        corpus_keys: key.resource_scopes,
    }
}

fn view_of(row: ApiKeyRow) -> Result<ApiKey, ApiError> {
    Ok(view(NativeApiKey::from_row(row, Vec::new(), None)?, None))
}

/// The native field names in a 400, as Vectara's: `resource_scopes` is
/// `corpus_keys`, `cursor` is `page_key`.
fn vendor_fields(err: ApiError) -> ApiError {
    crate::dialects::shared::vendor_fields(
        err,
        &[("resource_scopes", "corpus_keys"), ("cursor", "page_key")],
    )
}

/// Create an API key
///
/// `api_keys.create(name=..., api_key_role=..., corpus_keys=[...])`:
/// creates a key in the caller's organization, as `POST /v1/api_keys`
/// does, and returns it with `secret_key`, shown only in this answer. The
/// new key can never exceed the caller's rights (403). `corpus_keys`
/// become the key's resource scopes; a `personal` key takes none (400).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key")), ("x-keygate-acts-as" = json!("create_api_key"))),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key, with its `secret_key` shown once.", body = ApiKey,
            headers(("Location" = String, description = "Path of the new key."))),
    )
)]
#[post("")]
pub async fn vectara_create_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = native::CreateApiKey {
        name: body.name,
        api_key_role: body.api_key_role,
        api_policy: None,
        allowed_cidrs: None,
        expires_at: None,
        enabled: None,
        resource_scopes: body.corpus_keys,
        identity_id: None,
        ratelimits: None,
        credits: None,
    }
    .into_input(&state.policy_names)
    .map_err(vendor_fields)?;
    input.rights().ensure_within(&caller.rights)?;
    let audit = caller.audit("");
    let org = caller.organization_id.clone();
    let (row, key) = state
        .db
        .write(move |conn| repo::create(conn, &org, &input, audit.clone()))
        .await?;
    let location = format!("{PREFIX}/{}", row.id);
    let created = view(
        NativeApiKey::from_row(row, Vec::new(), None)?,
        Some(key.value),
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(created))
}

/// List API keys
///
/// `api_keys.list(limit=..., corpus_key=..., api_key_role=...)`, which
/// the SDK pages through: the organization's keys, oldest first, `limit`
/// (10 by default) a page; `metadata.page_key` is the next page's
/// `page_key`, `null` on the last page.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-acts-as" = json!("list_api_keys"))),
    params(ListQuery),
    responses((status = 200, description = "A page of keys.", body = ApiKeyList))
)]
#[get("")]
pub async fn vectara_list_api_keys(
    caller: Caller,
    state: web::Data<AppState>,
    query: Query<ListQuery>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: Some(query.limit.unwrap_or(10)),
        cursor: query.page_key,
    }
    .page()
    .map_err(vendor_fields)?;
    if query.corpus_key.as_ref().is_some_and(|s| !s.is_valid()) {
        return Err(ApiError::invalid_field(
            "corpus_key",
            "pattern",
            "must be 1 to 64 letters, digits, '_', '-' or '='",
        ));
    }
    let filter = ListFilter {
        role: query.api_key_role,
        enabled: None,
        scope: query.corpus_key.map(|s| s.0),
        ..ListFilter::default()
    };
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| repo::list(conn, &org, &filter, &query_page))
        .await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(web::Json(ApiKeyList {
        api_keys: rows.into_iter().map(view_of).collect::<Result<_, _>>()?,
        metadata: ListMetadata { page_key: next },
    }))
}

/// Get an API key
///
/// `api_keys.get(api_key_id)`: one key of the caller's organization; never
/// its `secret_key`.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-acts-as" = json!("get_api_key"))),
    params(ApiKeyPath),
    responses((status = 200, description = "The key.", body = ApiKey))
)]
#[get("/{api_key_id}")]
pub async fn vectara_get_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let org = caller.organization_id;
    let row = state
        .db
        .read(move |conn| repo::get(conn, &org, &id))
        .await?;
    Ok(web::Json(view_of(row)?))
}

/// Update an API key
///
/// `api_keys.update(api_key_id, enabled=...)`: enables or disables the key
/// (a disabled key is refused at once); `{}` changes nothing. The caller
/// must hold at least the key's rights.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key")), ("x-keygate-acts-as" = json!("update_api_key"))),
    params(ApiKeyPath),
    request_body = UpdateApiKey,
    responses((status = 200, description = "The key after the change.", body = ApiKey))
)]
#[patch("/{api_key_id}")]
pub async fn vectara_update_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
    body: JsonBody<UpdateApiKey>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let patch = native::UpdateApiKey {
        name: None,
        enabled: body.into_inner().enabled,
        api_policy: None,
        allowed_cidrs: None,
        expires_at: None,
        identity_id: None,
        ratelimits: None,
        credits: None,
    }
    .into_patch(&state.policy_names)?;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let row = state
        .db
        .write(move |conn| {
            repo::update_within(
                conn,
                &org,
                &id,
                &IfMatch::parse(None),
                &caller.rights,
                patch.clone(),
                audit.clone(),
            )?;
            repo::get(conn, &org, &id)
        })
        .await?;
    Ok(web::Json(view_of(row)?))
}

/// Delete an API key
///
/// `api_keys.delete(api_key_id)`: deletes the key and every secret of it;
/// it stops working at once. The caller must hold at least the key's
/// rights. A key a connector uses cannot be deleted (409; the SDK retries
/// a 409 twice, each refused alike).
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal)), ("x-keygate-audit" = json!("api_key")), ("x-keygate-acts-as" = json!("delete_api_key"))),
    params(ApiKeyPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "A connector uses the key.", body = super::wire::ErrorResponse,
            example = json!(super::error_example(409, "still_referenced", "api key aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 is used by a connector"))),
    )
)]
#[delete("/{api_key_id}")]
pub async fn vectara_delete_api_key(
    caller: Caller,
    state: web::Data<AppState>,
    path: Path<ApiKeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().api_key_id.0;
    let audit = caller.audit(&id);
    let org = caller.organization_id.clone();
    let keep = state.recovery_window.is_some();
    state
        .db
        .write(move |conn| {
            repo::delete(
                conn,
                &org,
                &id,
                &IfMatch::parse(None),
                keep,
                repo::within(&caller.rights),
                audit.clone(),
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
