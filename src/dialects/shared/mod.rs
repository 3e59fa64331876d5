//! What the dialects have alike, written once for all of them.

/// What every dialect that owns one path prefix and answers errors as JSON
/// has alike, written once: its document, built once from its handlers
/// (`document`, `document_pretty`), the examples of its errors
/// (`error_example` for a handler's own responses, `render_error` for the
/// shared ones) and its [`Surface`](crate::surface::Surface) (`$surface`,
/// named `$name`, its document `openapi/$stem.json`). The module defines
/// `PREFIX`, `configure`, `ApiDoc`, and `$body`: the error body of a
/// report and a request id. `$tidy` finishes the built document.
macro_rules! prefix_dialect {
    ($surface:ident, name = $name:literal, stem = $stem:literal, tidy = $tidy:expr, body = $body:expr) => {
        #[doc = concat!("The dialect's complete document, built once (`openapi/", $stem, ".json`).")]
        pub fn document() -> &'static serde_json::Value {
            static DOCUMENT: std::sync::LazyLock<serde_json::Value> =
                std::sync::LazyLock::new(|| {
                    crate::openapi::build(
                        <ApiDoc as utoipa::OpenApi>::openapi(),
                        configure,
                        &render_error,
                        $tidy,
                    )
                });
            &DOCUMENT
        }

        #[doc = concat!("The document as committed in `openapi/", $stem, ".json`.")]
        pub fn document_pretty() -> String {
            crate::openapi::pretty(document())
        }

        /// The example of a handler's own error response, in the dialect's
        /// envelope.
        pub(super) fn error_example(status: u16, code: &str, detail: &str) -> serde_json::Value {
            let report = crate::http::problem::ErrorReport::example(status, code, detail);
            serde_json::to_value(($body)(&report, crate::http::problem::EXAMPLE_REQUEST_ID))
                .unwrap_or_default()
        }

        /// A shared error response in the dialect's envelope, with an example.
        fn render_error(shared: &crate::openapi::SharedResponse) -> serde_json::Value {
            shared.json(
                "ErrorResponse",
                ($body)(&shared.report(), crate::http::problem::EXAMPLE_REQUEST_ID),
            )
        }

        impl crate::surface::Surface for $surface {
            fn name(&self) -> &'static str {
                $name
            }

            fn document_stem(&self) -> &'static str {
                $stem
            }

            fn claims(&self, path: &str) -> bool {
                path == PREFIX
                    || path
                        .strip_prefix(PREFIX)
                        .is_some_and(|rest| rest.starts_with('/'))
            }

            fn configure(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
                configure(cfg);
            }

            fn document(&self) -> &'static serde_json::Value {
                document()
            }

            fn write_error(
                &self,
                error: &crate::http::problem::ErrorReport,
                at: crate::surface::ErrorContext<'_>,
                headers: &mut actix_web::http::header::HeaderMap,
            ) -> Vec<u8> {
                use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                serde_json::to_vec(&($body)(error, at.request_id)).unwrap_or_default()
            }
        }
    };
}
pub(crate) use prefix_dialect;

/// A 400 `validation_failed` with the native field names as the vendor
/// writes them: each `(native, vendor)` pair renames a field that is, or
/// begins with, `native` (`resource_scopes[2]` becomes `corpus_keys[2]`);
/// any other error is returned as it is.
pub fn vendor_fields(
    err: crate::error::ApiError,
    names: &[(&str, &str)],
) -> crate::error::ApiError {
    use crate::error::{ApiError, FieldError};
    match err {
        ApiError::BadRequest {
            code: "validation_failed",
            errors,
            ..
        } => ApiError::invalid_fields(
            errors
                .into_iter()
                .map(|e| {
                    let field = names
                        .iter()
                        .find_map(|(native, vendor)| {
                            let rest = e.field.strip_prefix(native)?;
                            (rest.is_empty() || rest.starts_with(['[', '.']))
                                .then(|| format!("{vendor}{rest}"))
                        })
                        .unwrap_or_else(|| e.field.clone());
                    FieldError { field, ..e }
                })
                .collect(),
        ),
        other => other,
    }
}
