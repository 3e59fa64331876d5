//! Projects (Apinizer family): named groups of API proxies, addressed by
//! name. A project that still holds proxies cannot be deleted.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "projects";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the project operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_project)
        .service(handlers::list_projects)
        .service(handlers::get_project)
        .service(handlers::update_project)
        .service(handlers::delete_project);
}
