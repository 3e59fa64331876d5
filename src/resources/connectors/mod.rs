//! Connectors (Elasticsearch family): a named link from a data source
//! (`service_type`) to an index, with the API key it writes with and the
//! secret that holds that key's encoded value.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "connectors";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the connector operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::create_connector)
        .service(handlers::list_connectors)
        .service(handlers::get_connector)
        .service(handlers::put_connector)
        .service(handlers::update_connector)
        .service(handlers::delete_connector)
        .service(handlers::update_connector_api_key_id);
}
