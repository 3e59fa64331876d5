//! Connected clusters (Elastic Cloud Connect family): self-managed
//! Elasticsearch clusters linked to an organization, their services (`eis`,
//! `auto_ops`), and the cluster key (`kg_ck_`) and per-service keys
//! (`kg_cs_`) they call in with, rotated by the one machinery in
//! `crate::keys` and verified by `POST /v1/verify`.

pub mod domain;
pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "clusters";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the cluster operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_cluster)
        .service(handlers::list_clusters)
        .service(handlers::get_cluster)
        .service(handlers::update_cluster)
        .service(handlers::delete_cluster)
        .service(handlers::rotate_cluster_api_key)
        .service(handlers::revoke_pending_cluster_api_key)
        .service(handlers::rotate_cluster_service_api_key)
        .service(handlers::revoke_pending_cluster_service_api_key);
}
