//! What every handler can reach, as `web::Data<AppState>`: the database,
//! the look-up caches, the `last_used_at` values and verification counts
//! waiting to be written, the
//! sealing service and the names an `api_policy` may use. Built by
//! `startup`; it imports nothing above the toolkit.

use std::sync::Arc;

use crate::audit::{self, Refusals};
use crate::crypto::signature::ScanningKeys;
use crate::crypto::vault::Vault;
use crate::db::Db;
use crate::error::ApiError;
use crate::keys::analytics::{self, Analytics};
use crate::keys::cache::KeyCaches;
use crate::keys::last_used::{self, LastUsed};
use crate::keys::rights::PolicyNames;
use crate::keys::usage::Metering;
use crate::metrics::{metrics, MetricsToken};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database; its committed writes drop what they changed from
    /// `caches`.
    pub db: Db,
    /// API key and cluster key look-ups, trusted for a bounded time.
    pub caches: Arc<KeyCaches>,
    /// `last_used_at` values waiting to be written.
    pub last_used: Arc<LastUsed>,
    /// Rate-limit windows and credit leases of this node.
    pub metering: Arc<Metering>,
    /// Verify outcomes counted, waiting to be written.
    pub analytics: Arc<Analytics>,
    /// The sealing service, when a master key is configured.
    pub vault: Option<Vault>,
    /// The operationIds and path parameters an `api_policy` may name.
    pub policy_names: Arc<PolicyNames>,
    /// Refusals of callers without a usable key: counted, not stored.
    pub refusals: Arc<Refusals>,
    /// What `GET /metrics` wants, if anything.
    pub metrics_token: Option<MetricsToken>,
    /// The public keys GitHub's secret scanning alerts are checked against.
    pub scanning_keys: Arc<ScanningKeys>,
    /// How long a deleted API key stays restorable; `None`: deleted at once.
    pub recovery_window: Option<chrono::Duration>,
    /// How many earlier values of a secret are kept (`KEYGATE_SECRET_VERSIONS`).
    pub secret_versions: i64,
}

impl AppState {
    /// The sealing service, or 503 `master_key_missing`.
    pub fn vault(&self) -> Result<&Vault, ApiError> {
        self.vault.as_ref().ok_or(ApiError::MasterKeyMissing)
    }

    /// Purges the audit events older than `retention`, a batch a
    /// transaction; returns how many.
    pub async fn purge_audit(&self, retention: chrono::Duration) -> Result<usize, ApiError> {
        let cutoff = chrono::Utc::now() - retention;
        let mut purged = 0;
        loop {
            let deleted = self
                .db
                .write(move |conn| Ok(audit::purge_before(conn, cutoff)?))
                .await?;
            purged += deleted;
            if deleted < audit::PURGE_BATCH {
                return Ok(purged);
            }
        }
    }

    /// Logs how many requests of callers without a usable key were refused
    /// since the last report (they are not in the audit trail).
    pub fn report_refusals(&self, every: std::time::Duration) {
        let count = self.refusals.take_unreported();
        if count > 0 {
            log::warn!(
                "refused {count} requests without a usable API key in the last {} s \
                 ({} since start); not stored in the audit trail",
                every.as_secs(),
                self.refusals.total()
            );
        }
    }

    /// The metrics in the text format, with the gauges that are a state
    /// (cache entries, pool, `last_used_at` and analytics backlogs) read now.
    pub fn render_metrics(&self) -> String {
        let m = metrics();
        m.cache_entries
            .with_label_values(&["api_keys"])
            .set(self.caches.api_keys.len() as i64);
        m.cache_entries
            .with_label_values(&["clusters"])
            .set(self.caches.clusters.len() as i64);
        if let Some((open, in_use, max)) = self.db.pool_state() {
            m.pool_connections.set(open.into());
            m.pool_in_use.set(in_use.into());
            m.pool_max.set(max.into());
        }
        m.last_used_backlog.set(self.last_used.len() as i64);
        m.analytics_backlog.set(self.analytics.len() as i64);
        m.render()
    }

    /// Writes the pending `last_used_at` values.
    pub async fn flush_last_used(&self) {
        let values = self.last_used.drain();
        if values.is_empty() {
            return;
        }
        let written = self
            .db
            .write(move |conn| Ok(last_used::write(conn, &values)?))
            .await;
        if let Err(err) = written {
            metrics().last_used_flush_failures.inc();
            log::warn!("could not write last_used_at: {err}");
        }
    }

    /// Adds the verification counts noted since the last flush to the
    /// database; when that fails they are kept for the next flush.
    pub async fn flush_analytics(&self) {
        let counts = Arc::new(self.analytics.drain());
        if counts.is_empty() {
            return;
        }
        let batch = counts.clone();
        let written = self
            .db
            .write(move |conn| Ok(analytics::write(conn, &batch)?))
            .await;
        if let Err(err) = written {
            metrics().analytics_flush_failures.inc();
            log::warn!(
                "could not write {} verification counts (kept for the next flush): {err}",
                counts.len()
            );
            let counts = Arc::try_unwrap(counts).unwrap_or_else(|shared| (*shared).clone());
            self.analytics.restore(counts);
        }
    }

    /// Writes what waits to be written: `last_used_at` values and
    /// verification counts.
    pub async fn flush(&self) {
        futures_util::future::join(self.flush_last_used(), self.flush_analytics()).await;
    }

    /// Purges the verification counts of minutes older than `retention`;
    /// returns how many rows.
    pub async fn purge_analytics(&self, retention: chrono::Duration) -> Result<usize, ApiError> {
        let cutoff = chrono::Utc::now() - retention;
        self.db
            .write(move |conn| Ok(analytics::purge_before(conn, cutoff)?))
            .await
    }
}
