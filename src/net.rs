//! Network values in request bodies: an IP address and a CIDR network, each
//! with the exact pattern the OpenAPI document gives, so the document
//! accepts what the server accepts.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

const IPV4: &str = r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV6: &str = concat!(
    r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|",
    r"([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|",
    r"([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|",
    r"([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}|",
    r":((:[0-9a-fA-F]{1,4}){1,7}|:))"
);

/// The document's pattern for an IP address.
pub fn ip_pattern() -> String {
    format!("^({IPV4}|{IPV6})$")
}

/// The document's pattern for a CIDR network.
pub fn cidr_pattern() -> String {
    format!("^({IPV4}/(3[0-2]|[12]?[0-9])|{IPV6}/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$")
}

fn string_schema(description: &str, pattern: String, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .examples([serde_json::json!(example)])
        .into()
}

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Cidr(pub IpNet);

/// What a [`Cidr`] must be, in its errors.
pub const CIDR_EXPECTED: &str = "must be an IPv4 or IPv6 CIDR network such as 10.0.0.0/8";

/// What an [`IpAddress`] must be, in its errors.
pub const IP_EXPECTED: &str = "must be an IPv4 or IPv6 address such as 10.1.2.3";

// Parsed by hand so that the error says what a value must be (the
// deserializer names the field) and never repeats what was sent.
fn parse_text<'de, D, T>(d: D, expected: &'static str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
{
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)
        .map_err(|_| serde::de::Error::custom(expected))?;
    text.parse().map_err(|_| serde::de::Error::custom(expected))
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d, CIDR_EXPECTED).map(Cidr)
    }
}

impl PartialSchema for Cidr {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "An IPv4 or IPv6 network in CIDR notation.",
            cidr_pattern(),
            "10.0.0.0/8",
        )
    }
}

impl ToSchema for Cidr {}

/// An IPv4 or IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct IpAddress(pub IpAddr);

impl<'de> Deserialize<'de> for IpAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_text(d, IP_EXPECTED).map(IpAddress)
    }
}

impl PartialSchema for IpAddress {
    fn schema() -> RefOr<Schema> {
        string_schema("An IPv4 or IPv6 address.", ip_pattern(), "10.1.2.3")
    }
}

impl ToSchema for IpAddress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_accept_what_the_parsers_accept() {
        let ip = regex::Regex::new(&ip_pattern()).unwrap();
        let cidr = regex::Regex::new(&cidr_pattern()).unwrap();
        for text in [
            "10.1.2.3",
            "0.0.0.0",
            "::",
            "::1",
            "fe80::1",
            "2001:db8:0:0:0:0:2:1",
            "1::",
        ] {
            assert!(ip.is_match(text), "{text}");
            assert!(text.parse::<IpAddr>().is_ok(), "{text}");
        }
        for text in [
            "10.0.0.0/8",
            "127.0.0.1/32",
            "::1/128",
            "2001:db8::/32",
            "0.0.0.0/0",
        ] {
            assert!(cidr.is_match(text), "{text}");
            assert!(text.parse::<IpNet>().is_ok(), "{text}");
        }
        for text in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::1/129",
            "e:b:5D0EeED630/106",
            "01.2.3.4/8",
            "1.2.3.4/08",
        ] {
            assert!(!cidr.is_match(text), "{text}");
        }
        for text in ["\u{e7}9", "1.2.3", "::g", "256.1.1.1"] {
            assert!(!ip.is_match(text), "{text}");
        }
    }
}

/// The proxies whose `Forwarded` / `X-Forwarded-For` headers are believed
/// (`KEYGATE_TRUSTED_PROXIES`); empty: none, the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Reads a comma-separated list of CIDRs or addresses (an address is
    /// its own /32 or /128); the error names the first bad entry.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("{entry:?} is not a CIDR network such as 10.0.0.0/8 or an IP address")
                })?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the TCP peer, unless the peer is a trusted
    /// proxy; then the hops its headers list (`Forwarded`'s `for=`, else
    /// `X-Forwarded-For`), read from the nearest, skipping trusted proxies:
    /// the first untrusted hop is the client (whatever a client wrote
    /// further left is its own claim). A hop that does not parse (a name,
    /// `unknown`) stops the walk at the last address found.
    pub fn client(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = if forwarded.is_empty() {
            x_forwarded_for
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect()
        } else {
            forwarded
                .iter()
                .flat_map(|v| v.split(','))
                .filter_map(|element| {
                    element.split(';').find_map(|pair| {
                        let (name, value) = pair.trim().split_once('=')?;
                        name.trim()
                            .eq_ignore_ascii_case("for")
                            .then_some(value.trim())
                    })
                })
                .collect()
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The address of one hop: `1.2.3.4`, `"[2001:db8::1]:4711"`, `1.2.3.4:80`.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod proxy_tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_count_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("10.0.0.5"), &[], &["1.2.3.4"]),
            ip("10.0.0.5")
        );
        let lb = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // An untrusted peer's header is its own claim.
        assert_eq!(
            lb.client(ip("203.0.113.9"), &[], &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(lb.client(ip("10.0.0.5"), &[], &["1.2.3.4"]), ip("1.2.3.4"));
        // The nearest untrusted hop wins over what the client wrote left of it.
        assert_eq!(
            lb.client(ip("10.0.0.5"), &[], &["6.6.6.6, 1.2.3.4, 192.0.2.7"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            lb.client(ip("10.0.0.5"), &[], &["6.6.6.6", "1.2.3.4"]),
            ip("1.2.3.4")
        );
        // Forwarded first, with its quoting and ports.
        assert_eq!(
            lb.client(
                ip("10.0.0.5"),
                &[r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https"#],
                &["1.2.3.4"]
            ),
            ip("2001:db8::1")
        );
        // A hop that does not parse stops the walk.
        assert_eq!(
            lb.client(ip("10.0.0.5"), &[], &["1.2.3.4, unknown"]),
            ip("10.0.0.5")
        );
        // No header: the proxy itself.
        assert_eq!(lb.client(ip("::ffff:10.0.0.5"), &[], &[]), ip("10.0.0.5"));
        assert!(TrustedProxies::parse("10.0.0.0/8,nope")
            .unwrap_err()
            .contains("\"nope\""));
    }
}
