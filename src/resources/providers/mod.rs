//! Providers and provider credentials (Nylas family): the app credentials
//! that let a platform act on a provider (Google service accounts, Microsoft
//! admin consent, connector overrides), with `credential_data` sealed under
//! the master key and never returned, and each provider's active credential.

pub mod dto;
pub mod handlers;
pub mod model;
pub mod repo;

/// The tag of its operations in the document.
pub const TAG: &str = "providers";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the provider and credential operations under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::get_provider)
        .service(handlers::update_provider)
        .service(handlers::create_provider_credential)
        .service(handlers::list_provider_credentials)
        .service(handlers::get_provider_credential)
        .service(handlers::update_provider_credential)
        .service(handlers::delete_provider_credential)
        .service(handlers::undelete_provider_credential);
}
