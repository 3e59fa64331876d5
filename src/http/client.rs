//! The client's address, the one place it is read: the TCP peer, or behind
//! a trusted proxy (`KEYGATE_TRUSTED_PROXIES`, app data) what its
//! `Forwarded` / `X-Forwarded-For` headers say ([`TrustedProxies::client`]).
//! `allowed_cidrs` and the access log use it.

use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::web;

pub use crate::net::TrustedProxies;

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The client address of a request; `None` without a TCP peer (a test
/// request).
pub fn client_ip(req: &ServiceRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let Some(trusted) = req.app_data::<web::Data<TrustedProxies>>() else {
        return Some(peer.to_canonical());
    };
    let headers = req.headers();
    Some(trusted.client(
        peer,
        &values(headers, "forwarded"),
        &values(headers, "x-forwarded-for"),
    ))
}
