//! Roles, `api_policy`, and the rights an API key holds: what each allows
//! and whether one set of rights lies within another (a key may never grant
//! more than it has). Which role an operation needs is declared beside its
//! handler (`routes::OperationContract`); the names a policy may use come
//! from the route table, passed down as [`PolicyNames`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{shown_name, ApiError, FieldError};

/// What a key may do, from least to most.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads resources and verifies keys.
    Serving,
    /// Also creates and changes connectors, proxies, credentials, clusters and secrets.
    ServingAndIndexing,
    /// Everything in its organization, including API keys and secret values.
    Personal,
}

impl Role {
    /// The snake_case name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Serving => "serving",
            Role::ServingAndIndexing => "serving_and_indexing",
            Role::Personal => "personal",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::Serving, Role::ServingAndIndexing, Role::Personal]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// How one operation is allowed by a policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationPolicy {
    /// When true (the default) the operation is allowed on every resource;
    /// when false only on the ids listed in `allowed_resources`.
    #[serde(default = "yes")]
    #[schema(default = true, example = false)]
    pub allow_any_resource: bool,
    /// Path parameter name to the ids allowed for it, e.g.
    /// `{"api_key_id": ["aky_..."]}`. Used when `allow_any_resource` is false.
    #[serde(default)]
    #[schema(example = json!({"api_key_id": ["aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"]}))]
    pub allowed_resources: BTreeMap<String, Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Narrows a key to the listed operations (operationIds), optionally to
/// listed resources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"allowed_operations": {"get_api_key": {"allow_any_resource": false, "allowed_resources": {"api_key_id": ["aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"]}}, "list_api_keys": {}}}))]
pub struct ApiPolicy {
    /// operationId to how it is allowed. An operation not listed is denied.
    pub allowed_operations: BTreeMap<String, OperationPolicy>,
}

impl ApiPolicy {
    /// Whether the policy allows an operation on the given path parameters.
    pub fn allows(&self, operation_id: &str, params: &[(String, String)]) -> bool {
        let Some(op) = self.allowed_operations.get(operation_id) else {
            return false;
        };
        op.allow_any_resource
            || params.iter().all(|(name, value)| {
                op.allowed_resources
                    .get(name)
                    .is_some_and(|ids| ids.iter().any(|id| id == value))
            })
    }

    /// Whether everything this policy allows, `outer` allows too.
    pub fn within(&self, outer: &ApiPolicy) -> bool {
        self.allowed_operations.iter().all(|(name, inner)| {
            let Some(outer) = outer.allowed_operations.get(name) else {
                return false;
            };
            if outer.allow_any_resource {
                return true;
            }
            !inner.allow_any_resource
                && inner.allowed_resources.iter().all(|(param, ids)| {
                    outer
                        .allowed_resources
                        .get(param)
                        .is_some_and(|allowed| ids.iter().all(|id| allowed.contains(id)))
                })
                // A parameter the outer policy constrains must stay constrained.
                && outer
                    .allowed_resources
                    .keys()
                    .all(|param| inner.allowed_resources.contains_key(param))
        })
    }

    /// Field errors for operations that do not exist and resource parameters
    /// no operation has (the document lists both as `propertyNames`). A
    /// parameter the listed operation does not have constrains nothing.
    pub fn check(&self, field: &str, names: &PolicyNames) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, op) in &self.allowed_operations {
            // Names the caller wrote are shown only when they are identifiers.
            let path = format!("{field}.allowed_operations.{}", shown_name(name));
            if !names.operations.contains(name) {
                errors.push(FieldError::new(
                    path,
                    "unknown_operation",
                    "is not an operationId of this API",
                ));
                continue;
            }
            for param in op.allowed_resources.keys() {
                if !names.parameters.contains(param) {
                    errors.push(FieldError::new(
                        format!("{path}.allowed_resources.{}", shown_name(param)),
                        "unknown_parameter",
                        "is not a path parameter of this API",
                    ));
                }
            }
        }
        errors
    }
}

/// The names a policy may use: every authenticated operation's
/// operationId and every path parameter of those operations (from the route
/// table, built once at start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyNames {
    /// operationIds.
    pub operations: BTreeSet<String>,
    /// Path parameter names.
    pub parameters: BTreeSet<String>,
}

/// Everything that bounds what a key can do.
#[derive(Clone, Debug, PartialEq)]
pub struct Rights {
    /// Its role.
    pub role: Role,
    /// Its policy, if narrowed.
    pub policy: Option<ApiPolicy>,
    /// Addresses it may be used from, if restricted.
    pub allowed_cidrs: Option<Vec<IpNet>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Opaque resource scopes a data plane enforces (the Vectara dialect's
    /// `corpus_keys`), if scoped; keygate reports them and never widens
    /// them.
    pub resource_scopes: Option<Vec<String>>,
}

impl Rights {
    /// Whether these rights lie wholly within `outer`'s; if not, the reason.
    pub fn within(&self, outer: &Rights) -> Result<(), &'static str> {
        if self.role > outer.role {
            return Err("a role above the caller's own");
        }
        if let Some(outer_policy) = &outer.policy {
            match &self.policy {
                Some(p) if p.within(outer_policy) => {}
                _ => return Err("an api_policy wider than the caller's own"),
            }
        }
        if let Some(outer_cidrs) = &outer.allowed_cidrs {
            match &self.allowed_cidrs {
                Some(cidrs)
                    if cidrs
                        .iter()
                        .all(|c| outer_cidrs.iter().any(|o| o.contains(c))) => {}
                _ => return Err("allowed_cidrs wider than the caller's own"),
            }
        }
        if let Some(outer_scopes) = &outer.resource_scopes {
            match &self.resource_scopes {
                Some(scopes) if scopes.iter().all(|s| outer_scopes.contains(s)) => {}
                _ => return Err("resource_scopes wider than the caller's own"),
            }
        }
        if let Some(outer_expiry) = outer.expires_at {
            match self.expires_at {
                Some(e) if e <= outer_expiry => {}
                _ => return Err("an expires_at later than the caller's own"),
            }
        }
        Ok(())
    }

    /// The rights stored in an `api_keys` row's columns; `None` names the
    /// column that does not parse.
    pub fn from_stored(
        role: &str,
        policy: Option<&str>,
        cidrs: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
        scopes: Option<&str>,
    ) -> Result<Rights, &'static str> {
        Ok(Rights {
            role: Role::parse(role).ok_or("role")?,
            policy: policy
                .map(serde_json::from_str::<ApiPolicy>)
                .transpose()
                .map_err(|_| "api_policy")?,
            allowed_cidrs: cidrs
                .map(serde_json::from_str::<Vec<IpNet>>)
                .transpose()
                .map_err(|_| "allowed_cidrs")?,
            expires_at,
            resource_scopes: scopes
                .map(serde_json::from_str::<Vec<String>>)
                .transpose()
                .map_err(|_| "resource_scopes")?,
        })
    }

    /// 403 unless these rights lie within the caller's.
    pub fn ensure_within(&self, caller: &Rights) -> Result<(), ApiError> {
        self.within(caller).map_err(|why| ApiError::Forbidden {
            code: "exceeds_caller_rights",
            detail: format!("a key cannot grant or manage {why}"),
            missing_permission: None,
        })
    }

    /// Whether an address may use the key.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allowed_cidrs
            .as_ref()
            .is_none_or(|cidrs| cidrs.iter().any(|c| c.contains(&ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> ApiPolicy {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn unlisted_operations_are_denied_and_resources_narrow() {
        let p = policy(serde_json::json!({"allowed_operations": {
            "list_api_keys": {},
            "get_api_key": {"allow_any_resource": false, "allowed_resources": {"api_key_id": ["aky_a"]}}
        }}));
        assert!(p.allows("list_api_keys", &[]));
        assert!(!p.allows("delete_api_key", &[("api_key_id".into(), "aky_a".into())]));
        assert!(p.allows("get_api_key", &[("api_key_id".into(), "aky_a".into())]));
        assert!(!p.allows("get_api_key", &[("api_key_id".into(), "aky_b".into())]));
    }

    #[test]
    fn a_policy_is_within_another_only_when_it_allows_no_more() {
        let outer = policy(serde_json::json!({"allowed_operations": {
            "get_api_key": {"allow_any_resource": false, "allowed_resources": {"api_key_id": ["aky_a", "aky_b"]}}
        }}));
        let narrower = policy(serde_json::json!({"allowed_operations": {
            "get_api_key": {"allow_any_resource": false, "allowed_resources": {"api_key_id": ["aky_a"]}}
        }}));
        let any = policy(serde_json::json!({"allowed_operations": {"get_api_key": {}}}));
        let other_op = policy(serde_json::json!({"allowed_operations": {"list_api_keys": {}}}));
        assert!(narrower.within(&outer));
        assert!(!any.within(&outer));
        assert!(!other_op.within(&outer));
        assert!(outer.within(&any));
    }

    #[test]
    fn rights_within_checks_role_cidrs_scopes_and_expiry() {
        let caller = Rights {
            role: Role::ServingAndIndexing,
            policy: None,
            allowed_cidrs: Some(vec!["10.0.0.0/8".parse().unwrap()]),
            expires_at: Some(DateTime::from_timestamp(2_000_000_000, 0).unwrap()),
            resource_scopes: Some(vec!["docs".into(), "faq".into()]),
        };
        let mut ok = caller.clone();
        ok.resource_scopes = Some(vec!["faq".into()]);
        ok.role = Role::Serving;
        ok.allowed_cidrs = Some(vec!["10.1.0.0/16".parse().unwrap()]);
        assert!(ok.within(&caller).is_ok());
        let cases = [
            (
                "higher role",
                Rights {
                    role: Role::Personal,
                    ..ok.clone()
                },
            ),
            (
                "no cidrs",
                Rights {
                    allowed_cidrs: None,
                    ..ok.clone()
                },
            ),
            (
                "wider cidr",
                Rights {
                    allowed_cidrs: Some(vec!["0.0.0.0/0".parse().unwrap()]),
                    ..ok.clone()
                },
            ),
            (
                "no scopes",
                Rights {
                    resource_scopes: None,
                    ..ok.clone()
                },
            ),
            (
                "another scope",
                Rights {
                    resource_scopes: Some(vec!["billing".into()]),
                    ..ok.clone()
                },
            ),
            (
                "no expiry",
                Rights {
                    expires_at: None,
                    ..ok.clone()
                },
            ),
        ];
        for (what, rights) in cases {
            assert!(rights.within(&caller).is_err(), "{what}");
        }
    }
}
