//! The node's Prometheus metrics: one registry for the process, its
//! families named by Prometheus conventions (`keygate_..._total` counters,
//! `_seconds` durations), rendered in the text format by `GET /metrics`.
//! Code that counts something calls [`metrics`] and increments a family
//! (an atomic add, and for labelled families a look-up of the label
//! values); values that are a state, not an event (cache entries, pool
//! connections, the `last_used_at` and analytics backlogs), are read when
//! scraped.
//! docs/OPERATIONS.md, "Metrics", lists the families.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every family keygate exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `keygate_http_requests_total{operation, status}`: answered requests
    /// by operationId (`unmatched` for a path no document has) and status.
    pub requests: IntCounterVec,
    /// `keygate_http_request_duration_seconds{operation}`.
    pub request_duration: HistogramVec,
    /// `keygate_auth_cache_hits_total{cache}` and
    /// `keygate_auth_cache_misses_total{cache}` of each cache (`api_keys`,
    /// `clusters`), resolved once: look-ups answered from the cache, and
    /// look-ups that read the database.
    caches: Vec<(&'static str, CacheCounters)>,
    /// `keygate_auth_cache_entries{cache}`, at scrape.
    pub cache_entries: IntGaugeVec,
    /// `keygate_invalidations_received_total`: other nodes' key changes
    /// read from `cache_invalidations`.
    pub invalidations: IntCounter,
    /// `keygate_invalidation_lag_seconds`: from a change's write on its
    /// node to its read here (node clocks included).
    pub invalidation_lag: Histogram,
    /// `keygate_invalidation_listener_up`: 1 while the `LISTEN`
    /// connection is up.
    pub listener_up: IntGauge,
    /// `keygate_db_pool_connections`: open pooled connections, at scrape.
    pub pool_connections: IntGauge,
    /// `keygate_db_pool_connections_in_use`, at scrape.
    pub pool_in_use: IntGauge,
    /// `keygate_db_pool_max_connections`: `KEYGATE_POOL_SIZE`.
    pub pool_max: IntGauge,
    /// `keygate_db_pool_wait_seconds`: how long checkouts waited.
    pub pool_wait: Histogram,
    /// `keygate_db_errors_total{kind}`: database errors by kind
    /// (`serialization`, `deadlock`, `unavailable`, `timeout`, `other`).
    pub db_errors: IntCounterVec,
    /// `keygate_db_retries_total`: writes run again after a serialization
    /// failure or deadlock.
    pub db_retries: IntCounter,
    /// `keygate_last_used_backlog_keys`: `last_used_at` values waiting for
    /// the next flush, at scrape.
    pub last_used_backlog: IntGauge,
    /// `keygate_last_used_flush_failures_total`.
    pub last_used_flush_failures: IntCounter,
    /// `keygate_audit_write_failures_total`: audit events (of refusals)
    /// that could not be written.
    pub audit_write_failures: IntCounter,
    /// `keygate_analytics_backlog_counters`: verification counters waiting
    /// for the next flush, at scrape.
    pub analytics_backlog: IntGauge,
    /// `keygate_analytics_flush_failures_total`.
    pub analytics_flush_failures: IntCounter,
}

/// The counters of one authentication cache.
#[derive(Debug, Clone)]
pub struct CacheCounters {
    /// Look-ups answered from the cache.
    pub hits: IntCounter,
    /// Look-ups that read the database.
    pub misses: IntCounter,
}

/// The caches whose counters exist.
pub const CACHES: [&str; 2] = ["api_keys", "clusters"];

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid counter");
    registry.register(Box::new(c.clone())).expect("a new name");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
    registry.register(Box::new(c.clone())).expect("a new name");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid gauge");
    registry.register(Box::new(g.clone())).expect("a new name");
    g
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
    registry.register(Box::new(g.clone())).expect("a new name");
    g
}

/// Buckets of request and database waits: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
        .expect("a valid histogram");
    registry.register(Box::new(h.clone())).expect("a new name");
    h
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "keygate_http_request_duration_seconds",
                "Time from a request's arrival to its answer, by operationId.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )
        .expect("a valid histogram");
        r.register(Box::new(request_duration.clone()))
            .expect("a new name");
        let build = gauge_vec(
            &r,
            "keygate_build_info",
            "Always 1; the labels name the running build.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let hits = counter_vec(
            &r,
            "keygate_auth_cache_hits_total",
            "Key look-ups answered from the authentication cache.",
            &["cache"],
        );
        let misses = counter_vec(
            &r,
            "keygate_auth_cache_misses_total",
            "Key look-ups that read the database.",
            &["cache"],
        );
        let caches = CACHES
            .iter()
            .map(|&name| {
                let counters = CacheCounters {
                    hits: hits.with_label_values(&[name]),
                    misses: misses.with_label_values(&[name]),
                };
                (name, counters)
            })
            .collect();
        Metrics {
            caches,
            requests: counter_vec(
                &r,
                "keygate_http_requests_total",
                "Answered requests by operationId and status.",
                &["operation", "status"],
            ),
            request_duration,
            cache_entries: gauge_vec(
                &r,
                "keygate_auth_cache_entries",
                "Entries in the authentication cache.",
                &["cache"],
            ),
            invalidations: counter(
                &r,
                "keygate_invalidations_received_total",
                "Key changes of other nodes read from cache_invalidations.",
            ),
            invalidation_lag: histogram(
                &r,
                "keygate_invalidation_lag_seconds",
                "Time from a key change's write to its read by this node.",
            ),
            listener_up: gauge(
                &r,
                "keygate_invalidation_listener_up",
                "1 while the LISTEN connection for invalidations is up.",
            ),
            pool_connections: gauge(
                &r,
                "keygate_db_pool_connections",
                "Open connections of the database pool.",
            ),
            pool_in_use: gauge(
                &r,
                "keygate_db_pool_connections_in_use",
                "Pooled connections lent out.",
            ),
            pool_max: gauge(
                &r,
                "keygate_db_pool_max_connections",
                "Most connections the pool opens (KEYGATE_POOL_SIZE).",
            ),
            pool_wait: histogram(
                &r,
                "keygate_db_pool_wait_seconds",
                "How long getting a pooled connection took.",
            ),
            db_errors: counter_vec(
                &r,
                "keygate_db_errors_total",
                "Database errors by kind.",
                &["kind"],
            ),
            db_retries: counter(
                &r,
                "keygate_db_retries_total",
                "Writes run again after a serialization failure or a deadlock.",
            ),
            last_used_backlog: gauge(
                &r,
                "keygate_last_used_backlog_keys",
                "Keys whose last_used_at waits for the next flush.",
            ),
            last_used_flush_failures: counter(
                &r,
                "keygate_last_used_flush_failures_total",
                "last_used_at flushes that failed (their values are dropped).",
            ),
            audit_write_failures: counter(
                &r,
                "keygate_audit_write_failures_total",
                "Audit events that could not be written.",
            ),
            analytics_backlog: gauge(
                &r,
                "keygate_analytics_backlog_counters",
                "Verification counters waiting for the next flush.",
            ),
            analytics_flush_failures: counter(
                &r,
                "keygate_analytics_flush_failures_total",
                "Verification count flushes that failed (their counts are kept for the next).",
            ),
            registry: r,
        }
    }

    /// The counters of cache `name` (one of [`CACHES`]).
    pub fn cache(&self, name: &str) -> &CacheCounters {
        self.caches
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&self.caches[0].1, |(_, c)| c)
    }

    /// Counts a database error of `kind`.
    pub fn db_error(&self, kind: &str) {
        self.db_errors.with_label_values(&[kind]).inc();
    }

    /// Every family in the text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("cannot render metrics: {err}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `KEYGATE_METRICS_TOKEN`: when set, `GET /metrics` wants
/// `Authorization: Bearer TOKEN`. `Debug` never shows it.
#[derive(Clone)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl MetricsToken {
    /// The token, as configured.
    pub fn new(token: String) -> MetricsToken {
        MetricsToken(token)
    }

    /// Whether an `Authorization` header value presents the token
    /// (compared in constant time).
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(given) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        given.trim().as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_compared_and_never_shown() {
        let token = MetricsToken::new("s3cret-token-value".to_owned());
        assert!(token.admits(Some("Bearer s3cret-token-value")));
        assert!(!token.admits(Some("Bearer s3cret-token-valuE")));
        assert!(!token.admits(Some("s3cret-token-value")));
        assert!(!token.admits(None));
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn the_families_render_with_their_help_and_type() {
        let m = metrics();
        m.requests.with_label_values(&["verify_key", "200"]).inc();
        m.request_duration
            .with_label_values(&["verify_key"])
            .observe(0.002);
        m.cache("api_keys").hits.inc();
        let text = m.render();
        assert!(text.contains("# TYPE keygate_http_requests_total counter"));
        assert!(
            text.contains(r#"keygate_http_requests_total{operation="verify_key",status="200"}"#)
        );
        assert!(text.contains("# TYPE keygate_http_request_duration_seconds histogram"));
        assert!(text.contains(r#"keygate_build_info{version=""#));
        assert!(text.contains(r#"keygate_auth_cache_misses_total{cache="clusters"} 0"#));
        assert!(text.ends_with('\n'));
    }
}
