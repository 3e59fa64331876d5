//! `GET /metrics`: Prometheus' text format without an API key, the request
//! families labelled by operationId and status, and the optional token.

use keygate::config::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backend_test;
use crate::helpers::*;

/// The sample lines of a family (`NAME{...} VALUE` and `NAME VALUE`).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

backend_test! {
    async fn metrics_answer_without_a_key_in_the_text_format(app) {
        let key = app.bootstrap_key.clone();
        let res = app.post("/v1/verify", &key, &json!({"key": key})).await;
        assert_eq!(res.status(), StatusCode::OK);
        // A look-up of a key the cache holds now.
        assert_eq!(app.get("/v1/me", &key).await.status(), StatusCode::OK);
        let res = app.request(Method::GET, "/metrics", None).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "content-type"),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = res.text().await.unwrap();
        assert!(text.ends_with('\n'));
        for family in [
            "keygate_http_requests_total",
            "keygate_http_request_duration_seconds",
            "keygate_auth_cache_hits_total",
            "keygate_auth_cache_misses_total",
            "keygate_auth_cache_entries",
            "keygate_invalidations_received_total",
            "keygate_invalidation_lag_seconds",
            "keygate_db_pool_connections",
            "keygate_db_pool_connections_in_use",
            "keygate_db_pool_max_connections",
            "keygate_db_pool_wait_seconds",
            "keygate_db_retries_total",
            "keygate_last_used_backlog_keys",
            "keygate_audit_write_failures_total",
            "keygate_build_info",
        ] {
            assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
        }
        let verified = samples(&text, "keygate_http_requests_total")
            .into_iter()
            .any(|l| l.contains(r#"operation="verify_key""#) && l.contains(r#"status="200""#));
        assert!(verified, "no verify_key 200 sample:\n{text}");
        let hits = samples(&text, "keygate_auth_cache_hits_total");
        assert!(hits.iter().any(|l| l.contains(r#"cache="api_keys""#) && !l.ends_with(" 0")), "{hits:?}");
        // The unmatched path has a bounded label, not its own.
        let _ = app.request(Method::GET, "/no/such/path", None).send().await.unwrap();
        let text = app
            .request(Method::GET, "/metrics", None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains(r#"operation="unmatched",status="404""#), "{text}");
        assert!(!text.contains("/no/such/path"));
    }
}

#[actix_web::test]
async fn a_metrics_token_is_required_when_configured() {
    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.metrics_token = Some(keygate::metrics::MetricsToken::new(token.to_owned()));
    })
    .await
    .unwrap();
    let missing = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&missing, "content-type").starts_with("application/problem+json"));
    let body = missing.text().await.unwrap();
    assert!(!body.contains(token));
    // An API key is not the token.
    let key = app.bootstrap_key.clone();
    let wrong = app.get("/metrics", &key).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app.get("/metrics", token).await;
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("# TYPE keygate_http_requests_total counter"));
}
