//! Apinizer's management API bodies and envelopes for API proxy keys, as
//! Apinizer's documentation writes them (`settings/update-api-keys.md`,
//! `getting-started/error-handling.md`). Serde and schemas only; `Debug`
//! never shows the secret key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `PATCH .../settings/keys/`: camelCase keys, each optional, at
/// least one given; `null` means not given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"publicKey": "ak_1234567890abcdef", "secretKey": "sk_9876543210fedcba"}))]
pub struct UpdateKeys {
    /// The public key: 1 to 512 characters, not blank or whitespace-only,
    /// unique among the organization's proxy keys; `null` or absent keeps
    /// the current one.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 512,
        example = "ak_1234567890abcdef"
    )]
    pub public_key: Option<String>,
    /// The secret key (stored encrypted, never shown): 1 to 512
    /// characters, not blank or whitespace-only, unique among the
    /// organization's proxy keys; `null` or absent keeps the current one.
    #[schema(
        nullable = true,
        min_length = 1,
        max_length = 512,
        example = "sk_9876543210fedcba"
    )]
    pub secret_key: Option<String>,
    /// Deploy to environments after the change: keygate has no
    /// environments, so only `false` (or absent) is accepted.
    #[schema(nullable = true, example = false)]
    pub deploy: Option<bool>,
    /// Environments to deploy to: ignored (keygate has none).
    #[schema(nullable = true, example = json!([]))]
    pub deploy_target_environment_name_list: Option<Vec<String>>,
}

impl std::fmt::Debug for UpdateKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateKeys")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("deploy", &self.deploy)
            .finish_non_exhaustive()
    }
}

/// The answer of a change: exactly `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    /// Always `true`: a failure is an error body instead.
    #[schema(example = true)]
    pub success: bool,
}

/// Every error (Apinizer's `{error, error_description}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Apinizer's code: `bad_request`, `unauthorized_client`, `forbidden`,
    /// `not_found`, `conflict` or `internal_error`.
    #[schema(example = "bad_request")]
    pub error: String,
    /// What went wrong, with Apinizer's field names.
    #[schema(example = "At least one key (publicKey or secretKey) must be provided")]
    pub error_description: String,
    /// keygate's stable code (`validation_failed`, `duplicate_key`, ...).
    #[schema(example = "validation_failed")]
    pub code: String,
}

/// A project in `GET /apiops/projects/`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectEntry {
    /// The project's name.
    #[schema(example = "MyProject")]
    pub name: String,
    /// What the project is for.
    #[schema(nullable = true, example = "Partner APIs")]
    pub description: Option<String>,
}

/// The answer of `GET /apiops/projects/`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectList {
    /// Always `SUCCESS`: a failure is an error body instead.
    #[schema(example = "SUCCESS")]
    pub status: &'static str,
    /// Every project of the caller's organization, in creation order.
    pub result_list: Vec<ProjectEntry>,
    /// How many projects `resultList` holds.
    #[schema(example = 1)]
    pub result_count: usize,
}

/// How Apinizer creates a proxy; keygate supports `REVERSE_PROXY` only
/// (it never fetches a specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreationType {
    /// From an OpenAPI document (refused: keygate fetches none).
    OpenApi,
    /// From a Swagger document (refused).
    Swagger,
    /// From a WSDL (refused).
    Wsdl,
    /// A reverse proxy to one routing address.
    ReverseProxy,
}

/// Where the proxy is reached (accepted, not kept: keygate's proxies are
/// addressed by project and name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientRoute {
    /// Relative paths of the proxy.
    #[schema(nullable = true, example = json!(["/orders"]))]
    pub relative_path_list: Option<Vec<String>>,
    /// Virtual hosts of the proxy.
    #[schema(nullable = true, example = json!([]))]
    pub virtual_host_list: Option<Vec<String>>,
}

/// One backend address.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoutingAddress {
    /// The backend's absolute `http` or `https` URL: the proxy's upstream.
    #[schema(example = "https://orders.internal.example.com/v2")]
    pub address: String,
    /// Load-balancing weight (keygate keeps one address; shown as 100).
    #[schema(nullable = true, example = 100)]
    pub weight: Option<i64>,
    /// Whether Apinizer checks the address's health (keygate does not).
    #[schema(nullable = true, example = false)]
    pub health_check_enabled: Option<bool>,
}

/// Where the proxy routes to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoutingInfo {
    /// The backend addresses: at most one (keygate keeps one upstream).
    #[schema(max_items = 1)]
    pub routing_address_list: Vec<RoutingAddress>,
    /// Accepted and ignored.
    #[schema(nullable = true, example = true)]
    pub routing_enabled: Option<bool>,
    /// Accepted and ignored.
    #[schema(nullable = true, example = false)]
    pub mirror_enabled: Option<bool>,
}

/// Maintenance mode (Apinizer's `maintenanceModeSetting`): keygate's
/// proxies have none, so only `enabled: false` (or absent) is accepted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MaintenanceModeSetting {
    /// Only `false` (or absent) is accepted.
    #[schema(nullable = true, example = false)]
    pub enabled: Option<bool>,
    /// Accepted and ignored.
    #[schema(nullable = true, example = 503)]
    pub http_status_code: Option<i64>,
    /// Accepted and ignored.
    #[schema(nullable = true, example = "application/json")]
    pub content_type: Option<String>,
    /// Accepted and ignored.
    #[schema(nullable = true, example = "Service is under maintenance")]
    pub message: Option<String>,
}

/// A header for fetching a specification (Apinizer's
/// `specAuthorizationValueList` item): not used for `REVERSE_PROXY`.
/// `Debug` never shows the value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecAuthorizationValue {
    /// The header's name.
    #[schema(example = "Authorization")]
    pub header_name: String,
    /// The header's value (never kept, logged or echoed).
    #[schema(example = "Bearer token123")]
    pub header_value: String,
}

impl std::fmt::Debug for SpecAuthorizationValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecAuthorizationValue")
            .field("header_name", &self.header_name)
            .field("header_value", &"<redacted>")
            .finish()
    }
}

/// Body of `POST .../apiProxies/url/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"apiProxyName": "OrdersAPI", "apiProxyDescription": "Orders API for partners", "apiProxyCreationType": "REVERSE_PROXY", "clientRoute": {"relativePathList": ["/orders"]}, "routingInfo": {"routingAddressList": [{"address": "https://orders.internal.example.com/v2", "weight": 100, "healthCheckEnabled": false}], "routingEnabled": true, "mirrorEnabled": false}, "deploy": false}))]
pub struct CreateProxy {
    /// The proxy's name, unique in the project: 1 to 100 of
    /// `A-Z a-z 0-9 . _ -`, not `.` or `..`.
    #[schema(min_length = 1, max_length = 100, example = "OrdersAPI")]
    pub api_proxy_name: String,
    /// What the proxy is for, up to 1,000 characters.
    #[schema(
        nullable = true,
        max_length = 1000,
        example = "Orders API for partners"
    )]
    pub api_proxy_description: Option<String>,
    /// Must be `REVERSE_PROXY`.
    pub api_proxy_creation_type: CreationType,
    /// A specification's URL: not used for `REVERSE_PROXY` (only `null` is
    /// accepted).
    #[schema(nullable = true, example = json!(null))]
    pub spec_url: Option<String>,
    /// Where the proxy is reached (accepted, not kept).
    #[schema(nullable = true)]
    pub client_route: Option<ClientRoute>,
    /// Where the proxy routes to; its one address becomes the upstream.
    #[schema(nullable = true)]
    pub routing_info: Option<RoutingInfo>,
    /// Deploy after creating: only `false` (or absent) is accepted.
    #[schema(nullable = true, example = false)]
    pub deploy: Option<bool>,
    /// Environments to deploy to: ignored (keygate has none).
    #[schema(nullable = true, example = json!([]))]
    pub deploy_target_environment_name_list: Option<Vec<String>>,
    /// Re-parse an existing proxy from a new specification: only `false`
    /// (or absent) is accepted (keygate parses none).
    #[serde(rename = "reParse")]
    #[schema(nullable = true, example = false)]
    pub re_parse: Option<bool>,
    /// SOAP to REST transformation: only `false` (or absent) is accepted.
    #[schema(nullable = true, example = false)]
    pub soap_to_rest: Option<bool>,
    /// WS-Addressing (SOAP only): only `false` (or absent) is accepted.
    #[serde(rename = "enableWSA")]
    #[schema(nullable = true, example = false)]
    pub enable_wsa: Option<bool>,
    /// WS-ReliableMessaging (SOAP only): only `false` (or absent) is
    /// accepted.
    #[serde(rename = "enableWSRM")]
    #[schema(nullable = true, example = false)]
    pub enable_wsrm: Option<bool>,
    /// The backend's API version: accepted and not kept.
    #[schema(nullable = true, example = "v1")]
    pub backend_api_version: Option<String>,
    /// Maintenance mode: only `enabled: false` (or absent) is accepted.
    #[schema(nullable = true)]
    pub maintenance_mode_setting: Option<MaintenanceModeSetting>,
    /// Headers for fetching `specUrl`: not used for `REVERSE_PROXY`, so
    /// only an empty list (or absent) is accepted.
    #[schema(nullable = true, example = json!([]))]
    pub spec_authorization_value_list: Option<Vec<SpecAuthorizationValue>>,
}

/// A proxy in `GET .../apiProxies/`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyEntry {
    /// The proxy's name.
    #[schema(example = "OrdersAPI")]
    pub name: String,
    /// What the proxy is for.
    #[schema(nullable = true, example = "Orders API for partners")]
    pub description: Option<String>,
    /// Always `REST`.
    #[serde(rename = "type")]
    #[schema(example = "REST")]
    pub kind: &'static str,
    /// Always `null`: keygate keeps no client route.
    #[schema(nullable = true, value_type = Option<String>, example = json!(null))]
    pub relative_path: Option<String>,
    /// Always `false`.
    #[schema(example = false)]
    pub soap_to_rest: bool,
}

/// The answer of `GET .../apiProxies/`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyList {
    /// Always `SUCCESS`.
    #[schema(example = "SUCCESS")]
    pub status: &'static str,
    /// Every proxy of the project, ordered by name.
    pub result_list: Vec<ProxyEntry>,
    /// How many proxies `resultList` holds.
    #[schema(example = 1)]
    pub result_count: usize,
}

/// Where a proxy routes to, as `GET .../apiProxies/{name}/` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// The upstream as the one address (empty when the proxy has none).
    pub routing_address_list: Vec<RoutingAddress>,
}

/// The answer of `GET .../apiProxies/{name}/`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxyDetail {
    /// The proxy's name.
    #[schema(example = "OrdersAPI")]
    pub name: String,
    /// What the proxy is for.
    #[schema(nullable = true, example = "Orders API for partners")]
    pub description: Option<String>,
    /// Always `REST`.
    #[schema(example = "REST")]
    pub api_type: &'static str,
    /// Always empty: keygate has no categories.
    #[schema(example = json!([]))]
    pub category_list: Vec<String>,
    /// Always `PRIVATE`: a proxy belongs to its organization.
    #[schema(example = "PRIVATE")]
    pub sharing_type: &'static str,
    /// Always `null`: keygate keeps no client route.
    #[schema(nullable = true, value_type = Option<Object>, example = json!(null))]
    pub client_route: Option<()>,
    /// Where the proxy routes to.
    pub routing: Routing,
    /// Always empty: keygate has no environments.
    #[schema(example = json!([]))]
    pub deployment_list: Vec<String>,
    /// The public key, if set (the secret key is never shown).
    #[schema(nullable = true, example = "ak_1234567890abcdef")]
    pub public_key: Option<String>,
    /// The secret key's last four characters, if set.
    #[schema(nullable = true, example = "dcba")]
    pub secret_key_last4: Option<String>,
}

/// What a deletion deployed: nothing, as keygate has no environments.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentResult {
    /// Always `true`.
    #[schema(example = true)]
    pub success: bool,
    /// Always empty.
    #[schema(example = json!([]))]
    pub deployment_results: Vec<String>,
}

/// The answer of `DELETE .../apiProxies/{name}/`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    /// Always `true`.
    #[schema(example = true)]
    pub success: bool,
    /// What the deletion deployed (nothing).
    pub deployment_result: DeploymentResult,
}
