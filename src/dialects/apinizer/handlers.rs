//! The Apinizer paths: the handler translates Apinizer's camelCase body
//! (`null` meaning not given), calls the same domain function as its
//! native twin (`x-keygate-acts-as`), and answers exactly `{"success":
//! true}`.

use actix_web::{patch, web};

use super::wire::{Success, UpdateKeys};
use super::TAG;
use crate::auth::Caller;
use crate::db::version::IfMatch;
use crate::error::ApiError;
use crate::http::body::JsonBody;
use crate::http::params::Path;
use crate::keys::rights::Role;
use crate::resources::api_proxies::dto::{ApiProxyPath, UpdateApiProxyKeys};
use crate::resources::api_proxies::repo;
use crate::state::AppState;

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
    if body.deploy == Some(true) {
        return Err(ApiError::invalid_field(
            "deploy",
            "not_supported",
            "deployment is not supported: keygate has no environments; leave deploy out or false",
        ));
    }
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
