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
