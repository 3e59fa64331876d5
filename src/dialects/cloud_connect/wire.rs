//! Elastic Cloud Connect's bodies and envelopes, as the Beats AutoOps agent
//! and Kibana's `cloud_connect` plugin send and read them. Serde and
//! schemas only; `Debug` never shows a key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::resources::clusters::domain::{
    ClusterId, ClusterService, License, SelfManagedCluster, ServiceSettings,
};

/// Path of single-cluster operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClusterPath {
    /// The cluster's id: 32 lowercase letters or digits.
    #[param(value_type = String, pattern = "^[a-z0-9]{32}$", example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub cluster_id: ClusterId,
}

/// Path of per-service key operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClusterServicePath {
    /// The cluster's id: 32 lowercase letters or digits.
    #[param(value_type = String, pattern = "^[a-z0-9]{32}$", example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub cluster_id: ClusterId,
    /// The service: `eis` or `auto_ops`.
    #[param(inline, example = "eis")]
    pub service: ClusterService,
}

/// An organization id as Elastic writes it: keygate's `org_` id without
/// its prefix (1 to 32 lowercase letters or digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorOrganizationId(pub String);

impl VendorOrganizationId {
    /// Whether a text is a well-formed vendor organization id.
    pub fn is_valid(text: &str) -> bool {
        (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }
}

impl<'de> Deserialize<'de> for VendorOrganizationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if VendorOrganizationId::is_valid(&text) {
            Ok(VendorOrganizationId(text))
        } else {
            Err(serde::de::Error::custom(
                "must be 1 to 32 lowercase letters or digits",
            ))
        }
    }
}

/// Path of the organization operations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrganizationPath {
    /// The organization's id as `metadata.organization_id` shows it: the
    /// 32 hex digits of keygate's `org_` id.
    #[param(value_type = String, pattern = "^[a-z0-9]{1,32}$", example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: VendorOrganizationId,
}

/// Query of `POST /clusters`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Also issue the cluster's key and return it in `key`, shown only in
    /// this response.
    #[param(default = false, example = true)]
    pub create_api_key: Option<bool>,
}

/// Body of `POST /clusters`: what the AutoOps agent sends on every start.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"self_managed_cluster": {"id": "bJnDrHbXR4-7yT1iQk9dXA", "name": "production-cluster", "version": "9.1.0"}, "license": {"type": "enterprise", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}}))]
pub struct CreateCluster {
    /// A name for people, 1 to 255 characters; the self-managed cluster's
    /// name when left out.
    #[serde(default, deserialize_with = "crate::fields::present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "my-production-cluster"
    )]
    pub name: Option<String>,
    /// The self-managed cluster; its `id` identifies the registration.
    #[validate(nested)]
    pub self_managed_cluster: SelfManagedCluster,
    /// Its license.
    #[serde(default)]
    #[validate(nested)]
    #[schema(nullable = true)]
    pub license: Option<License>,
    /// Services to enable on a new cluster; each left out is disabled.
    #[serde(default, deserialize_with = "crate::fields::present")]
    #[schema(nullable = false)]
    pub services: Option<ServiceSettings>,
}

/// Who connected the cluster, when, and for which organization.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Metadata {
    /// When the cluster was connected.
    pub created_at: DateTime<Utc>,
    /// Always `null`: keygate's audit trail records who connected it.
    #[schema(required = true, nullable = true)]
    pub created_by: Option<String>,
    /// The organization, as 32 hex digits.
    #[schema(example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
}

/// A service's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Service {
    /// Whether the service is enabled.
    pub enabled: bool,
    /// Always `true`: keygate offers both services.
    pub supported: bool,
}

/// The services of a cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Services {
    /// AutoOps.
    pub auto_ops: Service,
    /// Elastic Inference Service.
    pub eis: Service,
}

/// A connected cluster as Cloud Connect shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cluster {
    /// 32 lowercase letters or digits.
    #[schema(
        pattern = "^[a-z0-9]{32}$",
        example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// A name for people.
    #[schema(example = "production-cluster")]
    pub name: String,
    /// When and for which organization it was connected.
    pub metadata: Metadata,
    /// The self-managed cluster.
    pub self_managed_cluster: SelfManagedCluster,
    /// Its license, or `null` when not known.
    #[schema(required = true, nullable = true)]
    pub license: Option<License>,
    /// Its services.
    pub services: Services,
}

/// Answer of `POST /clusters`: the cluster, with `key` when this call
/// issued the cluster's key. `Debug` hides the key.
#[derive(Serialize, ToSchema)]
pub struct CreatedCluster {
    /// The cluster.
    #[serde(flatten)]
    pub cluster: Cluster,
    /// The cluster's key (`kg_ck_...`), shown only in this response.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "kg_ck_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2"
    )]
    pub key: Option<String>,
}

impl std::fmt::Debug for CreatedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedCluster")
            .field("cluster", &self.cluster)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Answer of `GET /clusters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    /// Every cluster of the organization, in id order.
    pub items: Vec<Cluster>,
}

/// Answer of the rotations. `Debug` hides the key.
#[derive(Serialize, ToSchema)]
pub struct RotatedKey {
    /// The new key, shown only in this response.
    #[schema(example = "kg_ck_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2")]
    pub key: String,
}

impl std::fmt::Debug for RotatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotatedKey { key: <redacted> }")
    }
}

/// Answer of the revocations of pending keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// How many pending keys stopped working.
    #[schema(example = 1)]
    pub revoked: usize,
}

/// Answer of `DELETE /clusters/{cluster_id}`: an empty object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Disconnected {}

/// Answer of `GET /organizations/{organization_id}/subscription`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    /// `trial`, `active` or `inactive`.
    #[schema(inline, value_type = String, example = "active")]
    pub state: String,
}

/// When and by which key the terms were accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// When they were first accepted.
    pub accepted_at: DateTime<Utc>,
    /// The keygate API key that first accepted them.
    #[schema(example = "aky_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub accepted_by: String,
}

/// The organization's terms and conditions: `accepted` only once accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct TermsAndConditions {
    /// Present once the terms were accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub accepted: Option<Accepted>,
}

/// One error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    /// keygate's stable code (`not_found`), or a field's rule for a
    /// validation failure.
    #[schema(example = "not_found")]
    pub code: String,
    /// What went wrong.
    #[schema(example = "cluster 0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3 was not found")]
    pub message: String,
    /// The field, for a validation failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "self_managed_cluster.version")]
    pub field: Option<String>,
}

/// Cloud Connect's error body, on every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The errors: one, or one a field for a validation failure.
    pub errors: Vec<ErrorItem>,
}
