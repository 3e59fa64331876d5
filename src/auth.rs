//! Who is calling and whether they may: the middleware wrapped on each
//! surface's authenticated scope authenticates the presented key (read the
//! surface's way) and authorizes the addressed operation (the role its
//! contract names, the key's policy and allowed addresses) before a
//! handler runs; every authenticated handler takes the resulting `Caller`,
//! so no operation can forget either step.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;

use crate::audit::AuditEvent;
use crate::db::now;
use crate::error::ApiError;
use crate::http::request_id::RequestId;
use crate::keys::format;
use crate::keys::records::{KeyRecord, Unusable};
use crate::keys::repo::find_api_key;
use crate::keys::rights::Rights;
use crate::routes::{Addressed, Route, Routes};
use crate::state::AppState;
use crate::surface::Surfaces;

/// An authenticated, authorized caller of one operation.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The `aky_` id of the key used.
    pub key_id: String,
    /// The key's organization; every query is scoped to it.
    pub organization_id: String,
    /// The key's rights.
    pub rights: Rights,
    /// The operationId being called.
    pub operation_id: String,
    /// The resource type of the operation's audit events (its contract's
    /// `x-keygate-audit`; empty for an operation that is not audited).
    pub resource_type: String,
    /// This request's id.
    pub request_id: String,
}

impl Caller {
    /// An audit event for a successful mutation by this caller.
    pub fn audit(&self, resource_id: &str) -> AuditEvent {
        AuditEvent::success(
            &self.organization_id,
            Some(&self.key_id),
            &self.operation_id,
            &self.resource_type,
            resource_id,
            &self.request_id,
        )
    }
}

fn unauthorized(why: &'static str) -> ApiError {
    ApiError::Unauthorized(why.into())
}

impl From<Unusable> for ApiError {
    fn from(why: Unusable) -> Self {
        unauthorized(match why {
            Unusable::Disabled => "the API key is disabled",
            Unusable::Expired => "the API key has expired",
        })
    }
}

/// What a presented key turned out to be.
pub enum Lookup {
    /// Not a keygate API key by shape or checksum (no database look-up).
    Malformed,
    /// Well formed, but no such key.
    Unknown,
    /// A key (current or pending secret); usability not yet checked.
    Found(Arc<KeyRecord>),
}

/// The longest text that can be an imported key (`import_api_keys`).
pub const IMPORTED_KEY_MAX_LEN: usize = 512;

/// Looks a presented API key up: shape and checksum first, then the cache,
/// then the database (whose answer, found or not, is cached). Text that
/// starts `kg_` but is not a keygate API key is refused without a look-up;
/// other text (8 to 512 characters) can only be an imported key, found by
/// its hash, and is malformed when there is none.
pub async fn lookup(state: &AppState, key: &str) -> Result<Lookup, ApiError> {
    let imported = match format::parse(key) {
        Ok(format::KeyKind::ApiKey) => false,
        Ok(_) => return Ok(Lookup::Malformed),
        Err(_) if key.starts_with("kg_") => return Ok(Lookup::Malformed),
        Err(_) if !(8..=IMPORTED_KEY_MAX_LEN).contains(&key.len()) => return Ok(Lookup::Malformed),
        Err(_) => true,
    };
    let record = state
        .caches
        .api_keys
        .lookup(&state.db, key, find_api_key)
        .await?;
    Ok(match record {
        Some(record) => Lookup::Found(record),
        None if imported => Lookup::Malformed,
        None => Lookup::Unknown,
    })
}

/// The middleware of every authenticated scope (`from_fn(authenticate)`):
/// authenticates the presented key and authorizes the operation the
/// request addresses, before any extractor reads the path or body, so bad
/// credentials are always a 401 and a forbidden call always a 403. The
/// `Caller` it leaves in the request's extensions is what handlers receive,
/// with the operation's contract beside it. A refused audited operation is
/// recorded as a `denied` event when the caller presented a real key (so a
/// disabled or expired key's refusals reach its organization's trail), and
/// only counted ([`crate::audit::Refusals`]) when it presented none: anyone
/// can send those.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let routes = req
        .app_data::<web::Data<Routes>>()
        .ok_or_else(|| ApiError::internal("the route table is not registered"))?
        .clone();
    // Unknown paths pass on to the 404 answer. A documented path with
    // another method is 405 here: the router could otherwise hand a
    // concrete path (`/v1/api_keys/import`) to a templated route's handler
    // (`PATCH /v1/api_keys/{api_key_id}`) that no contract covers.
    let Some(route) = routes.find_for_path(req.method(), req.path()) else {
        let allow = routes.methods_for(req.path());
        if !allow.is_empty() {
            return Ok(req.error_response(ApiError::MethodNotAllowed { allow }));
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // For the request metrics (`http::observe`), whatever the answer.
    req.extensions_mut()
        .insert(Addressed(route.operation_id.clone()));
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?
        .clone();
    let surfaces = req
        .app_data::<web::Data<Surfaces>>()
        .ok_or_else(|| ApiError::internal("the surfaces are not registered"))?
        .clone();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let surface = surfaces.for_path(req.path());
    let outcome = match identify(&state, surface.presented_key(req.headers())).await {
        Err(refused) => Err(refused),
        Ok(record) => match permit(&req, route, &record, &request_id) {
            Ok(caller) => Ok((caller, record)),
            Err(err) => Err((err, Some(record))),
        },
    };
    match outcome {
        Ok((caller, record)) => {
            let at = now();
            // keygate's own API counts against the calling key's limits
            // (and its identity's); the dialects answer as their vendors do.
            if surface.name() == NATIVE {
                if let Err(limited) = within_limits(&state, &record, at).await {
                    return Ok(req.error_response(limited));
                }
            }
            state.last_used.touch(&caller.key_id, at.naive_utc());
            if let Some(contract) = route.contract.clone() {
                req.extensions_mut().insert(contract);
            }
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err((err, who)) => {
            if matches!(err, ApiError::Unauthorized(_) | ApiError::Forbidden { .. }) {
                match who {
                    Some(who) => {
                        record_denied(&state, route, &who, req.path(), &request_id).await;
                    }
                    None => {
                        state.refusals.note();
                        log::debug!("refused {} without a usable key", route.operation_id);
                    }
                }
            }
            Ok(req.error_response(err))
        }
    }
}

/// Name of the native surface (`surface::Surface::name`).
const NATIVE: &str = "native";

/// Counts one request against the calling key's rate limits and its
/// identity's; 429 `rate_limited` when one is exhausted (nothing counted).
async fn within_limits(
    state: &AppState,
    record: &KeyRecord,
    at: chrono::DateTime<Utc>,
) -> Result<(), ApiError> {
    let metered = state
        .metering
        .meter(&state.db, record, None, 1, false, at)
        .await?;
    match metered.ratelimits.into_iter().find(|l| l.exceeded) {
        Some(l) if metered.refusal.is_some() => Err(ApiError::RateLimited {
            retry_after: ((l.reset_at_ms - at.timestamp_millis()) as f64 / 1000.0)
                .ceil()
                .max(1.0) as i64,
            window: (l.duration + 999) / 1000,
            limit: l.limit,
            name: l.name,
        }),
        _ => Ok(()),
    }
}

/// The key a request presented, or why not, with the key when there was
/// one (a disabled or expired key is refused but known).
async fn identify(
    state: &AppState,
    presented: Result<&str, ApiError>,
) -> Result<Arc<KeyRecord>, (ApiError, Option<Arc<KeyRecord>>)> {
    let key = presented.map_err(|err| (err, None))?;
    let record = match lookup(state, key).await.map_err(|err| (err, None))? {
        Lookup::Malformed if format::parse(key).is_ok() => {
            return Err((
                unauthorized(
                    "cluster keys cannot authenticate API calls; use an API key (kg_ak_...)",
                ),
                None,
            ))
        }
        Lookup::Malformed => return Err((unauthorized("the API key is malformed"), None)),
        Lookup::Unknown => return Err((unauthorized("the API key is not valid"), None)),
        Lookup::Found(record) => record,
    };
    match record.ensure_usable(Utc::now()) {
        Ok(()) => Ok(record),
        Err(why) => Err((why.into(), Some(record))),
    }
}

fn permit(
    req: &ServiceRequest,
    route: &Route,
    record: &KeyRecord,
    request_id: &str,
) -> Result<Caller, ApiError> {
    let rights = &record.rights;
    let op = route.operation_id.as_str();
    // A dialect operation is governed by its native twin's policy entry.
    let governing = route.contract.as_ref().map_or(op, |c| c.policy_name(op));
    let forbidden = |code, detail: String| ApiError::Forbidden {
        code,
        detail,
        missing_permission: Some(governing.to_owned()),
    };
    // The TCP peer, or behind a trusted proxy the client it names.
    if let Some(ip) = crate::http::client::client_ip(req) {
        if !rights.allows_ip(ip) {
            return Err(forbidden(
                "ip_not_allowed",
                format!("this key may not be used from {ip}"),
            ));
        }
    }
    let contract = route
        .contract
        .as_ref()
        .ok_or_else(|| forbidden("operation_not_allowed", format!("no key may call {op}")))?;
    if rights.role < contract.role {
        return Err(forbidden(
            "insufficient_role",
            format!(
                "{op} needs the {} role; this key is {}",
                contract.role.as_str(),
                rights.role.as_str()
            ),
        ));
    }
    if let Some(policy) = &rights.policy {
        if !policy.allows(governing, &route.params_of(req.path())) {
            return Err(forbidden(
                "operation_not_allowed",
                format!("this key's api_policy does not allow {governing} here"),
            ));
        }
    }
    Ok(Caller {
        key_id: record.key_id.clone(),
        organization_id: record.organization_id.clone(),
        rights: rights.clone(),
        operation_id: op.to_owned(),
        resource_type: contract.audit.clone().unwrap_or_default(),
        request_id: request_id.to_owned(),
    })
}

async fn record_denied(
    state: &AppState,
    route: &Route,
    who: &KeyRecord,
    path: &str,
    request_id: &str,
) {
    let Some(resource_type) = route.contract.as_ref().and_then(|c| c.audit.as_deref()) else {
        return;
    };
    let event = AuditEvent::denied(
        Some(who.organization_id.as_str()),
        Some(who.key_id.as_str()),
        &route.operation_id,
        resource_type,
        route.params_of(path).first().map(|(_, v)| v.as_str()),
        request_id,
    );
    if let Err(err) = state.db.write(move |conn| Ok(event.record(conn)?)).await {
        crate::metrics::metrics().audit_write_failures.inc();
        log::warn!(
            "could not record a denied {} event: {err}",
            route.operation_id
        );
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(format!("{} is not behind the auth middleware", req.path()))
        }))
    }
}
