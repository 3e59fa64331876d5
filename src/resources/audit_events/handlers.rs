//! HTTP handler of `/v1/audit_events`.

use actix_web::{get, web};
use validator::Validate;

use super::dto::{AuditEvent, AuditEventList, AuditFilter};
use super::repo;
use super::TAG;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::page::PageQuery;
use crate::http::params::Query;
use crate::keys::rights::Role;
use crate::resources::organizations::repo as org_repo;
use crate::state::AppState;

/// List audit events
///
/// Every mutation of the organization (outcome `success`, written in the
/// same transaction as the change) and every mutation refused with 401 or
/// 403 (outcome `denied`), oldest first. Keys of the first organization
/// also see refused calls that never authenticated. Needs a `personal` key.
#[utoipa::path(
    tag = TAG,
    extensions(("x-keygate-role" = json!(Role::Personal))),
    params(PageQuery, AuditFilter),
    responses((status = 200, description = "A page of events.", body = AuditEventList))
)]
#[get("/audit_events")]
pub async fn list_audit_events(
    caller: Caller,
    state: web::Data<AppState>,
    page: Query<PageQuery>,
    filter: Query<AuditFilter>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    let page = page.page()?;
    let filter = filter.into_inner();
    filter.validate()?;
    let org = caller.organization_id;
    let query_page = page.clone();
    let rows = state
        .db
        .read(move |conn| {
            let is_root = org_repo::get(conn, &org)?.is_root;
            repo::list(conn, &org, is_root, &filter.into(), &query_page)
        })
        .await?;
    let (rows, next_cursor) = page.finish(rows, |r| &r.id);
    Ok(web::Json(AuditEventList {
        data: rows.into_iter().map(AuditEvent::from).collect(),
        next_cursor,
    }))
}
