//! Rows of `clusters`. Rows never derive `Serialize`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::domain::{ClusterSpec, License, LicenseType, SelfManagedCluster};
use crate::db::schema::clusters;
use crate::error::ApiError;

/// One connected cluster.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clusters)]
pub struct ClusterRow {
    /// 32 lowercase letters or digits.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// The self-managed cluster's own id (never changes).
    pub self_managed_cluster_id: String,
    /// The changeable columns, with the time of the last change.
    #[diesel(embed)]
    pub settings: ClusterSettings,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl ClusterRow {
    /// The `ETag` of this version of the cluster.
    pub fn etag(&self) -> String {
        crate::db::version::etag(&self.id, self.settings.updated_at)
    }

    /// The cluster's settings, as create compares them and PATCH merges
    /// into them.
    pub fn spec(&self) -> Result<ClusterSpec, ApiError> {
        let s = &self.settings;
        let license = match (&s.license_type, &s.license_uid) {
            (Some(license_type), Some(uid)) => Some(License {
                license_type: LicenseType::parse(license_type).ok_or_else(|| {
                    ApiError::internal(format!("cluster {}: bad license type", self.id))
                })?,
                uid: uid.clone(),
            }),
            _ => None,
        };
        Ok(ClusterSpec {
            name: s.name.clone(),
            self_managed_cluster: SelfManagedCluster {
                id: self.self_managed_cluster_id.clone(),
                name: s.self_managed_cluster_name.clone(),
                version: s.self_managed_cluster_version.clone(),
            },
            license,
            eis_enabled: s.eis_enabled,
            auto_ops_enabled: s.auto_ops_enabled,
        })
    }
}

/// Every changeable column: part of [`ClusterRow`], and written whole from
/// a merged [`ClusterSpec`] by PATCH (`None` license columns become NULL).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clusters, treat_none_as_null = true)]
pub struct ClusterSettings {
    /// Display name.
    pub name: String,
    /// The self-managed cluster's name.
    pub self_managed_cluster_name: String,
    /// The self-managed cluster's version.
    pub self_managed_cluster_version: String,
    /// License type.
    pub license_type: Option<String>,
    /// License uid.
    pub license_uid: Option<String>,
    /// Whether `eis` is enabled.
    pub eis_enabled: bool,
    /// Whether `auto_ops` is enabled.
    pub auto_ops_enabled: bool,
    /// The time of the change.
    pub updated_at: NaiveDateTime,
}

impl ClusterSettings {
    /// The columns of a spec, changed at `at`.
    pub fn of(spec: &ClusterSpec, at: NaiveDateTime) -> ClusterSettings {
        ClusterSettings {
            name: spec.name.clone(),
            self_managed_cluster_name: spec.self_managed_cluster.name.clone(),
            self_managed_cluster_version: spec.self_managed_cluster.version.clone(),
            license_type: spec
                .license
                .as_ref()
                .map(|l| l.license_type.as_str().to_owned()),
            license_uid: spec.license.as_ref().map(|l| l.uid.clone()),
            eis_enabled: spec.eis_enabled,
            auto_ops_enabled: spec.auto_ops_enabled,
            updated_at: at,
        }
    }
}
