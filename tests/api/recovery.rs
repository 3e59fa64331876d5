//! The recovery window of deleted API keys and secrets: a deleted key or
//! secret is gone for every operation (404; a key never authenticates)
//! except a list with `include_deleted` and `undelete`, which brings it
//! back as it was; after the window it cannot be brought back and the
//! purge removes it.

use chrono::{Duration, Utc};
use keygate::config::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{any_connection, assert_problem, execute, TestApp};

async fn verify_code(app: &TestApp, key: &str) -> String {
    let res = app
        .post("/v1/verify", &app.bootstrap_key, &json!({"key": key}))
        .await;
    let verdict: Value = res.json().await.unwrap();
    verdict["code"].as_str().unwrap().to_owned()
}

/// The ids a list answers (its first 100), with `query`.
async fn listed(app: &TestApp, collection: &str, query: &str) -> Vec<String> {
    let page: Value = app
        .get(
            &format!("{collection}?limit=100&{query}"),
            &app.bootstrap_key,
        )
        .await
        .json()
        .await
        .unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn listed_ids(app: &TestApp, query: &str) -> Vec<String> {
    listed(app, "/v1/api_keys", query).await
}

async fn listed_secret_ids(app: &TestApp, query: &str) -> Vec<String> {
    listed(app, "/v1/secrets", query).await
}

backend_test! {
    async fn a_deleted_key_is_gone_until_undeleted(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        let res = app.delete(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_problem(app.get(&path, &app.bootstrap_key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_problem(app.get("/v1/me", &key).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(verify_code(&app, &key).await, "NOT_FOUND");
        let res = app.patch(&path, &app.bootstrap_key, &json!({"name": "x"})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post(&format!("{path}/rotate"), &app.bootstrap_key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_problem(app.delete(&path, &app.bootstrap_key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!listed_ids(&app, "").await.contains(&id));
        let page: Value = app
            .get("/v1/api_keys?include_deleted=true", &app.bootstrap_key)
            .await
            .json()
            .await
            .unwrap();
        let shown = page["data"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).expect("listed with include_deleted").clone();
        assert!(shown["deleted_at"].is_string(), "{shown}");
        let res = app.post(&format!("{path}/undelete"), &app.bootstrap_key, &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let back: Value = res.json().await.unwrap();
        assert!(back.get("deleted_at").is_none(), "{back}");
        // It was presented while deleted: the cached "no such key" answer
        // is dropped by the undelete, not left to its TTL.
        assert_eq!(app.get("/v1/me", &key).await.status(), StatusCode::OK, "the same secret works again");
        assert_eq!(verify_code(&app, &key).await, "VALID");
        // Undeleting a live key changes nothing.
        let res = app.post(&format!("{path}/undelete"), &app.bootstrap_key, &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let events: Value = app
            .get("/v1/audit_events?action=undelete_api_key", &app.bootstrap_key)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(events["data"].as_array().unwrap().len(), 1, "{events}");
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.post(&format!("{path}/undelete"), &serving, &json!({})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
    }
}

backend_test! {
    async fn after_the_window_a_deleted_key_is_purged(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        assert_eq!(app.delete(&path, &app.bootstrap_key).await.status(), StatusCode::NO_CONTENT);
        let past = (Utc::now() - Duration::days(31)).naive_utc().format("%Y-%m-%d %H:%M:%S");
        assert_eq!(execute(&app, &format!("UPDATE api_keys SET deleted_at = '{past}' WHERE id = '{id}'")), 1);
        let res = app.post(&format!("{path}/undelete"), &app.bootstrap_key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!listed_ids(&app, "include_deleted=true").await.contains(&id));
        let mut conn = any_connection(&app);
        let cutoff = Utc::now() - Duration::days(30);
        let purged = keygate::resources::api_keys::repo::purge_deleted(&mut conn, cutoff).unwrap();
        assert_eq!(purged, 1);
        assert_eq!(execute(&app, &format!("UPDATE api_keys SET name = name WHERE id = '{id}'")), 0, "the key is gone");
        assert_eq!(execute(&app, &format!("UPDATE key_secrets SET state = state WHERE owner_id = '{id}'")), 0, "its secrets too");
        assert_eq!(verify_code(&app, &key).await, "NOT_FOUND");
    }
}

#[actix_web::test]
async fn a_window_of_zero_deletes_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.recovery_window = None)
        .await
        .unwrap();
    let (id, _) = app.key_with_role("serving").await;
    let path = format!("/v1/api_keys/{id}");
    assert_eq!(
        app.delete(&path, &app.bootstrap_key).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        execute(
            &app,
            &format!("UPDATE api_keys SET name = name WHERE id = '{id}'")
        ),
        0
    );
    let res = app
        .post(&format!("{path}/undelete"), &app.bootstrap_key, &json!({}))
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn put_secret(app: &TestApp, id: &str, value: &str) -> StatusCode {
    app.request(
        reqwest::Method::PUT,
        &format!("/v1/secrets/{id}"),
        Some(&app.bootstrap_key),
    )
    .json(&json!({"value": value}))
    .send()
    .await
    .unwrap()
    .status()
}

backend_test! {
    async fn a_deleted_secret_is_gone_until_undeleted(app) {
        let key = &app.bootstrap_key;
        assert_eq!(put_secret(&app, "db-password", "s3cr3t-value-1").await, StatusCode::CREATED);
        let path = "/v1/secrets/db-password";
        assert_eq!(app.delete(path, key).await.status(), StatusCode::NO_CONTENT);
        assert_problem(app.get(path, key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_problem(app.delete(path, key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!listed_secret_ids(&app, "").await.contains(&"db-password".to_owned()));
        let page: Value = app.get("/v1/secrets?include_deleted=true", key).await.json().await.unwrap();
        let shown = page["data"].as_array().unwrap().iter().find(|s| s["id"] == "db-password").expect("listed with include_deleted").clone();
        assert!(shown["deleted_at"].is_string(), "{shown}");
        assert!(!shown.to_string().contains("s3cr3t"), "a list never shows a value");
        // A connector cannot name a deleted secret.
        let res = app.post("/v1/connectors", key, &json!({"api_key_secret_id": "db-password"})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", res.text().await.unwrap());
        let (_, indexing) = app.key_with_role("serving").await;
        let res = app.post(&format!("{path}/undelete"), &indexing, &json!({})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let (_, other) = app.other_organization("acme").await;
        let res = app.post(&format!("{path}/undelete"), &other, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post(&format!("{path}/undelete"), key, &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let back: Value = res.json().await.unwrap();
        assert!(back.get("deleted_at").is_none(), "{back}");
        let read: Value = app.get(path, key).await.json().await.unwrap();
        assert_eq!(read["value"], "s3cr3t-value-1", "the value is back exactly");
        // Undeleting a live secret changes nothing.
        assert_eq!(app.post(&format!("{path}/undelete"), key, &json!({})).await.status(), StatusCode::OK);
        let events: Value = app.get("/v1/audit_events?action=undelete_secret", key).await.json().await.unwrap();
        let done = events["data"].as_array().unwrap().iter().filter(|e| e["outcome"] == "success").count();
        assert_eq!(done, 1, "one undelete did something (the refused one is `denied`): {events}");
        assert!(!events.to_string().contains("s3cr3t"));
    }
}

backend_test! {
    async fn a_new_secret_takes_the_id_of_a_deleted_one(app) {
        let key = &app.bootstrap_key;
        assert_eq!(put_secret(&app, "token", "old-value").await, StatusCode::CREATED);
        assert_eq!(app.delete("/v1/secrets/token", key).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(put_secret(&app, "token", "new-value").await, StatusCode::CREATED, "created, not updated: the deleted one was gone");
        let read: Value = app.get("/v1/secrets/token", key).await.json().await.unwrap();
        assert_eq!(read["value"], "new-value");
        assert_eq!(listed_secret_ids(&app, "include_deleted=true").await.iter().filter(|id| *id == "token").count(), 1);
        // A secret a connector uses is not deleted, window or not.
        let res = app.post("/v1/connectors", key, &json!({"api_key_secret_id": "token"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
        assert_problem(app.delete("/v1/secrets/token", key).await, StatusCode::CONFLICT, "still_referenced").await;
    }
}

backend_test! {
    async fn after_the_window_a_deleted_secret_is_purged(app) {
        let key = &app.bootstrap_key;
        assert_eq!(put_secret(&app, "old-secret", "value").await, StatusCode::CREATED);
        assert_eq!(app.delete("/v1/secrets/old-secret", key).await.status(), StatusCode::NO_CONTENT);
        let past = (Utc::now() - Duration::days(31)).naive_utc().format("%Y-%m-%d %H:%M:%S");
        assert_eq!(execute(&app, &format!("UPDATE secrets SET deleted_at = '{past}' WHERE id = 'old-secret'")), 1);
        let res = app.post("/v1/secrets/old-secret/undelete", key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!listed_secret_ids(&app, "include_deleted=true").await.contains(&"old-secret".to_owned()));
        let mut conn = any_connection(&app);
        let cutoff = Utc::now() - Duration::days(30);
        assert_eq!(keygate::resources::secrets::repo::purge_deleted(&mut conn, cutoff).unwrap(), 1);
        assert_eq!(execute(&app, "UPDATE secrets SET id = id WHERE id = 'old-secret'"), 0, "the secret is gone");
    }
}

#[actix_web::test]
async fn a_window_of_zero_deletes_a_secret_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.recovery_window = None)
        .await
        .unwrap();
    assert_eq!(put_secret(&app, "gone", "value").await, StatusCode::CREATED);
    assert_eq!(
        app.delete("/v1/secrets/gone", &app.bootstrap_key)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        execute(&app, "UPDATE secrets SET id = id WHERE id = 'gone'"),
        0
    );
    let res = app
        .post("/v1/secrets/gone/undelete", &app.bootstrap_key, &json!({}))
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

backend_test! {
    async fn an_undeleted_secret_keeps_its_versions_and_a_new_one_starts_afresh(app) {
        let key = &app.bootstrap_key;
        for value in ["v1-value", "v2-value", "v3-value"] {
            put_secret(&app, "rotating", value).await;
        }
        assert_eq!(app.delete("/v1/secrets/rotating", key).await.status(), StatusCode::NO_CONTENT);
        assert_problem(app.get("/v1/secrets/rotating?version=1", key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(app.post("/v1/secrets/rotating/undelete", key, &json!({})).await.status(), StatusCode::OK);
        let v1: Value = app.get("/v1/secrets/rotating?version=1", key).await.json().await.unwrap();
        assert_eq!(v1["value"], "v1-value", "an undelete brings the versions back too");
        // Deleted again and replaced by a new secret of its id: the new one
        // has none of the old one's versions.
        assert_eq!(app.delete("/v1/secrets/rotating", key).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(put_secret(&app, "rotating", "fresh").await, StatusCode::CREATED);
        assert_problem(app.get("/v1/secrets/rotating?version=2", key).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(put_secret(&app, "rotating", "fresh-2").await, StatusCode::OK);
        let v1: Value = app.get("/v1/secrets/rotating?version=1", key).await.json().await.unwrap();
        assert_eq!(v1["value"], "fresh");
    }
}
