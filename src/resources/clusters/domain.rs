//! What a connected cluster is: its id, its services, the self-managed
//! cluster and license it stands for, and the settings create compares and
//! PATCH merges (`ClusterSpec`). These are also their own wire shapes.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::error::ApiError;
use crate::fields::present;
use crate::keys::dto::PendingKey;

/// A cluster id: 32 lowercase letters or digits, chosen by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterId(pub String);

impl ClusterId {
    /// The pattern, as in the document.
    pub const PATTERN: &'static str = "^[a-z0-9]{32}$";

    /// Whether a text is a well-formed cluster id.
    pub fn is_valid(text: &str) -> bool {
        text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }

    /// A new id: the 32 hex digits of a time-ordered UUID.
    pub fn generate() -> String {
        crate::db::new_id("")
    }
}

impl<'de> Deserialize<'de> for ClusterId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if ClusterId::is_valid(&text) {
            Ok(ClusterId(text))
        } else {
            Err(serde::de::Error::custom(
                "must be 32 lowercase letters or digits",
            ))
        }
    }
}

/// A service of a connected cluster that has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClusterService {
    /// Elastic Inference Service.
    Eis,
    /// AutoOps.
    AutoOps,
}

impl ClusterService {
    /// Every service.
    pub const ALL: [ClusterService; 2] = [ClusterService::Eis, ClusterService::AutoOps];

    /// The snake_case name, as in paths and bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterService::Eis => "eis",
            ClusterService::AutoOps => "auto_ops",
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<ClusterService> {
        ClusterService::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The `owner_id` of this service's key secrets on a cluster.
    pub fn owner_id(self, cluster_id: &str) -> String {
        format!("{cluster_id}:{}", self.as_str())
    }

    /// Whether the service is enabled in a cluster's settings.
    pub fn enabled_in(self, spec: &ClusterSpec) -> bool {
        match self {
            ClusterService::Eis => spec.eis_enabled,
            ClusterService::AutoOps => spec.auto_ops_enabled,
        }
    }
}

impl<'de> Deserialize<'de> for ClusterService {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ClusterService::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("service must be one of: eis, auto_ops"))
    }
}

/// The rule of a self-managed cluster's `version`: `MAJOR.MINOR.PATCH`, with an
/// optional `-suffix`.
pub static VERSION_RULE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$").expect("valid regex")
});

/// The self-managed Elasticsearch cluster a connected cluster stands for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfManagedCluster {
    /// The cluster's own uuid (`GET /` of the cluster), 1 to 255
    /// characters; unique within the organization and never changed.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "bJnDrHbXR4-7yT1iQk9dXA")]
    pub id: String,
    /// The cluster's own name, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(min_length = 1, max_length = 255, example = "production-cluster")]
    pub name: String,
    /// The Elasticsearch version, such as `9.1.0`.
    #[validate(
        length(max = 64, message = "must be at most 64 characters"),
        regex(path = *VERSION_RULE, message = "must be a version such as 9.1.0 or 9.2.0-SNAPSHOT")
    )]
    #[schema(
        max_length = 64,
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$",
        example = "9.1.0"
    )]
    pub version: String,
}

/// A license type of a self-managed cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseType {
    /// Trial.
    Trial,
    /// Basic.
    Basic,
    /// Standard.
    Standard,
    /// Development.
    Dev,
    /// Silver.
    Silver,
    /// Gold.
    Gold,
    /// Platinum.
    Platinum,
    /// Enterprise.
    Enterprise,
}

impl LicenseType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Trial => "trial",
            LicenseType::Basic => "basic",
            LicenseType::Standard => "standard",
            LicenseType::Dev => "dev",
            LicenseType::Silver => "silver",
            LicenseType::Gold => "gold",
            LicenseType::Platinum => "platinum",
            LicenseType::Enterprise => "enterprise",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<LicenseType> {
        use LicenseType::*;
        [
            Trial, Basic, Standard, Dev, Silver, Gold, Platinum, Enterprise,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// The self-managed cluster's license.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct License {
    /// The license type.
    #[serde(rename = "type")]
    #[schema(example = "enterprise")]
    pub license_type: LicenseType,
    /// The license's uid, 1 to 255 characters.
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        min_length = 1,
        max_length = 255,
        example = "893361dc-9749-4997-93cb-802e3d7fa4a8"
    )]
    pub uid: String,
}

/// Whether a service is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSetting {
    /// `true` to enable the service, `false` to disable it (which revokes
    /// its keys).
    #[schema(example = true)]
    pub enabled: bool,
}

/// Services to set; a service left out keeps its setting (off, on create).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Elastic Inference Service.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub eis: Option<ServiceSetting>,
    /// AutoOps.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub auto_ops: Option<ServiceSetting>,
}

/// Everything a cluster is configured with: what create compares and what
/// PATCH changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Display name.
    pub name: String,
    /// The self-managed cluster.
    pub self_managed_cluster: SelfManagedCluster,
    /// Its license, if known.
    pub license: Option<License>,
    /// Whether `eis` is on.
    pub eis_enabled: bool,
    /// Whether `auto_ops` is on.
    pub auto_ops_enabled: bool,
}

impl ClusterSpec {
    /// Sets which services are on.
    pub fn set_services(&mut self, services: ServiceSettings) {
        if let Some(s) = services.eis {
            self.eis_enabled = s.enabled;
        }
        if let Some(s) = services.auto_ops {
            self.auto_ops_enabled = s.enabled;
        }
    }
}

/// The key of a cluster or of one of its services, never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterKey {
    /// The first ten characters of the current key.
    #[schema(example = "kg_ck_Ab3d")]
    pub key_prefix: String,
    /// The last four characters of the current key.
    #[schema(example = "x9Q2")]
    pub key_last4: String,
    /// When the current key was issued.
    pub created_at: DateTime<Utc>,
    /// Previous keys still working during their grace period.
    pub pending_keys: Vec<PendingKey>,
}

/// `self_managed_cluster` in a PATCH: `name` and `version` may change; the
/// `id` may not.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSelfManagedCluster {
    /// New name, 1 to 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "production-cluster"
    )]
    pub name: Option<String>,
    /// New version, such as `9.1.0`.
    #[serde(default, deserialize_with = "present")]
    #[validate(
        length(max = 64, message = "must be at most 64 characters"),
        regex(path = *VERSION_RULE, message = "must be a version such as 9.1.0 or 9.2.0-SNAPSHOT")
    )]
    #[schema(
        nullable = false,
        max_length = 64,
        pattern = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$",
        example = "9.2.0"
    )]
    pub version: Option<String>,
}

/// `license` in a PATCH: fields present replace the current ones.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLicense {
    /// New license type.
    #[serde(rename = "type", default, deserialize_with = "present")]
    #[schema(nullable = false, example = "platinum")]
    pub license_type: Option<LicenseType>,
    /// New license uid, 1 to 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "893361dc-9749-4997-93cb-802e3d7fa4a8"
    )]
    pub uid: Option<String>,
}

/// Body of `update_cluster`, a JSON merge patch (RFC 7396): a field left
/// out stays, an object is merged into the current one, and `null` clears
/// `license` (the only optional field).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCluster {
    /// New name, 1 to 255 characters.
    #[serde(default, deserialize_with = "present")]
    #[validate(length(min = 1, max = 255, message = "must be 1 to 255 characters"))]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 255,
        example = "my-production-cluster"
    )]
    pub name: Option<String>,
    /// Changes to the self-managed cluster's `name` and `version`.
    #[serde(default, deserialize_with = "present")]
    #[validate(nested)]
    #[schema(nullable = false)]
    pub self_managed_cluster: Option<UpdateSelfManagedCluster>,
    /// Changes to the license, or `null` to clear it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(nested)]
    pub license: Option<Option<UpdateLicense>>,
    /// Services to enable or disable; disabling one revokes its keys.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub services: Option<ServiceSettings>,
}

impl UpdateCluster {
    /// Checks the body's own rules (before any database work, so a bad
    /// body is a 400 whatever else is wrong).
    pub fn check(&self) -> Result<(), ApiError> {
        Ok(self.validate()?)
    }

    /// Merges the patch into the current settings.
    pub fn apply(self, current: &ClusterSpec) -> Result<ClusterSpec, ApiError> {
        let mut spec = current.clone();
        if let Some(name) = self.name {
            spec.name = name;
        }
        if let Some(smc) = self.self_managed_cluster {
            if let Some(name) = smc.name {
                spec.self_managed_cluster.name = name;
            }
            if let Some(version) = smc.version {
                spec.self_managed_cluster.version = version;
            }
        }
        match self.license {
            None => {}
            Some(None) => spec.license = None,
            Some(Some(patch)) => {
                let base = current.license.as_ref();
                let license_type = patch.license_type.or(base.map(|l| l.license_type));
                let uid = patch.uid.or(base.map(|l| l.uid.clone()));
                // A well-formed patch that the current state cannot
                // complete: a conflict with the resource, not bad input.
                let (Some(license_type), Some(uid)) = (license_type, uid) else {
                    return Err(ApiError::Conflict {
                        code: "license_incomplete",
                        detail: "the cluster has no license to merge into; give both license.type and license.uid".to_owned(),
                    });
                };
                spec.license = Some(License { license_type, uid });
            }
        }
        if let Some(services) = self.services {
            spec.set_services(services);
        }
        Ok(spec)
    }
}
