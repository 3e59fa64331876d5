//! HTTP handlers of `/v1/organizations`.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use validator::Validate;

use super::dto::{CreateOrganization, CreatedOrganization, Organization, OrganizationPath};
use super::repo;
use crate::auth::Caller;
use crate::conditional::json_with_etag;
use crate::error::ApiError;
use crate::resources::api_keys::dto::{ApiKey, ApiKeyWithSecret};
use crate::resources::JsonBody;
use crate::startup::AppState;

/// Create an organization
///
/// Creates an organization and its first `personal` key, returned with its
/// secret this once. Only `personal` keys of the first organization may call
/// it; others get 403 `not_root_organization`.
#[utoipa::path(
    tag = "organizations",
    request_body(content = CreateOrganization, example = json!({"name": "acme"})),
    responses(
        (status = 201, description = "The organization and its first key.", body = CreatedOrganization,
            headers(("Location" = String, description = "Path of the new organization."), ("ETag" = String, description = "Version of the organization."))),
        (status = 409, description = "An organization with this name exists.", body = crate::error::ProblemDetails, content_type = "application/problem+json"),
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
    let created = state
        .db
        .write(move |conn| {
            if !repo::get(conn, &org)?.is_root {
                return Err(ApiError::Forbidden {
                    code: "not_root_organization",
                    detail: "only keys of the first organization may create organizations"
                        .to_owned(),
                    missing_permission: Some("create_organization".to_owned()),
                });
            }
            repo::create(conn, &body.name, audit)
        })
        .await?;
    let location = format!("/v1/organizations/{}", created.organization.id);
    let etag = created.organization.etag();
    let body = CreatedOrganization {
        organization: created.organization.into(),
        api_key: ApiKeyWithSecret {
            api_key: ApiKey::from_row(created.api_key, Vec::new())?,
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
    tag = "organizations",
    params(OrganizationPath),
    responses((status = 200, description = "The organization.", body = Organization,
        headers(("ETag" = String, description = "Version of the organization."))))
)]
#[get("/organizations/{organization_id}")]
pub async fn get_organization(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner().organization_id.0;
    if id != caller.organization_id {
        return Err(ApiError::not_found("organization", &id));
    }
    let row = state.db.read(move |conn| repo::get(conn, &id)).await?;
    Ok(json_with_etag(&row.etag(), &Organization::from(row)))
}
