//! Who is calling and whether they may: the `/v1` middleware authenticates
//! the presented key and authorizes the addressed operation (role, policy,
//! allowed addresses) before a handler runs; every `/v1` handler takes the
//! resulting `Caller`, so no operation can forget either step.

pub mod cache;
pub mod key_format;
pub mod last_used;
pub mod policy;

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;

use crate::audit::AuditEvent;
use crate::db::{now, AnyConnection};
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::openapi::{routes, Route};
use crate::resources::api_keys::repo::{self as key_repo, KeyRecord, Unusable};
use crate::startup::AppState;

use cache::{CachedRecord, KeyCache};
pub use policy::{required_role, rule, ApiPolicy, OperationPolicy, OperationRule, Rights, Role};

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
    /// The resource type the operation acts on (for audit events).
    pub resource_type: &'static str,
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
            self.resource_type,
            resource_id,
            &self.request_id,
        )
    }
}

fn unauthorized(why: &'static str) -> ApiError {
    ApiError::Unauthorized(why.into())
}

/// The key a request presents: `Authorization: Bearer`, `Authorization:
/// ApiKey` or `x-api-key`.
pub fn presented_key(headers: &HeaderMap) -> Result<&str, ApiError> {
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

/// Looks a presented key up: shape and checksum first, then the cache, then
/// the database (whose answer, found or not, is cached).
pub async fn lookup(state: &AppState, key: &str) -> Result<Lookup, ApiError> {
    if key_format::parse(key) != Ok(key_format::KeyKind::ApiKey) {
        return Ok(Lookup::Malformed);
    }
    let record = cached_lookup(state, &state.cache, key, key_repo::find_by_secret).await?;
    Ok(record.map_or(Lookup::Unknown, Lookup::Found))
}

/// Finds a well-formed presented key's record by its hash: from `cache`
/// while fresh, else with `find` on the database, caching the answer (found
/// or not). API keys and cluster keys share it, each with its own cache.
pub async fn cached_lookup<R>(
    state: &AppState,
    cache: &KeyCache<R>,
    key: &str,
    find: fn(&mut AnyConnection, &str) -> Result<Option<R>, ApiError>,
) -> Result<Option<Arc<R>>, ApiError>
where
    R: CachedRecord + Send + Sync + 'static,
{
    let hash = crate::crypto::hash_key(key);
    if let Some(record) = cache.get(&hash) {
        return Ok(record);
    }
    let fetched = Instant::now();
    let query_hash = hash.clone();
    let record = state
        .db
        .read(move |conn| find(conn, &query_hash))
        .await?
        .map(Arc::new);
    cache.put(hash, record.clone(), fetched);
    Ok(record)
}

/// The `/v1` scope middleware: authenticates the presented key and
/// authorizes the operation the request addresses, before any extractor
/// reads the path or body, so bad credentials are always a 401 and a
/// forbidden call always a 403. The `Caller` it leaves in the request's
/// extensions is what handlers receive. A refused mutation is audited with
/// outcome `denied`.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Unknown paths and methods pass on to the 404/405 answers.
    let Some(route) = routes().find_for_path(req.method(), req.path()).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?
        .clone();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let outcome = match identify(&state, &req).await {
        Err(err) => Err((err, None)),
        Ok(record) => permit(&req, &route, &record, &request_id).map_err(|err| (err, Some(record))),
    };
    match outcome {
        Ok(caller) => {
            state.last_used.touch(&caller.key_id, now().naive_utc());
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err((err, who)) => {
            if matches!(err, ApiError::Unauthorized(_) | ApiError::Forbidden { .. }) {
                record_denied(&state, &route, who.as_deref(), req.path(), &request_id).await;
            }
            Ok(req.error_response(err))
        }
    }
}

async fn identify(state: &AppState, req: &ServiceRequest) -> Result<Arc<KeyRecord>, ApiError> {
    let key = presented_key(req.headers())?;
    let record = match lookup(state, key).await? {
        Lookup::Malformed if key_format::parse(key).is_ok() => {
            return Err(unauthorized(
                "cluster keys cannot authenticate API calls; use an API key (kg_ak_...)",
            ))
        }
        Lookup::Malformed => return Err(unauthorized("the API key is malformed")),
        Lookup::Unknown => return Err(unauthorized("the API key is not valid")),
        Lookup::Found(record) => record,
    };
    record.ensure_usable(Utc::now())?;
    Ok(record)
}

fn permit(
    req: &ServiceRequest,
    route: &Route,
    record: &KeyRecord,
    request_id: &str,
) -> Result<Caller, ApiError> {
    let rights = &record.rights;
    let op = route.operation_id.as_str();
    let forbidden = |code, detail: String| ApiError::Forbidden {
        code,
        detail,
        missing_permission: Some(op.to_owned()),
    };
    if let Some(peer) = req.peer_addr() {
        // An IPv4 client of an IPv6 listener shows as ::ffff:a.b.c.d.
        let ip = peer.ip().to_canonical();
        if !rights.allows_ip(ip) {
            return Err(forbidden(
                "ip_not_allowed",
                format!("this key may not be used from {ip}"),
            ));
        }
    }
    let rule = rule(op)
        .ok_or_else(|| forbidden("operation_not_allowed", format!("no key may call {op}")))?;
    if rights.role < rule.role {
        return Err(forbidden(
            "insufficient_role",
            format!(
                "{op} needs the {} role; this key is {}",
                rule.role.as_str(),
                rights.role.as_str()
            ),
        ));
    }
    if let Some(policy) = &rights.policy {
        if !policy.allows(op, &route.params_of(req.path())) {
            return Err(forbidden(
                "operation_not_allowed",
                format!("this key's api_policy does not allow {op} here"),
            ));
        }
    }
    Ok(Caller {
        key_id: record.api_key.id.clone(),
        organization_id: record.api_key.organization_id.clone(),
        rights: rights.clone(),
        operation_id: op.to_owned(),
        resource_type: rule.resource_type,
        request_id: request_id.to_owned(),
    })
}

async fn record_denied(
    state: &AppState,
    route: &Route,
    who: Option<&KeyRecord>,
    path: &str,
    request_id: &str,
) {
    let Some(rule) = rule(&route.operation_id).filter(|r| r.mutates) else {
        return;
    };
    let event = AuditEvent::denied(
        who.map(|r| r.api_key.organization_id.as_str()),
        who.map(|r| r.api_key.id.as_str()),
        &route.operation_id,
        rule.resource_type,
        route.params_of(path).first().map(|(_, v)| v.as_str()),
        request_id,
    );
    if let Err(err) = state.db.write(move |conn| Ok(event.record(conn)?)).await {
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
