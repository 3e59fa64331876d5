//! `POST /v1/verify`: lets a service holding a `serving` key check a key its
//! own callers present, without holding rights over that key. No table of
//! its own: it reads through the authentication cache.

pub mod dto;
pub mod handlers;

/// The tag of its operations in the document.
pub const TAG: &str = "verify";

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the verify operation under the `/v1` scope.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(handlers::verify_key);
}

#[cfg(test)]
mod tests {
    use crate::resources::verify::dto::VerifyCode;

    #[test]
    fn codes_are_named_as_serialized() {
        for code in VerifyCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                code.as_str(),
                "{code:?}"
            );
            assert_eq!(VerifyCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(VerifyCode::parse("not_found"), None);
    }
}
