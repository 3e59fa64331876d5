//! `/v1/clusters` (Elastic Cloud Connect family): idempotent create with
//! `create_api_key`, list, get, merge-PATCH and `If-Match`, disconnect, the
//! cluster and per-service key rotation with verify (current and pending,
//! the authentication cache included), roles, tenancy, keys at rest and
//! audit events.

use diesel::{Connection, QueryableByName, RunQueryDsl};
use keygate::config::Backend;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// A well-formed id no cluster has.
const UNKNOWN_ID: &str = "0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3";

fn path(id: &str) -> String {
    format!("/v1/clusters/{id}")
}

fn key_path(id: &str, service: Option<&str>, action: &str) -> String {
    match service {
        None => format!("/v1/clusters/{id}/api_key/{action}"),
        Some(service) => format!("/v1/clusters/{id}/services/{service}/api_key/{action}"),
    }
}

/// A create body for self-managed cluster `smc_id`.
fn body(smc_id: &str) -> Value {
    json!({
        "name": "my-production-cluster",
        "self_managed_cluster": {"id": smc_id, "name": "production-cluster", "version": "9.1.0"},
        "license": {"type": "enterprise", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"},
        "services": {"auto_ops": {"enabled": true}}
    })
}

fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Creates a cluster, asserting 201; returns the body.
async fn create(app: &TestApp, key: &str, query: &str, body: &Value) -> Value {
    let res = app.post(&format!("/v1/clusters{query}"), key, body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {body}");
    res.json().await.unwrap()
}

/// GET of a cluster: its body and `ETag`.
async fn fetch(app: &TestApp, id: &str) -> (Value, String) {
    let res = app.get(&path(id), &app.bootstrap_key).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {id}");
    let etag = header(&res, "etag");
    (res.json().await.unwrap(), etag)
}

/// Rotates the cluster's (`None`) or a service's key with a grace period;
/// returns the body with the new `key`.
async fn rotate(app: &TestApp, id: &str, service: Option<&str>, grace: Option<i64>) -> Value {
    let body = grace.map(|g| json!({"grace_period_seconds": g}));
    let res = send(
        app,
        Method::POST,
        &key_path(id, service, "rotate"),
        &app.bootstrap_key,
        None,
        body.as_ref(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "rotate {id} {service:?}");
    assert!(res.headers().contains_key("etag"), "rotate answers an ETag");
    res.json().await.unwrap()
}

async fn revoke_pending(app: &TestApp, id: &str, service: Option<&str>) -> Response {
    send(
        app,
        Method::POST,
        &key_path(id, service, "revoke_pending"),
        &app.bootstrap_key,
        None,
        None,
    )
    .await
}

/// `POST /v1/verify` with the bootstrap key.
async fn verify(app: &TestApp, key: &str) -> Value {
    verify_as(app, &app.bootstrap_key, key).await
}

async fn verify_as(app: &TestApp, caller: &str, key: &str) -> Value {
    let res = app.post("/v1/verify", caller, &json!({"key": key})).await;
    assert_eq!(res.status(), StatusCode::OK, "verify");
    res.json().await.unwrap()
}

fn key_of(body: &Value) -> String {
    body["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {body}"))
        .to_owned()
}

fn id_of(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}

/// Asserts a VALID verdict of a cluster (service) key.
fn assert_valid(
    verdict: &Value,
    kind: &str,
    cluster_id: &str,
    service: Option<&str>,
    status: &str,
) {
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["code"], "VALID", "{verdict}");
    assert_eq!(verdict["key_kind"], kind, "{verdict}");
    assert_eq!(verdict["cluster_id"], cluster_id, "{verdict}");
    assert_eq!(
        verdict["service"],
        service.map_or(Value::Null, Value::from),
        "{verdict}"
    );
    assert_eq!(verdict["status"], status, "{verdict}");
    assert!(
        verdict["api_key_id"].is_null() && verdict["api_key_role"].is_null(),
        "{verdict}"
    );
    if status == "pending" {
        assert!(verdict["pending_expires_at"].is_string(), "{verdict}");
    } else {
        assert!(verdict["pending_expires_at"].is_null(), "{verdict}");
    }
}

fn assert_not_found(verdict: &Value, what: &str) {
    assert_eq!(verdict["valid"], false, "{what}: {verdict}");
    assert_eq!(verdict["code"], "NOT_FOUND", "{what}: {verdict}");
    assert!(
        verdict["key_kind"].is_null() && verdict["cluster_id"].is_null(),
        "{what}: {verdict}"
    );
}

// ------------------------------------------------------------------ create

backend_test! {
    async fn create_is_idempotent_on_the_self_managed_cluster_id(app) {
        let res = app.post("/v1/clusters", &app.bootstrap_key, &body("smc-1")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let location = header(&res, "location");
        let etag = header(&res, "etag");
        let created: Value = res.json().await.unwrap();
        let id = id_of(&created);
        assert!(regex::Regex::new("^[a-z0-9]{32}$").unwrap().is_match(&id), "{id}");
        assert_eq!(location, path(&id));
        assert!(created.get("key").is_none(), "no key without create_api_key: {created}");
        assert_eq!(created["name"], "my-production-cluster");
        assert_eq!(created["self_managed_cluster"], json!({"id": "smc-1", "name": "production-cluster", "version": "9.1.0"}));
        assert_eq!(created["license"], json!({"type": "enterprise", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}));
        assert_eq!(created["services"], json!({"eis": {"enabled": false, "api_key": null}, "auto_ops": {"enabled": true, "api_key": null}}));
        assert!(created["api_key"].is_null());

        let (shown, get_etag) = fetch(&app, &id).await;
        assert_eq!(shown, created, "GET shows what create answered");
        assert_eq!(get_etag, etag);

        // The same body again: 200 with the same cluster, nothing new.
        let res = app.post("/v1/clusters", &app.bootstrap_key, &body("smc-1")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("location").is_none());
        assert_eq!(header(&res, "etag"), etag);
        let again: Value = res.json().await.unwrap();
        assert_eq!(again, created);

        // Another self-managed cluster is another connection.
        let other = create(&app, &app.bootstrap_key, "", &body("smc-2")).await;
        assert_ne!(id_of(&other), id);

        let list: Value = app.get("/v1/clusters", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    }
}

backend_test! {
    async fn create_with_a_different_body_for_the_same_id_conflicts(app) {
        let created = create(&app, &app.bootstrap_key, "", &body("smc-1")).await;
        let cases = [
            ("another name", json!({"name": "renamed"})),
            ("another version", json!({"self_managed_cluster": {"id": "smc-1", "name": "production-cluster", "version": "9.2.0"}})),
            ("no license", json!({"license": null})),
            ("other services", json!({"services": {"eis": {"enabled": true}}})),
        ];
        for (what, change) in cases {
            let mut changed = body("smc-1");
            for (k, v) in change.as_object().unwrap() {
                changed[k] = v.clone();
            }
            let res = app.post("/v1/clusters?create_api_key=true", &app.bootstrap_key, &changed).await;
            let problem = assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
            assert!(problem["detail"].as_str().unwrap().contains("smc-1"), "{what}: {problem}");
        }
        let (shown, _) = fetch(&app, &id_of(&created)).await;
        assert_eq!(shown, created, "a refused create changes nothing");
        assert!(shown["api_key"].is_null(), "and issues no key");
    }
}

backend_test! {
    async fn create_api_key_returns_the_cluster_key_once(app) {
        let res = app.post("/v1/clusters?create_api_key=true", &app.bootstrap_key, &body("smc-1")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let id = id_of(&created);
        let key = key_of(&created);
        assert!(key.starts_with("kg_ck_"), "{key}");
        assert_eq!(created["api_key"]["key_prefix"], &key[..10]);
        assert_eq!(created["api_key"]["key_last4"], &key[key.len() - 4..]);
        assert_valid(&verify(&app, &key).await, "cluster_key", &id, None, "current");

        let (shown, _) = fetch(&app, &id).await;
        assert!(!shown.to_string().contains(&key), "GET never shows the key");
        assert!(shown.get("key").is_none());

        // A repeat never re-issues an existing key.
        let res = app.post("/v1/clusters?create_api_key=true", &app.bootstrap_key, &body("smc-1")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let again: Value = res.json().await.unwrap();
        assert!(again.get("key").is_none(), "{again}");
        assert_valid(&verify(&app, &key).await, "cluster_key", &id, None, "current");

        // A cluster connected without a key gets its first one on a repeat.
        let plain = create(&app, &app.bootstrap_key, "?create_api_key=false", &body("smc-2")).await;
        assert!(plain.get("key").is_none());
        let res = app.post("/v1/clusters?create_api_key=true", &app.bootstrap_key, &body("smc-2")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let keyed: Value = res.json().await.unwrap();
        assert_eq!(id_of(&keyed), id_of(&plain));
        let second = key_of(&keyed);
        assert_valid(&verify(&app, &second).await, "cluster_key", &id_of(&plain), None, "current");
    }
}

backend_test! {
    async fn create_rejects_invalid_input(app) {
        let long = "a".repeat(256);
        let cases = [
            ("empty name", json!({"name": ""}), "validation_failed"),
            ("name too long", json!({"name": long}), "validation_failed"),
            ("bad version", json!({"self_managed_cluster": {"id": "x", "name": "y", "version": "9.1"}}), "validation_failed"),
            ("empty self-managed id", json!({"self_managed_cluster": {"id": "", "name": "y", "version": "9.1.0"}}), "validation_failed"),
            ("missing self-managed name", json!({"self_managed_cluster": {"id": "x", "version": "9.1.0"}}), "invalid_body"),
            ("unknown license type", json!({"license": {"type": "ultimate", "uid": "u"}}), "invalid_body"),
            ("empty license uid", json!({"license": {"type": "gold", "uid": ""}}), "validation_failed"),
            ("unknown service", json!({"services": {"apm": {"enabled": true}}}), "invalid_body"),
            ("null service", json!({"services": {"eis": null}}), "invalid_body"),
            ("unknown field", json!({"region": "eu"}), "invalid_body"),
        ];
        for (what, change, code) in cases {
            let mut bad = body("smc-1");
            for (k, v) in change.as_object().unwrap() {
                bad[k] = v.clone();
            }
            let res = app.post("/v1/clusters", &app.bootstrap_key, &bad).await;
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            assert!(problem["detail"].is_string(), "{what}");
        }
        let res = app.post("/v1/clusters?create_api_key=maybe", &app.bootstrap_key, &body("smc-1")).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query_parameter").await;
        let list: Value = app.get("/v1/clusters", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(list["data"], json!([]), "nothing was created");
    }
}

backend_test! {
    async fn list_pages_through_clusters_in_id_order(app) {
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(id_of(&create(&app, &app.bootstrap_key, "", &body(&format!("smc-{n}"))).await));
        }
        ids.sort();
        let first: Value = app.get("/v1/clusters?limit=2", &app.bootstrap_key).await.json().await.unwrap();
        let page: Vec<String> = first["data"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(page, ids[..2]);
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let rest: Value = app.get(&format!("/v1/clusters?limit=2&cursor={cursor}"), &app.bootstrap_key).await.json().await.unwrap();
        let page: Vec<String> = rest["data"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(page, ids[2..]);
        assert!(rest["next_cursor"].is_null());
    }
}

// ------------------------------------------------------------------ PATCH

backend_test! {
    async fn patch_is_a_merge_patch(app) {
        let id = id_of(&create(&app, &app.bootstrap_key, "", &body("smc-1")).await);
        let patch = |b: Value| {
            let id = id.clone();
            let app = &app;
            async move {
                let res = send(app, Method::PATCH, &path(&id), &app.bootstrap_key, None, Some(&b)).await;
                assert_eq!(res.status(), StatusCode::OK, "PATCH {b}");
                assert!(res.headers().contains_key("etag"));
                res.json::<Value>().await.unwrap()
            }
        };
        let after = patch(json!({"self_managed_cluster": {"version": "9.2.0"}})).await;
        assert_eq!(after["self_managed_cluster"], json!({"id": "smc-1", "name": "production-cluster", "version": "9.2.0"}), "nested objects merge");
        assert_eq!(after["name"], "my-production-cluster", "absent fields stay");
        assert_eq!(after["license"]["type"], "enterprise");

        let after = patch(json!({"license": {"type": "platinum"}})).await;
        assert_eq!(after["license"], json!({"type": "platinum", "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}));

        let after = patch(json!({"services": {"eis": {"enabled": true}}})).await;
        assert_eq!(after["services"]["eis"]["enabled"], true);
        assert_eq!(after["services"]["auto_ops"]["enabled"], true, "the other service stays");

        let after = patch(json!({"license": null, "name": "renamed"})).await;
        assert!(after["license"].is_null(), "null clears the license");
        assert_eq!(after["name"], "renamed");

        let (before, _) = fetch(&app, &id).await;
        let res = app.patch(&path(&id), &app.bootstrap_key, &json!({"license": {"type": "gold"}})).await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "license_incomplete").await;
        assert!(problem["detail"].as_str().unwrap().contains("license.uid"), "{problem}");
        for (what, bad) in [
            ("null name", json!({"name": null})),
            ("null self_managed_cluster", json!({"self_managed_cluster": null})),
            ("changing the self-managed id", json!({"self_managed_cluster": {"id": "smc-9"}})),
            ("null service", json!({"services": {"eis": null}})),
            ("bad version", json!({"self_managed_cluster": {"version": "nine"}})),
        ] {
            let res = app.patch(&path(&id), &app.bootstrap_key, &bad).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        }
        let (unchanged, _) = fetch(&app, &id).await;
        assert_eq!(unchanged, before, "refused patches change nothing");

        // application/merge-patch+json is accepted; a non-JSON type is 415.
        let res = app.request(Method::PATCH, &path(&id), Some(&app.bootstrap_key))
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"name": "merge-patched"}"#)
            .send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["name"], "merge-patched");
        let res = app.request(Method::PATCH, &path(&id), Some(&app.bootstrap_key))
            .header("content-type", "text/plain")
            .body(r#"{"name": "plain"}"#)
            .send().await.unwrap();
        assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
}

backend_test! {
    async fn patch_and_delete_honour_if_match(app) {
        let id = id_of(&create(&app, &app.bootstrap_key, "", &body("smc-1")).await);
        let (_, old_tag) = fetch(&app, &id).await;
        let res = send(&app, Method::PATCH, &path(&id), &app.bootstrap_key, Some(&old_tag), Some(&json!({"name": "first"}))).await;
        assert_eq!(res.status(), StatusCode::OK);
        let new_tag = header(&res, "etag");
        assert_ne!(new_tag, old_tag);

        let res = send(&app, Method::PATCH, &path(&id), &app.bootstrap_key, Some(&old_tag), Some(&json!({"name": "stale"}))).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = send(&app, Method::POST, &key_path(&id, None, "rotate"), &app.bootstrap_key, Some(&old_tag), None).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = send(&app, Method::DELETE, &path(&id), &app.bootstrap_key, Some(&old_tag), None).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let (shown, tag) = fetch(&app, &id).await;
        assert_eq!(shown["name"], "first");
        assert!(shown["api_key"].is_null(), "the stale rotate issued nothing");
        assert_eq!(tag, new_tag);

        let res = send(&app, Method::PATCH, &path(UNKNOWN_ID), &app.bootstrap_key, Some("*"), Some(&json!({"name": "x"}))).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = send(&app, Method::DELETE, &path(&id), &app.bootstrap_key, Some(&new_tag), None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

// ------------------------------------------------------------------ keys

backend_test! {
    async fn rotate_keeps_the_previous_key_pending_until_revoked(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let first = key_of(&created);

        let rotated = rotate(&app, &id, None, None).await;
        let second = key_of(&rotated);
        assert!(second.starts_with("kg_ck_") && second != first);
        assert_eq!(rotated["id"], id.as_str());
        assert_eq!(rotated["api_key"]["key_prefix"], &second[..10]);
        let pending = rotated["api_key"]["pending_keys"].as_array().unwrap();
        assert_eq!(pending.len(), 1, "{rotated}");
        assert_eq!(pending[0]["key_prefix"], &first[..10]);

        let old = verify(&app, &first).await;
        assert_valid(&old, "cluster_key", &id, None, "pending");
        // Seven days by default.
        let ends = chrono::DateTime::parse_from_rfc3339(old["pending_expires_at"].as_str().unwrap()).unwrap();
        let in_days = (ends.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        assert!((604_700..=604_800).contains(&in_days), "{in_days}");
        assert_valid(&verify(&app, &second).await, "cluster_key", &id, None, "current");

        // Rotating twice: two pending keys, all three work.
        let third = key_of(&rotate(&app, &id, None, Some(3600)).await);
        for (key, status) in [(&first, "pending"), (&second, "pending"), (&third, "current")] {
            assert_valid(&verify(&app, key).await, "cluster_key", &id, None, status);
        }
        let (shown, _) = fetch(&app, &id).await;
        assert_eq!(shown["api_key"]["pending_keys"].as_array().unwrap().len(), 2);

        let res = revoke_pending(&app, &id, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"revoked": 2}));
        assert_not_found(&verify(&app, &first).await, "first after revoke_pending");
        assert_not_found(&verify(&app, &second).await, "second after revoke_pending");
        assert_valid(&verify(&app, &third).await, "cluster_key", &id, None, "current");
        let res = revoke_pending(&app, &id, None).await;
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"revoked": 0}));

        // A zero grace ends the previous key at once.
        let fourth = key_of(&rotate(&app, &id, None, Some(0)).await);
        assert_not_found(&verify(&app, &third).await, "third after a zero grace");
        assert_valid(&verify(&app, &fourth).await, "cluster_key", &id, None, "current");

        for bad in [json!({"grace_period_seconds": -1}), json!({"grace_period_seconds": 2_592_001}), json!({"grace": 1})] {
            let res = send(&app, Method::POST, &key_path(&id, None, "rotate"), &app.bootstrap_key, None, Some(&bad)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        assert_valid(&verify(&app, &fourth).await, "cluster_key", &id, None, "current");
    }
}

backend_test! {
    async fn rotate_issues_the_first_key_of_a_cluster_without_one(app) {
        let id = id_of(&create(&app, &app.bootstrap_key, "", &body("smc-1")).await);
        let rotated = rotate(&app, &id, None, None).await;
        let key = key_of(&rotated);
        assert!(rotated["api_key"]["pending_keys"].as_array().unwrap().is_empty());
        assert_valid(&verify(&app, &key).await, "cluster_key", &id, None, "current");
        let res = send(&app, Method::POST, &key_path(UNKNOWN_ID, None, "rotate"), &app.bootstrap_key, None, None).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn service_keys_rotate_only_for_enabled_services(app) {
        let id = id_of(&create(&app, &app.bootstrap_key, "", &body("smc-1")).await);
        // auto_ops is enabled, eis is not.
        let rotated = rotate(&app, &id, Some("auto_ops"), None).await;
        let first = key_of(&rotated);
        assert!(first.starts_with("kg_cs_"), "{first}");
        assert_eq!(rotated["services"]["auto_ops"]["api_key"]["key_prefix"], &first[..10]);
        assert!(rotated["api_key"].is_null(), "the cluster key is a different key");
        assert_valid(&verify(&app, &first).await, "cluster_service_key", &id, Some("auto_ops"), "current");
        let second = key_of(&rotate(&app, &id, Some("auto_ops"), Some(600)).await);
        assert_valid(&verify(&app, &first).await, "cluster_service_key", &id, Some("auto_ops"), "pending");
        assert_valid(&verify(&app, &second).await, "cluster_service_key", &id, Some("auto_ops"), "current");
        let res = revoke_pending(&app, &id, Some("auto_ops")).await;
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"revoked": 1}));
        assert_not_found(&verify(&app, &first).await, "service key after revoke_pending");

        for action in ["rotate", "revoke_pending"] {
            let res = send(&app, Method::POST, &key_path(&id, Some("eis"), action), &app.bootstrap_key, None, None).await;
            let problem = assert_problem(res, StatusCode::CONFLICT, "service_not_enabled").await;
            assert!(problem["detail"].as_str().unwrap().contains("eis"), "{problem}");
            let res = send(&app, Method::POST, &key_path(&id, Some("apm"), action), &app.bootstrap_key, None, None).await;
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("eis") && detail.contains("auto_ops"), "{detail}");
        }

        // Enabled, eis works too; disabling a service revokes its keys at once.
        let res = app.patch(&path(&id), &app.bootstrap_key, &json!({"services": {"eis": {"enabled": true}}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let eis = key_of(&rotate(&app, &id, Some("eis"), None).await);
        assert_valid(&verify(&app, &eis).await, "cluster_service_key", &id, Some("eis"), "current");
        let res = app.patch(&path(&id), &app.bootstrap_key, &json!({"services": {"auto_ops": {"enabled": false}}})).await;
        let after: Value = res.json().await.unwrap();
        assert!(after["services"]["auto_ops"]["api_key"].is_null(), "{after}");
        assert_not_found(&verify(&app, &second).await, "a disabled service's key");
        assert_valid(&verify(&app, &eis).await, "cluster_service_key", &id, Some("eis"), "current");
    }
}

backend_test! {
    async fn disconnect_revokes_every_key_at_once(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let pending = key_of(&created);
        let current = key_of(&rotate(&app, &id, None, None).await);
        let service = key_of(&rotate(&app, &id, Some("auto_ops"), None).await);
        let keys = [&pending, &current, &service];
        // Verified once, so every verdict is now in the cache.
        for key in keys {
            assert_eq!(verify(&app, key).await["valid"], true);
        }
        let res = app.delete(&path(&id), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        for key in keys {
            assert_not_found(&verify(&app, key).await, "a disconnected cluster's key");
        }
        let res = app.get(&path(&id), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.delete(&path(&id), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        // Nothing of the cluster is left in key_secrets.
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM key_secrets WHERE owner_kind IN ('cluster', 'cluster_service')"), 0);
        // The self-managed cluster can connect again, as a new cluster.
        let again = create(&app, &app.bootstrap_key, "", &body("smc-1")).await;
        assert_ne!(id_of(&again), id);
    }
}

backend_test! {
    async fn cluster_keys_never_authenticate_v1_calls(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let cluster_key = key_of(&created);
        let service_key = key_of(&rotate(&app, &id, Some("auto_ops"), None).await);
        for key in [&cluster_key, &service_key] {
            for target in ["/v1/me", "/v1/clusters"] {
                let res = app.get(target, key).await;
                let problem = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
                assert!(problem["detail"].as_str().unwrap().contains("cluster keys cannot"), "{problem}");
            }
            let res = app.post("/v1/verify", key, &json!({"key": key})).await;
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
}

backend_test! {
    async fn a_pending_key_past_its_grace_verifies_as_expired(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let old = key_of(&created);
        let new = key_of(&rotate(&app, &id, None, None).await);
        // Not verified yet, so nothing is cached: end its grace in the past.
        let changed = execute(&app, "UPDATE key_secrets SET pending_expires_at = '2000-01-01 00:00:00' WHERE owner_kind = 'cluster' AND state = 'pending'");
        assert_eq!(changed, 1);
        let verdict = verify(&app, &old).await;
        assert_eq!(verdict["valid"], false, "{verdict}");
        assert_eq!(verdict["code"], "EXPIRED", "{verdict}");
        assert_eq!(verdict["key_kind"], "cluster_key", "{verdict}");
        assert_eq!(verdict["status"], "pending", "{verdict}");
        assert_valid(&verify(&app, &new).await, "cluster_key", &id, None, "current");
        let (shown, _) = fetch(&app, &id).await;
        assert_eq!(shown["api_key"]["pending_keys"], json!([]), "an ended key is not listed");
    }
}

backend_test! {
    async fn keys_of_a_missing_cluster_or_a_disabled_service_never_verify(app) {
        // What a rotation racing a disconnect or a service disable could
        // leave behind: a secret whose cluster is gone or whose service is
        // off. Made here by hand, never verified before, so nothing is cached.
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let cluster_key = key_of(&created);
        let service_key = key_of(&rotate(&app, &id, Some("auto_ops"), None).await);
        let off = execute(&app, &format!("UPDATE clusters SET auto_ops_enabled = false WHERE id = '{id}'"));
        assert_eq!(off, 1);
        assert_not_found(&verify(&app, &service_key).await, "a key of a disabled service");
        let (shown, _) = fetch(&app, &id).await;
        assert!(shown["services"]["auto_ops"]["api_key"].is_null(), "{shown}");
        assert_valid(&verify(&app, &cluster_key).await, "cluster_key", &id, None, "current");

        let other = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-2")).await;
        let other_id = id_of(&other);
        let other_key = key_of(&other);
        let gone = execute(&app, &format!("DELETE FROM clusters WHERE id = '{other_id}'"));
        assert_eq!(gone, 1);
        assert_not_found(&verify(&app, &other_key).await, "a key of a cluster that is gone");
    }
}

// ------------------------------------------------------------------ access

backend_test! {
    async fn another_organizations_cluster_is_not_found(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        let key = key_of(&created);
        let (_, other) = app.other_organization("tenant-b").await;
        for (method, target, body) in [
            (Method::GET, path(&id), None),
            (Method::PATCH, path(&id), Some(json!({"name": "x"}))),
            (Method::DELETE, path(&id), None),
            (Method::POST, key_path(&id, None, "rotate"), None),
            (Method::POST, key_path(&id, None, "revoke_pending"), None),
            (Method::POST, key_path(&id, Some("auto_ops"), "rotate"), None),
            (Method::POST, key_path(&id, Some("auto_ops"), "revoke_pending"), None),
        ] {
            let res = send(&app, method.clone(), &target, &other, None, body.as_ref()).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        let list: Value = app.get("/v1/clusters", &other).await.json().await.unwrap();
        assert_eq!(list["data"], json!([]));
        assert_not_found(&verify_as(&app, &other, &key).await, "another organization's cluster key");
        // The same self-managed cluster id is free in another organization.
        let theirs = create(&app, &other, "", &body("smc-1")).await;
        assert_ne!(id_of(&theirs), id);
        assert_valid(&verify(&app, &key).await, "cluster_key", &id, None, "current");
    }
}

backend_test! {
    async fn roles_decide_who_may_read_and_change_clusters(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let created = create(&app, &indexing, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        assert_eq!(app.get(&path(&id), &serving).await.status(), StatusCode::OK);
        assert_eq!(app.get("/v1/clusters", &serving).await.status(), StatusCode::OK);
        assert_eq!(verify_as(&app, &serving, &key_of(&created)).await["valid"], true);
        for (method, target, body) in [
            (Method::POST, "/v1/clusters".to_owned(), Some(body("smc-2"))),
            (Method::PATCH, path(&id), Some(json!({"name": "x"}))),
            (Method::DELETE, path(&id), None),
            (Method::POST, key_path(&id, None, "rotate"), None),
            (Method::POST, key_path(&id, Some("auto_ops"), "revoke_pending"), None),
        ] {
            let res = send(&app, method, &target, &serving, None, body.as_ref()).await;
            assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        }
        assert_eq!(rotate_with(&app, &indexing, &id).await, StatusCode::OK);
        let res = send(&app, Method::DELETE, &path(&id), &indexing, None, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

async fn rotate_with(app: &TestApp, key: &str, id: &str) -> StatusCode {
    send(
        app,
        Method::POST,
        &key_path(id, None, "rotate"),
        key,
        None,
        None,
    )
    .await
    .status()
}

// ------------------------------------------------------------------ at rest, audit

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    let rows: Vec<Count> = match app.backend {
        Backend::Sqlite => {
            let mut conn =
                diesel::SqliteConnection::establish(&app.database_target).expect("sqlite");
            diesel::sql_query(sql).load(&mut conn).expect(sql)
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&app.database_target).expect("postgres");
            diesel::sql_query(sql).load(&mut conn).expect(sql)
        }
    };
    rows[0].n
}

/// Every text column of the tables clusters touch, read directly.
fn stored_text(app: &TestApp) -> String {
    let sql = "SELECT key_hash || ' ' || owner_kind || ' ' || owner_id || ' ' || key_prefix || ' ' || key_last4 AS t FROM key_secrets \
        UNION ALL SELECT id || ' ' || name || ' ' || self_managed_cluster_id || ' ' || self_managed_cluster_name || ' ' || self_managed_cluster_version AS t FROM clusters \
        UNION ALL SELECT action || ' ' || resource_type || ' ' || COALESCE(resource_id, '') AS t FROM audit_events";
    let rows: Vec<Text> = match app.backend {
        Backend::Sqlite => {
            let mut conn =
                diesel::SqliteConnection::establish(&app.database_target).expect("sqlite");
            diesel::sql_query(sql).load(&mut conn).expect("rows")
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&app.database_target).expect("postgres");
            diesel::sql_query(sql).load(&mut conn).expect("rows")
        }
    };
    rows.into_iter().map(|r| r.t).collect::<Vec<_>>().join("\n")
}

backend_test! {
    async fn cluster_keys_are_never_stored_in_plaintext(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("at-rest-probe-cluster")).await;
        let id = id_of(&created);
        let keys = [
            key_of(&created),
            key_of(&rotate(&app, &id, None, None).await),
            key_of(&rotate(&app, &id, Some("auto_ops"), None).await),
            key_of(&rotate(&app, &id, Some("auto_ops"), None).await),
        ];
        let text = stored_text(&app);
        assert!(text.contains("at-rest-probe-cluster"), "the rows read hold the data just written");
        assert!(text.contains(&keys[0][..10]), "the display prefix is stored");
        let mut files = Vec::new();
        if let Some(path) = &app.sqlite_path {
            files = std::fs::read(path).expect("database file");
            if let Ok(more) = std::fs::read(format!("{}-wal", path.display())) {
                files.extend(more);
            }
            assert!(contains(&files, b"at-rest-probe-cluster"), "the files read hold the data");
        }
        for (n, key) in keys.iter().enumerate() {
            let middle = &key[10..key.len() - 4];
            assert!(!text.contains(key.as_str()) && !text.contains(middle), "key #{n} is stored");
            assert!(!contains(&files, key.as_bytes()) && !contains(&files, middle.as_bytes()), "key #{n} is in the file");
        }
    }
}

backend_test! {
    async fn every_cluster_mutation_is_audited_without_keys(app) {
        let created = create(&app, &app.bootstrap_key, "?create_api_key=true", &body("smc-1")).await;
        let id = id_of(&created);
        // A repeat that changes nothing writes no event.
        let res = app.post("/v1/clusters", &app.bootstrap_key, &body("smc-1")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.patch(&path(&id), &app.bootstrap_key, &json!({"services": {"eis": {"enabled": true}}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let rotated = key_of(&rotate(&app, &id, None, None).await);
        let service = key_of(&rotate(&app, &id, Some("eis"), None).await);
        assert_eq!(revoke_pending(&app, &id, None).await.status(), StatusCode::OK);
        assert_eq!(revoke_pending(&app, &id, Some("eis")).await.status(), StatusCode::OK);
        assert_eq!(app.delete(&path(&id), &app.bootstrap_key).await.status(), StatusCode::NO_CONTENT);
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.patch(&path(&id), &serving, &json!({"name": "x"})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        let res = app.get(&format!("/v1/audit_events?limit=100&resource_type=cluster&resource_id={id}"), &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        let events: Vec<(String, String)> = page["data"].as_array().unwrap().iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("create_cluster", "success"),
            ("update_cluster", "success"),
            ("rotate_cluster_api_key", "success"),
            ("rotate_cluster_service_api_key", "success"),
            ("revoke_pending_cluster_api_key", "success"),
            ("revoke_pending_cluster_service_api_key", "success"),
            ("delete_cluster", "success"),
            ("update_cluster", "denied"),
        ].iter().map(|(a, o)| (a.to_string(), o.to_string())).collect();
        assert_eq!(events, expected, "{page}");
        let text = page.to_string();
        for key in [key_of(&created), rotated, service] {
            assert!(!text.contains(&key[10..key.len() - 4]), "an audit event shows a key");
        }
    }
}
