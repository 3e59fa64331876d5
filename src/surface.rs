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
/// `apiKey` too) or `x-api-key: <key>`.
pub fn bearer_or_api_key(headers: &HeaderMap) -> Result<&str, ApiError> {
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
