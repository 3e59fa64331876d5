//! Roles, `api_policy`, and the rights a key holds: what each allows and
//! whether one set of rights lies within another (a key may never grant more
//! than it has).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};
use crate::openapi::routes;

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

/// What the server knows of each authenticated operation: the least role it
/// needs, whether it changes state (and so is audited, also when refused),
/// and the resource type its audit events name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationRule {
    /// The least role.
    pub role: Role,
    /// Whether it is a mutation.
    pub mutates: bool,
    /// `resource_type` of its audit events.
    pub resource_type: &'static str,
}

/// The rule of every authenticated operation of the document; a test checks
/// that none is missing. Operations missing here are refused.
pub fn rule(operation_id: &str) -> Option<OperationRule> {
    let (role, mutates, resource_type) = match operation_id {
        "get_me" => (Role::Serving, false, "api_key"),
        "verify_key" => (Role::Serving, false, "api_key"),
        "get_organization" => (Role::Serving, false, "organization"),
        "create_organization" => (Role::Personal, true, "organization"),
        "list_api_keys" | "get_api_key" => (Role::Personal, false, "api_key"),
        "create_api_key"
        | "update_api_key"
        | "delete_api_key"
        | "rotate_api_key"
        | "revoke_pending_api_key" => (Role::Personal, true, "api_key"),
        "list_audit_events" => (Role::Personal, false, "audit_event"),
        "list_secrets" => (Role::Serving, false, "secret"),
        "get_secret" => (Role::Personal, true, "secret"),
        "create_secret" | "put_secret" | "delete_secret" => {
            (Role::ServingAndIndexing, true, "secret")
        }
        "list_connectors" | "get_connector" => (Role::Serving, false, "connector"),
        "create_connector"
        | "put_connector"
        | "update_connector"
        | "delete_connector"
        | "update_connector_api_key_id" => (Role::ServingAndIndexing, true, "connector"),
        "list_projects" | "get_project" => (Role::Serving, false, "project"),
        "create_project" | "update_project" | "delete_project" => {
            (Role::ServingAndIndexing, true, "project")
        }
        "list_api_proxies" | "get_api_proxy" | "check_api_proxy_keys" => {
            (Role::Serving, false, "api_proxy")
        }
        "create_api_proxy" | "update_api_proxy" | "delete_api_proxy" | "update_api_proxy_keys" => {
            (Role::ServingAndIndexing, true, "api_proxy")
        }
        "get_organization_subscription" | "get_organization_terms_and_conditions" => {
            (Role::Serving, false, "organization")
        }
        "update_organization_subscription" | "accept_organization_terms_and_conditions" => {
            (Role::Personal, true, "organization")
        }
        "list_clusters" | "get_cluster" => (Role::Serving, false, "cluster"),
        "create_cluster"
        | "update_cluster"
        | "delete_cluster"
        | "rotate_cluster_api_key"
        | "revoke_pending_cluster_api_key"
        | "rotate_cluster_service_api_key"
        | "revoke_pending_cluster_service_api_key" => (Role::ServingAndIndexing, true, "cluster"),
        "get_provider" => (Role::Serving, false, "provider"),
        "update_provider" => (Role::ServingAndIndexing, true, "provider"),
        "list_provider_credentials" | "get_provider_credential" => {
            (Role::Serving, false, "provider_credential")
        }
        "create_provider_credential"
        | "update_provider_credential"
        | "delete_provider_credential" => (Role::ServingAndIndexing, true, "provider_credential"),
        _ => return None,
    };
    Some(OperationRule {
        role,
        mutates,
        resource_type,
    })
}

/// The least role an operation needs.
pub fn required_role(operation_id: &str) -> Option<Role> {
    rule(operation_id).map(|r| r.role)
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
    pub fn check(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, op) in &self.allowed_operations {
            let path = format!("{field}.allowed_operations.{name}");
            if !policy_operations().contains(&name.as_str()) {
                errors.push(FieldError::new(
                    path,
                    "unknown_operation",
                    "is not an operationId of this API",
                ));
                continue;
            }
            for param in op.allowed_resources.keys() {
                if !policy_parameters().contains(&param.as_str()) {
                    errors.push(FieldError::new(
                        format!("{path}.allowed_resources.{param}"),
                        "unknown_parameter",
                        "is not a path parameter of this API",
                    ));
                }
            }
        }
        errors
    }
}

/// The operationIds a policy may name: every authenticated operation.
pub fn policy_operations() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = routes()
        .all()
        .iter()
        .filter(|r| rule(&r.operation_id).is_some())
        .map(|r| r.operation_id.as_str())
        .collect();
    ops.sort_unstable();
    ops.dedup();
    ops
}

/// The path parameter names `allowed_resources` may name.
pub fn policy_parameters() -> Vec<&'static str> {
    let mut params: Vec<&'static str> = routes()
        .all()
        .iter()
        .filter(|r| rule(&r.operation_id).is_some())
        .flat_map(|r| r.path_params.iter().map(String::as_str))
        .collect();
    params.sort_unstable();
    params.dedup();
    params
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
        if let Some(outer_expiry) = outer.expires_at {
            match self.expires_at {
                Some(e) if e <= outer_expiry => {}
                _ => return Err("an expires_at later than the caller's own"),
            }
        }
        Ok(())
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
    fn rights_within_checks_role_cidrs_and_expiry() {
        let caller = Rights {
            role: Role::ServingAndIndexing,
            policy: None,
            allowed_cidrs: Some(vec!["10.0.0.0/8".parse().unwrap()]),
            expires_at: Some(DateTime::from_timestamp(2_000_000_000, 0).unwrap()),
        };
        let mut ok = caller.clone();
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
