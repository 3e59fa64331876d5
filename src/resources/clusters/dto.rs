//! Request bodies and views of connected clusters, the merge of a PATCH
//! into the current cluster, and their conversion into the domain's
//! `ClusterSpec` (see `domain.rs`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::domain::{
    ClusterId, ClusterKey, ClusterService, ClusterSpec, License, SelfManagedCluster,
    ServiceSettings,
};
// The PATCH body and its merge are the domain's, for every surface.
pub use super::domain::{UpdateCluster, UpdateLicense, UpdateSelfManagedCluster};
use crate::error::ApiError;
use crate::fields::present;

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
    #[param(inline, example = "auto_ops")]
    pub service: ClusterService,
}

/// Query of `create_cluster`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateClusterQuery {
    /// Also issue the cluster's key (`kg_ck_...`) and return it in `key`,
    /// shown only in this response.
    #[param(default = false, example = true)]
    pub create_api_key: Option<bool>,
}

/// Body of `create_cluster`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// A name for people, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "my-production-cluster")]
    pub name: String,
    /// The self-managed cluster; its `id` identifies the connection within
    /// the organization.
    #[validate(nested)]
    pub self_managed_cluster: SelfManagedCluster,
    /// Its license, or `null` when not known.
    #[serde(default)]
    #[validate(nested)]
    #[schema(nullable = true)]
    pub license: Option<License>,
    /// Services to enable; each left out is disabled.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub services: Option<ServiceSettings>,
}

impl CreateCluster {
    /// Validates the body and returns the cluster's settings.
    pub fn into_spec(self) -> Result<ClusterSpec, ApiError> {
        self.validate()?;
        let mut spec = ClusterSpec {
            name: self.name,
            self_managed_cluster: self.self_managed_cluster,
            license: self.license,
            eis_enabled: false,
            auto_ops_enabled: false,
        };
        spec.set_services(self.services.unwrap_or_default());
        Ok(spec)
    }
}

/// A service's state on a cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceState {
    /// Whether the service is enabled.
    #[schema(example = true)]
    pub enabled: bool,
    /// The service's key, or `null` when none was issued (or it was
    /// revoked by disabling the service).
    #[schema(required = true, nullable = true)]
    pub api_key: Option<ClusterKey>,
}

/// The services of a cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterServices {
    /// Elastic Inference Service.
    pub eis: ServiceState,
    /// AutoOps.
    pub auto_ops: ServiceState,
}

/// A connected cluster as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cluster {
    /// 32 lowercase letters or digits.
    #[schema(
        pattern = "^[a-z0-9]{32}$",
        example = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"
    )]
    pub id: String,
    /// The organization the cluster belongs to.
    #[schema(example = "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3")]
    pub organization_id: String,
    /// A name for people.
    #[schema(example = "my-production-cluster")]
    pub name: String,
    /// The self-managed cluster.
    pub self_managed_cluster: SelfManagedCluster,
    /// Its license, or `null`.
    #[schema(required = true, nullable = true)]
    pub license: Option<License>,
    /// Its services.
    pub services: ClusterServices,
    /// The cluster's key, or `null` when none was issued.
    #[schema(required = true, nullable = true)]
    pub api_key: Option<ClusterKey>,
    /// When the cluster was connected.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Cluster {
    /// The view of a row, with the keys found for its owners (by
    /// `owner_id`: the cluster id, or `<cluster id>:<service>`).
    pub fn from_row(
        row: super::model::ClusterRow,
        keys: &mut HashMap<String, ClusterKey>,
    ) -> Result<Cluster, ApiError> {
        let spec = row.spec()?;
        let service = |service: ClusterService, keys: &mut HashMap<String, ClusterKey>| {
            // A disabled service has no working key (see
            // `repo::find_by_secret`), whatever a racing rotation left.
            let enabled = service.enabled_in(&spec);
            ServiceState {
                enabled,
                api_key: keys.remove(&service.owner_id(&row.id)).filter(|_| enabled),
            }
        };
        let services = ClusterServices {
            eis: service(ClusterService::Eis, keys),
            auto_ops: service(ClusterService::AutoOps, keys),
        };
        Ok(Cluster {
            api_key: keys.remove(&row.id),
            id: row.id,
            organization_id: row.organization_id,
            name: spec.name,
            self_managed_cluster: spec.self_managed_cluster,
            license: spec.license,
            services,
            created_at: row.created_at.and_utc(),
            updated_at: row.settings.updated_at.and_utc(),
        })
    }
}

/// A cluster as `create_cluster` answers it: with `key` when a key was
/// issued by this call.
#[derive(Serialize, ToSchema)]
pub struct CreatedCluster {
    /// The cluster.
    #[serde(flatten)]
    pub cluster: Cluster,
    /// The cluster's new key (`kg_ck_...`), shown only in this response;
    /// present only when `create_api_key=true` issued one.
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

/// A cluster with a key just issued by a rotation.
#[derive(Serialize, ToSchema)]
pub struct ClusterWithKey {
    /// The cluster.
    #[serde(flatten)]
    pub cluster: Cluster,
    /// The new key (`kg_ck_...` for the cluster, `kg_cs_...` for a
    /// service), shown only in this response.
    #[schema(example = "kg_cs_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2")]
    pub key: String,
}

impl std::fmt::Debug for ClusterWithKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterWithKey")
            .field("cluster", &self.cluster)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A page of clusters.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    /// The clusters, by id.
    pub data: Vec<Cluster>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(
        required = true,
        nullable = true,
        example = "MDE5MGEwYjFjMmQzZTRmNWE2YjdjOGQ5ZTBmMWEyYjM"
    )]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::clusters::domain::VERSION_RULE;

    #[test]
    fn cluster_ids_follow_the_documented_pattern() {
        let pattern = regex::Regex::new(ClusterId::PATTERN).unwrap();
        let made = ClusterId::generate();
        let cases = [
            made.as_str(),
            "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3",
            "abcdefghijklmnopqrstuvwxyz012345",
            "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b",
            "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3a",
            "0190A0B1C2D3E4F5A6B7C8D9E0F1A2B3",
            "0190a0b1-2d3e4f5a6b7c8d9e0f1a2b3",
            "",
        ];
        for case in cases {
            assert_eq!(
                ClusterId::is_valid(case),
                pattern.is_match(case),
                "{case:?}"
            );
        }
        assert!(ClusterId::is_valid(&made));
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let key = "kg_cs_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0x9Q2";
        let state = || ServiceState {
            enabled: true,
            api_key: None,
        };
        let cluster = Cluster {
            id: ClusterId::generate(),
            organization_id: "org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3".to_owned(),
            name: "c".to_owned(),
            self_managed_cluster: SelfManagedCluster {
                id: "s".to_owned(),
                name: "n".to_owned(),
                version: "9.1.0".to_owned(),
            },
            license: None,
            services: ClusterServices {
                eis: state(),
                auto_ops: state(),
            },
            api_key: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let rotated = format!(
            "{:?}",
            ClusterWithKey {
                cluster: cluster.clone(),
                key: key.to_owned(),
            }
        );
        let created = format!(
            "{:?}",
            CreatedCluster {
                cluster,
                key: Some(key.to_owned()),
            }
        );
        for text in [rotated, created] {
            assert!(!text.contains(&key[6..]), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn versions_follow_the_documented_pattern() {
        for (version, ok) in [
            ("9.1.0", true),
            ("8.19.3", true),
            ("9.2.0-SNAPSHOT", true),
            ("9.1", false),
            ("v9.1.0", false),
            ("9.1.0 ", false),
        ] {
            assert_eq!(VERSION_RULE.is_match(version), ok, "{version}");
        }
    }
}
