//! The machinery every surface's OpenAPI document is built with: the
//! operations are collected from the same `configure` function that
//! registers the surface's routes (so the document cannot drift from the
//! server), then the passes add what follows from the server's rules: the
//! shared error responses (`responses`), links from creates to the
//! resources they made (`links`), and the generator-friendly shapes and NUL
//! rule (`generators`). Each surface pins its own `info`, tags and security
//! schemes; the native one is `resources::document()`.

pub mod generators;
pub mod links;
pub mod responses;

use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

pub use generators::NO_NUL_PATTERN;
pub use responses::{SharedResponse, BAD_REQUEST_EXAMPLES};

/// A surface's complete document: `api` (its `#[derive(OpenApi)]` part),
/// the operations `configure` registers, the shared responses rendered by
/// `render_error`, the surface's own `rules`, then links and the generator
/// passes.
pub fn build(
    api: utoipa::openapi::OpenApi,
    configure: impl FnOnce(&mut ServiceConfig),
    render_error: &dyn Fn(&SharedResponse) -> Value,
    rules: impl FnOnce(&mut Value),
) -> Value {
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(api)
        .configure(configure)
        .split_for_parts();
    let mut doc = serde_json::to_value(api).expect("document serializes");
    responses::add_shared_responses(&mut doc, render_error);
    rules(&mut doc);
    links::add_links(&mut doc);
    generators::tidy_for_generators(&mut doc);
    generators::forbid_nul(&mut doc);
    doc
}

/// For a surface none of whose operations honours `If-Match` (the vendors'
/// clients send none): drops the shared `If-Match` parameter and its 412,
/// which would be unused components.
pub fn drop_if_match(doc: &mut Value) {
    if let Some(parameters) = doc["components"]["parameters"].as_object_mut() {
        parameters.remove("IfMatch");
    }
    if let Some(responses) = doc["components"]["responses"].as_object_mut() {
        responses.remove("PreconditionFailed");
    }
}

/// A document as committed in `openapi/`: pretty JSON with a trailing
/// newline.
pub fn pretty(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).expect("document serializes");
    text.push('\n');
    text
}
