//! The surface seam. A *surface* is one API face over the same domain: the
//! native `/v1` API, and each vendor dialect. It is four things:
//!
//! - its routes: the documented operations its `configure` registers, each
//!   with its contract (`routes::OperationContract`), read from its own
//!   OpenAPI document into the route table at start;
//! - how a request presents its key ([`Surface::presented_key`]);
//! - how an error is written ([`Surface::write_error`]): every error under
//!   the surface's paths, whether from a handler, an extractor (400, 413,
//!   415), the auth middleware (401, 403), the default service (404, 405),
//!   the database (503) or the deadline (504);
//! - its own OpenAPI document ([`Surface::document`]).
//!
//! The outermost middleware, [`respond`], gives each request its id, finds
//! the surface that owns the path, and has it write every error body and
//! finish every response (a dialect may add headers to all of them).
//! docs/ARCHITECTURE.md walks through adding a dialect.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::Value;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;
use crate::http::problem::ErrorReport;
use crate::http::request_id::{valid_incoming, RequestId, REQUEST_ID_HEADER};

/// Where an error is being written: the request's id and path.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// The request's `X-Request-Id`.
    pub request_id: &'a str,
    /// The request's path.
    pub path: &'a str,
}

/// One API face: its routes, key reading, error envelope and document.
pub trait Surface: Send + Sync + 'static {
    /// Short name (`native`, `elasticsearch`); routes carry it.
    fn name(&self) -> &'static str;

    /// File stem of its document: committed as `openapi/<stem>.json`,
    /// served at `/api-docs/<stem>.json`.
    fn document_stem(&self) -> &'static str;

    /// Whether a request path is this surface's. The native surface, which
    /// answers every path no other surface claims, is never asked.
    fn claims(&self, path: &str) -> bool;

    /// Registers the surface's documented operations (with
    /// `auth::authenticate` wrapped on its authenticated scope). The server
    /// and [`Surface::document`] both call it.
    fn configure(&self, cfg: &mut ServiceConfig);

    /// The complete OpenAPI document (built with `openapi::build`).
    fn document(&self) -> &'static Value;

    /// The key a request presents, or 401. By default the native forms:
    /// [`bearer_or_api_key`].
    fn presented_key<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, ApiError> {
        bearer_or_api_key(headers)
    }

    /// Writes an error in the surface's envelope: sets `Content-Type` (and
    /// any header of its own) and returns the body.
    fn write_error(
        &self,
        error: &ErrorReport,
        at: ErrorContext<'_>,
        headers: &mut HeaderMap,
    ) -> Vec<u8>;

    /// Adds what every answer under the surface carries, errors included
    /// (nothing by default).
    fn finish(&self, _headers: &mut HeaderMap) {}
}

/// Every surface of the server: the native one, and the dialects that claim
/// their own paths. App data of the server.
#[derive(Clone)]
pub struct Surfaces {
    native: Arc<dyn Surface>,
    dialects: Vec<Arc<dyn Surface>>,
}

impl std::fmt::Debug for Surfaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all().map(|s| s.name()))
            .finish()
    }
}

impl Surfaces {
    /// The native surface and the dialects.
    pub fn new(native: Arc<dyn Surface>, dialects: Vec<Arc<dyn Surface>>) -> Surfaces {
        Surfaces { native, dialects }
    }

    /// Every surface, the native one first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Surface>> {
        std::iter::once(&self.native).chain(&self.dialects)
    }

    /// Whether a dialect claims the path (else it is the native surface's).
    pub fn claimed_by_dialect(&self, path: &str) -> bool {
        self.dialects.iter().any(|s| s.claims(path))
    }

    /// Every surface in the order their routes are registered: the dialects
    /// first, so a path a dialect claims (Elasticsearch's `GET /`) is
    /// answered by it even when the native surface registers the same path.
    pub fn in_routing_order(&self) -> impl Iterator<Item = &Arc<dyn Surface>> {
        self.dialects.iter().chain(std::iter::once(&self.native))
    }

    /// The surface that owns a path: the dialect that claims it, else the
    /// native surface.
    pub fn for_path(&self, path: &str) -> &dyn Surface {
        self.dialects
            .iter()
            .find(|s| s.claims(path))
            .unwrap_or(&self.native)
            .as_ref()
    }
}

fn unauthorized(why: &'static str) -> ApiError {
    ApiError::Unauthorized(why.into())
}

/// The native ways to present a key: `Authorization: Bearer <key>`,
/// `Authorization: ApiKey <key>` (either scheme in any case, so Kibana's
/// `apiKey` too) or `x-api-key: <key>`. Exactly one: a request carrying two
/// such headers (twice `Authorization`, or `Authorization` and `x-api-key`)
/// is 401, since a proxy in front may read the other one.
pub fn bearer_or_api_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    let presented = headers.get_all(AUTHORIZATION).count() + headers.get_all("x-api-key").count();
    if presented > 1 {
        return Err(unauthorized(
            "present one API key in one header: Authorization or x-api-key, once",
        ));
    }
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not readable"))?;
        let (scheme, key) = value.split_once(' ').ok_or_else(|| {
            unauthorized("the Authorization header must be `Bearer <key>` or `ApiKey <key>`")
        })?;
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey") {
            return Ok(key.trim());
        }
        return Err(unauthorized(
            "the Authorization header must be `Bearer <key>` or `ApiKey <key>`",
        ));
    }
    if let Some(value) = headers.get("x-api-key") {
        return value
            .to_str()
            .map(str::trim)
            .map_err(|_| unauthorized("the x-api-key header is not readable"));
    }
    Err(unauthorized("an API key is required"))
}

/// Put in a response's extensions by a handler that wrote an error body in
/// its surface's envelope itself: [`respond`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct Written;

/// The outermost middleware (`from_fn(respond)`): gives every request an id
/// (echoing a valid incoming `X-Request-Id`), sets it on every response,
/// and has the surface owning the path write every error body (an
/// `ApiError`'s, or any other error response's, from actix itself or a
/// mounted service) and finish every response.
pub async fn respond(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(valid_incoming)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let surfaces = req.app_data::<web::Data<Surfaces>>().cloned();
    // Handlers' errors arrive here as responses; an `Err` can only come from
    // actix itself and is passed on as it is.
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(surfaces) = surfaces else {
        return Ok(res);
    };
    let surface = surfaces.for_path(res.request().path());
    let mut res = write_error(res, surface, &id);
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    surface.finish(res.headers_mut());
    Ok(res)
}

fn write_error(
    res: ServiceResponse<BoxBody>,
    surface: &dyn Surface,
    id: &str,
) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if res.response().extensions().get::<Written>().is_some() {
        return res;
    }
    let existing = res.response().extensions().get::<ErrorReport>().cloned();
    let report = match existing {
        Some(report) => report,
        None if status.is_client_error() || status.is_server_error() => {
            if let Some(err) = res.response().error() {
                log::error!("unhandled error: {err}");
            }
            ErrorReport::of_status(status)
        }
        None => return res,
    };
    let path = res.request().path().to_owned();
    let (req, resp) = res.into_parts();
    let mut resp = resp.set_body(());
    let body = surface.write_error(
        &report,
        ErrorContext {
            request_id: id,
            path: &path,
        },
        resp.headers_mut(),
    );
    resp.headers_mut().remove(CONTENT_LENGTH);
    let mut resp = resp.set_body(BoxBody::new(body));
    resp.extensions_mut().insert(report);
    ServiceResponse::new(req, resp)
}

#[cfg(test)]
mod tests {
    //! The seam with two toy surfaces: errors under a dialect's prefix are
    //! written in its envelope, from a handler, an extractor and the default
    //! service alike, and its `finish` touches every answer; other paths
    //! keep the native writer.

    use actix_web::http::header::{HeaderName, CONTENT_TYPE};
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{web, App, HttpResponse};
    use serde_json::{json, Value};

    use super::*;
    use crate::routes::{no_route, Routes};

    struct Toy {
        prefix: &'static str,
        envelope: fn(&ErrorReport, ErrorContext<'_>) -> Value,
    }

    impl Surface for Toy {
        fn name(&self) -> &'static str {
            self.prefix
        }
        fn document_stem(&self) -> &'static str {
            self.prefix
        }
        fn claims(&self, path: &str) -> bool {
            path.starts_with(self.prefix)
        }
        fn configure(&self, _: &mut ServiceConfig) {}
        fn document(&self) -> &'static Value {
            static EMPTY: Value = Value::Null;
            &EMPTY
        }
        fn write_error(
            &self,
            error: &ErrorReport,
            at: ErrorContext<'_>,
            headers: &mut HeaderMap,
        ) -> Vec<u8> {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            serde_json::to_vec(&(self.envelope)(error, at)).unwrap()
        }
        fn finish(&self, headers: &mut HeaderMap) {
            if self.prefix == "/_toy" {
                headers.insert(
                    HeaderName::from_static("x-toy-product"),
                    HeaderValue::from_static("Toy"),
                );
            }
        }
    }

    fn surfaces() -> Surfaces {
        let native = Toy {
            prefix: "/",
            envelope: |e, at| json!({"code": e.code, "instance": at.path}),
        };
        let dialect = Toy {
            prefix: "/_toy",
            envelope: |e, at| json!({"error": {"type": e.code, "reason": e.detail}, "status": e.status.as_u16(), "request_id": at.request_id}),
        };
        Surfaces::new(Arc::new(native), vec![Arc::new(dialect)])
    }

    async fn refused() -> Result<HttpResponse, ApiError> {
        Err(ApiError::Unauthorized("an API key is required".into()))
    }

    #[actix_web::test]
    async fn each_error_is_written_by_the_surface_owning_its_path() {
        let routes = Routes::from_document(&json!({"paths": {
            "/_toy/things": {"get": {"operationId": "toy_list_things"}}
        }}));
        let app = actix_test::init_service(
            App::new()
                .app_data(web::Data::new(surfaces()))
                .app_data(web::Data::new(routes))
                .route("/_toy/things", web::get().to(refused))
                .route("/v1/things", web::get().to(refused))
                .route(
                    "/_toy/numbers/{n}",
                    web::get().to(|n: web::Path<u32>| async move { n.to_string() }),
                )
                .default_service(web::to(no_route))
                .wrap(from_fn(respond)),
        )
        .await;
        let cases = [
            (
                "GET",
                "/_toy/things",
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "POST",
                "/_toy/things",
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            ),
            ("GET", "/_toy/nothing", StatusCode::NOT_FOUND, "not_found"),
            // actix's own 404 for a path value that does not parse.
            ("GET", "/_toy/numbers/x", StatusCode::NOT_FOUND, "not_found"),
        ];
        for (method, path, status, code) in cases {
            let req = actix_test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .to_request();
            let res = actix_test::call_service(&app, req).await;
            assert_eq!(res.status(), status, "{method} {path}");
            assert_eq!(
                res.headers().get("x-toy-product").unwrap(),
                "Toy",
                "{method} {path}"
            );
            let id = res
                .headers()
                .get("x-request-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = actix_test::read_body_json(res).await;
            assert_eq!(body["error"]["type"], code, "{method} {path}: {body}");
            assert_eq!(body["status"], status.as_u16(), "{method} {path}");
            assert_eq!(body["request_id"], id, "{method} {path}");
        }
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/v1/things")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get("x-toy-product").is_none());
        assert!(res.headers().contains_key("www-authenticate"));
        let body: Value = actix_test::read_body_json(res).await;
        assert_eq!(
            body,
            json!({"code": "unauthorized", "instance": "/v1/things"})
        );
    }

    #[test]
    fn the_native_key_forms_are_read_in_any_case() {
        for (name, value) in [
            ("authorization", "Bearer kg_ak_x"),
            ("authorization", "ApiKey kg_ak_x"),
            ("authorization", "apiKey kg_ak_x"),
            ("x-api-key", " kg_ak_x "),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
            assert_eq!(bearer_or_api_key(&headers).unwrap(), "kg_ak_x", "{value}");
        }
        let mut twice = HeaderMap::new();
        twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer kg_ak_x"));
        twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer kg_ak_y"));
        assert!(bearer_or_api_key(&twice).is_err());
        let mut both = HeaderMap::new();
        both.insert(AUTHORIZATION, HeaderValue::from_static("Bearer kg_ak_x"));
        both.insert(
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("kg_ak_x"),
        );
        assert!(bearer_or_api_key(&both).is_err());
        let mut basic = HeaderMap::new();
        basic.insert(AUTHORIZATION, HeaderValue::from_static("Basic eDp5"));
        assert!(bearer_or_api_key(&basic).is_err());
    }
}
