//! API keys: the credentials every caller authenticates with.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "api_keys";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the API key operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_api_key)
        .service(handlers::import_api_keys)
        .service(handlers::list_api_keys)
        .service(handlers::get_api_key)
        .service(handlers::update_api_key)
        .service(handlers::delete_api_key)
        .service(handlers::undelete_api_key)
        .service(handlers::rotate_api_key)
        .service(handlers::revoke_pending_api_key)
        .service(handlers::change_api_key_credits)
        .service(handlers::get_me);
}
