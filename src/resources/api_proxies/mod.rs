//! API proxies (Apinizer family): the proxies of a project, with their
//! public key (identification, shown) and secret key (authentication,
//! sealed), `PATCH .../settings/keys` to set them and `POST
//! .../settings/keys/check` to check a presented pair in constant time.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "api_proxies";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the API proxy operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_api_proxy)
        .service(handlers::list_api_proxies)
        .service(handlers::get_api_proxy)
        .service(handlers::update_api_proxy)
        .service(handlers::delete_api_proxy)
        .service(handlers::update_api_proxy_keys)
        .service(handlers::check_api_proxy_keys);
}
