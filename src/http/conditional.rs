//! `If-Match` and `ETag` on the wire: reading the precondition from the
//! request (400 for an unreadable or empty header), declaring it in the
//! document (`params(IfMatch)` beside the handler, which is what makes an
//! operation conditional), and answering with a version's `ETag`. The
//! precondition itself is the domain's (`db::version`).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

pub use crate::db::version::{etag, IfMatch};
use crate::error::ApiError;
use crate::routes::OperationContract;

/// The document's name of the header.
pub const IF_MATCH_HEADER: &str = "If-Match";

/// The document's description of the header (one text for every operation).
pub const IF_MATCH_DESCRIPTION: &str = "Apply the change only if the resource's current `ETag` is one of these (or `*`); otherwise 412 and nothing is changed.";

/// A 200 JSON response carrying an `ETag`.
pub fn json_with_etag<T: Serialize>(etag: &str, body: &T) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    if let Ok(value) = HeaderValue::from_str(etag) {
        builder.insert_header((header::ETAG, value));
    }
    builder.json(body)
}

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name(IF_MATCH_HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(IF_MATCH_DESCRIPTION))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1)),
            ))
            .build()]
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<IfMatch, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The operation's contract must say it honours If-Match (its
        // handler lists `params(IfMatch)`), so the document shows the header
        // and the 412 of every handler that reads it.
        let declared = req
            .extensions()
            .get::<OperationContract>()
            .is_some_and(|c| c.if_match);
        if !declared {
            return ready(Err(ApiError::internal(format!(
                "{} reads If-Match but its operation does not declare params(IfMatch)",
                req.path()
            ))));
        }
        let value = req.headers().get(header::IF_MATCH);
        ready(match value.map(|v| v.to_str()) {
            None => Ok(IfMatch::parse(None)),
            Some(Ok(text)) if !text.trim().is_empty() => Ok(IfMatch::parse(Some(text))),
            Some(Ok(_)) => Err(ApiError::invalid_input(
                "invalid_header",
                "If-Match",
                "invalid_value",
                "must name at least one ETag, or *",
            )),
            Some(Err(_)) => Err(ApiError::invalid_input(
                "invalid_header",
                "If-Match",
                "invalid_value",
                "must be readable text",
            )),
        })
    }
}
