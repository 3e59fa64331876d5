//! The key lifecycle: rotation with a grace period, `revoke_pending`, their
//! audit events, `POST /v1/verify` for every code, the authentication cache
//! on one node (a change here is seen at once), and `last_used_at`.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use keygate::keys::format::{self as key_format, KeyKind};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// An id that is well formed but belongs to no key.
const UNKNOWN_ID: &str = "aky_00000000000000000000000000000000";

/// The default grace period: seven days.
const DEFAULT_GRACE: i64 = 604_800;

/// The body of a 200 response as JSON.
async fn ok_json(res: Response, what: &str) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The body of a 200 response as text.
async fn ok_text(res: Response, what: &str) -> String {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {text}");
    text
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp"))
        .parse()
        .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
}

/// Asserts that `actual` lies within `slack` of `expected`.
fn assert_near(actual: DateTime<Utc>, expected: DateTime<Utc>, slack: Duration, what: &str) {
    let off = (actual - expected).abs();
    assert!(
        off <= slack,
        "{what}: {actual} is {off} away from {expected} (allowed {slack})"
    );
}

/// The id of the key `key` authenticates as, from `/v1/me`.
async fn me_id(app: &TestApp, key: &str) -> String {
    let me = ok_json(app.get("/v1/me", key).await, "GET /v1/me").await;
    me["id"].as_str().expect("id of /v1/me").to_owned()
}

/// Asserts that `key` authenticates, as the key `id`.
async fn assert_works(app: &TestApp, key: &str, id: &str, what: &str) {
    let res = app.get("/v1/me", key).await;
    assert_eq!(res.status(), StatusCode::OK, "{what}: the key should work");
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["id"], id, "{what}: authenticates as its key");
}

/// Asserts that `key` is refused with 401.
async fn assert_refused(app: &TestApp, key: &str, what: &str) {
    let res = app.get("/v1/me", key).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "{what}: the key should be refused"
    );
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// A key of a role made by the bootstrap key: (id, secret).
async fn new_key(app: &TestApp, body: Value) -> (String, String) {
    let created = app.create_key(&app.bootstrap_key, body).await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// Rotates a key with the bootstrap key and the given JSON body, asserting
/// 200; returns the body and the `ETag`.
async fn rotate(app: &TestApp, id: &str, body: &Value) -> (Value, String) {
    let res = app
        .post(
            &format!("/v1/api_keys/{id}/rotate"),
            &app.bootstrap_key,
            body,
        )
        .await;
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let rotated = ok_json(res, &format!("rotate {body}")).await;
    (rotated, etag.expect("rotate answers with an ETag"))
}

/// The new secret of a rotation answer.
fn new_secret(rotated: &Value) -> String {
    rotated["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key in {rotated}"))
        .to_owned()
}

/// `revoke_pending` with the bootstrap key; returns the body.
async fn revoke_pending(app: &TestApp, id: &str) -> Value {
    let res = app
        .request(
            Method::POST,
            &format!("/v1/api_keys/{id}/revoke_pending"),
            Some(&app.bootstrap_key),
        )
        .send()
        .await
        .unwrap();
    ok_json(res, "revoke_pending").await
}

/// The key `id` as the bootstrap key sees it.
async fn show(app: &TestApp, id: &str) -> Value {
    ok_json(
        app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key)
            .await,
        "GET key",
    )
    .await
}

/// The `pending_keys` of a key view.
fn pending(view: &Value) -> Vec<Value> {
    view["pending_keys"]
        .as_array()
        .unwrap_or_else(|| panic!("pending_keys is an array in {view}"))
        .clone()
}

/// Asserts that a pending-key entry names `old` and ends about `until`.
fn assert_pending_entry(entry: &Value, old: &str, until: DateTime<Utc>, what: &str) {
    assert_eq!(
        entry["key_prefix"],
        old[..10],
        "{what}: key_prefix of {entry}"
    );
    assert_eq!(
        entry["key_last4"],
        old[old.len() - 4..],
        "{what}: key_last4 of {entry}"
    );
    assert_near(
        timestamp(&entry["expires_at"]),
        until,
        Duration::seconds(10),
        what,
    );
}

/// `POST /v1/verify` with `caller`, asserting 200; returns the verdict.
async fn verify(app: &TestApp, caller: &str, body: Value) -> Value {
    let what = format!("verify {}", body.get("client_ip").unwrap_or(&Value::Null));
    ok_json(app.post("/v1/verify", caller, &body).await, &what).await
}

/// Asserts a verdict's code and that `valid` is true exactly for `VALID`.
fn assert_code(verdict: &Value, code: &str, what: &str) {
    assert_eq!(verdict["code"], code, "{what}: {verdict}");
    assert_eq!(
        verdict["valid"],
        code == "VALID",
        "{what}: valid only for VALID: {verdict}"
    );
}

/// Asserts the verdict on a key that was not found (or is malformed).
fn assert_unknown(verdict: &Value, code: &str, what: &str) {
    assert_code(verdict, code, what);
    for field in [
        "api_key_id",
        "api_key_role",
        "status",
        "pending_expires_at",
        "expires_at",
    ] {
        assert!(
            verdict.get(field).is_some_and(Value::is_null),
            "{what}: {field} is present and null in {verdict}"
        );
    }
}

/// A second organization: (its personal key's id, its secret).
async fn other_organization(app: &TestApp) -> (String, String) {
    let res = app
        .post(
            "/v1/organizations",
            &app.bootstrap_key,
            &json!({"name": "other"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create organization");
    let body: Value = res.json().await.unwrap();
    (
        body["api_key"]["id"].as_str().unwrap().to_owned(),
        body["api_key"]["key"].as_str().unwrap().to_owned(),
    )
}

/// Polls the key every 100 ms for up to ~2.5 s until `last_used_at` is set
/// and later than `after`; returns it.
async fn wait_for_last_used(
    app: &TestApp,
    id: &str,
    after: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let mut seen = Value::Null;
    for _ in 0..25 {
        let view = show(app, id).await;
        seen = view["last_used_at"].clone();
        if !seen.is_null() {
            let at = timestamp(&seen);
            if after.is_none_or(|after| at > after) {
                return at;
            }
        }
        actix_web::rt::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("last_used_at of {id} did not move past {after:?}; last seen {seen}");
}

// ---------------------------------------------------------------- rotation

backend_test! {
    async fn rotate_returns_a_new_key_once_and_keeps_the_old_one_pending(app) {
        let (id, old) = new_key(&app, json!({"name": "rotated", "api_key_role": "serving"})).await;
        assert_works(&app, &old, &id, "before rotation").await;

        let (rotated, etag) = rotate(&app, &id, &json!({"grace_period_seconds": 3600})).await;
        let at = Utc::now();
        let new = new_secret(&rotated);
        assert!(new.starts_with("kg_ak_"), "a keygate API key");
        assert_eq!(new.len(), old.len(), "same length as the old key");
        assert_ne!(new, old, "a new key");
        assert_eq!(rotated["id"], id.as_str(), "the same key");
        assert_eq!(rotated["key_prefix"], new[..10], "key_prefix of the new key");
        assert_eq!(rotated["key_last4"], new[new.len() - 4..], "key_last4 of the new key");
        let pending_keys = pending(&rotated);
        assert_eq!(pending_keys.len(), 1, "one pending key: {rotated}");
        assert_pending_entry(&pending_keys[0], &old, at + Duration::seconds(3600), "first rotation");

        // The ETag is the version a GET shows.
        let res = app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await;
        let shown_etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(shown_etag.as_deref(), Some(etag.as_str()), "rotate's ETag is the key's");

        assert_works(&app, &old, &id, "old key, pending").await;
        assert_works(&app, &new, &id, "new key").await;

        // Rotating again adds a second pending key; all three work.
        let (again, _) = rotate(&app, &id, &json!({"grace_period_seconds": 3600})).await;
        let at = Utc::now();
        let newest = new_secret(&again);
        assert!(newest != old && newest != new, "a third key");
        let pending_keys = pending(&again);
        assert_eq!(pending_keys.len(), 2, "two pending keys: {again}");
        assert_pending_entry(&pending_keys[0], &old, at + Duration::seconds(3600), "oldest pending");
        assert_pending_entry(&pending_keys[1], &new, at + Duration::seconds(3600), "second pending");
        for (key, what) in [(&old, "first key"), (&new, "second key"), (&newest, "current key")] {
            assert_works(&app, key, &id, what).await;
        }
        assert_eq!(pending(&show(&app, &id).await).len(), 2, "GET shows both pending keys");

        // No secret is shown again.
        let texts = [
            ("GET by id", ok_text(app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await, "GET").await),
            ("list", ok_text(app.get("/v1/api_keys", &app.bootstrap_key).await, "list").await),
            ("/v1/me with the new key", ok_text(app.get("/v1/me", &newest).await, "me").await),
            ("/v1/me with the old key", ok_text(app.get("/v1/me", &old).await, "me").await),
        ];
        for (what, text) in texts {
            for (secret, name) in [(&old, "old"), (&new, "second"), (&newest, "newest")] {
                assert!(!text.contains(secret.as_str()), "{what}: the {name} secret appears in {text}");
            }
            assert!(!text.contains("\"key\":"), "{what}: a `key` field in {text}");
        }
    }
}

backend_test! {
    async fn rotate_without_a_body_uses_the_default_grace_of_seven_days(app) {
        let (id, old) = new_key(&app, json!({"name": "default grace", "api_key_role": "serving"})).await;
        let path = format!("/v1/api_keys/{id}/rotate");

        // No body and no content type at all.
        let res = app.request(Method::POST, &path, Some(&app.bootstrap_key)).send().await.unwrap();
        let rotated = ok_json(res, "rotate without a body").await;
        let at = Utc::now();
        let first = new_secret(&rotated);
        let pending_keys = pending(&rotated);
        assert_eq!(pending_keys.len(), 1, "{rotated}");
        assert_pending_entry(&pending_keys[0], &old, at + Duration::seconds(DEFAULT_GRACE), "no body");

        // An empty object likewise.
        let (rotated, _) = rotate(&app, &id, &json!({})).await;
        let at = Utc::now();
        let pending_keys = pending(&rotated);
        assert_eq!(pending_keys.len(), 2, "{rotated}");
        assert_pending_entry(&pending_keys[1], &first, at + Duration::seconds(DEFAULT_GRACE), "{}");

        assert_works(&app, &old, &id, "first key").await;
        assert_works(&app, &first, &id, "second key").await;
        assert_works(&app, &new_secret(&rotated), &id, "current key").await;
    }
}

backend_test! {
    async fn rotate_with_zero_grace_ends_the_old_key_at_once(app) {
        let (id, old) = new_key(&app, json!({"name": "zero grace", "api_key_role": "serving"})).await;
        let (_, verifier) = app.key_with_role("serving").await;
        // Used once, so the node has it cached.
        assert_works(&app, &old, &id, "before rotation").await;
        assert_code(&verify(&app, &verifier, json!({"key": old})).await, "VALID", "before rotation");

        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 0})).await;
        let new = new_secret(&rotated);
        assert!(pending(&rotated).is_empty(), "no pending key: {rotated}");

        assert_refused(&app, &old, "old key after a zero grace").await;
        assert_unknown(&verify(&app, &verifier, json!({"key": old})).await, "NOT_FOUND", "old key after a zero grace");
        assert_works(&app, &new, &id, "new key").await;
        assert!(pending(&show(&app, &id).await).is_empty(), "GET shows no pending key");
    }
}

backend_test! {
    async fn revoke_pending_ends_every_pending_key_at_once(app) {
        let (id, first) = new_key(&app, json!({"name": "revoked", "api_key_role": "serving"})).await;
        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 3600})).await;
        let second = new_secret(&rotated);
        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 3600})).await;
        let current = new_secret(&rotated);
        // Both old keys used, so the node has them cached.
        assert_works(&app, &first, &id, "first key, pending").await;
        assert_works(&app, &second, &id, "second key, pending").await;

        let path = format!("/v1/api_keys/{id}");
        let before = header(&app.get(&path, &app.bootstrap_key).await, "etag");
        assert_eq!(revoke_pending(&app, &id).await, json!({"revoked": 2}));
        let after = header(&app.get(&path, &app.bootstrap_key).await, "etag");
        assert_ne!(before, after, "the view lost its pending keys, so its ETag changes");
        assert_refused(&app, &first, "first key after revoke_pending").await;
        assert_refused(&app, &second, "second key after revoke_pending").await;
        assert!(pending(&show(&app, &id).await).is_empty(), "no pending key left");

        assert_eq!(revoke_pending(&app, &id).await, json!({"revoked": 0}), "nothing left to revoke");
        let unchanged = header(&app.get(&path, &app.bootstrap_key).await, "etag");
        assert_eq!(after, unchanged, "revoking nothing changes nothing");
        assert_works(&app, &current, &id, "the current key").await;
    }
}

backend_test! {
    async fn a_pending_key_stops_working_when_its_grace_ends(app) {
        let (id, old) = new_key(&app, json!({"name": "short grace", "api_key_role": "serving"})).await;
        let (_, verifier) = app.key_with_role("serving").await;
        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 1})).await;
        let new = new_secret(&rotated);
        assert_eq!(pending(&rotated).len(), 1, "{rotated}");
        let ends = timestamp(&pending(&rotated)[0]["expires_at"]);
        assert_works(&app, &old, &id, "within the grace").await;

        actix_web::rt::time::sleep(StdDuration::from_millis(2200)).await;
        assert!(Utc::now() > ends, "the grace has ended");
        assert_refused(&app, &old, "after the grace").await;
        let verdict = verify(&app, &verifier, json!({"key": old})).await;
        assert_code(&verdict, "EXPIRED", "a pending key past its grace");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
        assert_eq!(verdict["status"], "pending", "{verdict}");
        assert!(pending(&show(&app, &id).await).is_empty(), "an ended pending key is not listed");
        assert_works(&app, &new, &id, "the current key").await;
    }
}

backend_test! {
    async fn rotate_rejects_invalid_input(app) {
        let (id, old) = new_key(&app, json!({"name": "target", "api_key_role": "serving"})).await;
        let path = format!("/v1/api_keys/{id}/rotate");
        let field = Some("grace_period_seconds");

        let cases = [
            ("negative grace", json!({"grace_period_seconds": -1}), "validation_failed", field),
            ("grace over 30 days", json!({"grace_period_seconds": 2_592_001}), "validation_failed", field),
            ("grace as a string", json!({"grace_period_seconds": "abc"}), "invalid_body", None),
            ("grace as a fraction", json!({"grace_period_seconds": 1.5}), "invalid_body", None),
            ("null grace", json!({"grace_period_seconds": null}), "invalid_body", None),
            ("unknown field", json!({"grace": 10}), "invalid_body", None),
        ];
        for (what, body, code, field) in cases {
            let res = app.post(&path, &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            if let Some(field) = field {
                let errors = problem["errors"].as_array().unwrap_or_else(|| panic!("{what}: {problem}"));
                assert!(errors.iter().any(|e| e["field"] == field), "{what}: an error on {field} in {problem}");
            }
        }

        let raw = [
            ("text/plain body", "text/plain", "grace_period_seconds=10", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ("malformed JSON", "application/json", "{\"grace_period_seconds\": ", StatusCode::BAD_REQUEST, "invalid_json"),
        ];
        for (what, content_type, body, status, code) in raw {
            let res = app
                .request(Method::POST, &path, Some(&app.bootstrap_key))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), status, "{what}");
            assert_problem(res, status, code).await;
        }

        let paths = [
            ("unknown id", format!("/v1/api_keys/{UNKNOWN_ID}/rotate"), StatusCode::NOT_FOUND, "not_found"),
            ("malformed id", "/v1/api_keys/not-an-id/rotate".to_owned(), StatusCode::BAD_REQUEST, "invalid_path_parameter"),
            ("revoke_pending of an unknown id", format!("/v1/api_keys/{UNKNOWN_ID}/revoke_pending"), StatusCode::NOT_FOUND, "not_found"),
            ("revoke_pending of a malformed id", "/v1/api_keys/aky_XYZ/revoke_pending".to_owned(), StatusCode::BAD_REQUEST, "invalid_path_parameter"),
        ];
        for (what, path, status, code) in paths {
            let res = app.post(&path, &app.bootstrap_key, &json!({"grace_period_seconds": 60})).await;
            assert_eq!(res.status(), status, "{what}");
            assert_problem(res, status, code).await;
        }

        // Nothing was rotated.
        assert!(pending(&show(&app, &id).await).is_empty(), "no pending key after refused rotations");
        assert_works(&app, &old, &id, "the key is unchanged").await;

        // The upper bound itself is accepted.
        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 2_592_000})).await;
        let at = Utc::now();
        assert_pending_entry(&pending(&rotated)[0], &old, at + Duration::seconds(2_592_000), "30 days");
    }
}

backend_test! {
    async fn rotate_and_revoke_pending_need_rights_over_the_key(app) {
        let (id, old) = new_key(&app, json!({"name": "target", "api_key_role": "serving"})).await;
        let (serving_id, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let (_, narrowed) = new_key(
            &app,
            json!({
                "name": "narrowed",
                "api_key_role": "personal",
                "api_policy": {"allowed_operations": {
                    "get_me": {"allow_any_resource": true, "allowed_resources": {}},
                    "get_api_key": {"allow_any_resource": true, "allowed_resources": {}}
                }}
            }),
        )
        .await;
        let (other_id, other) = other_organization(&app).await;

        let body = json!({"grace_period_seconds": 60});
        let rotate_path = format!("/v1/api_keys/{id}/rotate");
        let revoke_path = format!("/v1/api_keys/{id}/revoke_pending");
        let cases = [
            ("serving key rotates", &serving, rotate_path.clone(), StatusCode::FORBIDDEN, "insufficient_role"),
            ("serving key rotates itself", &serving, format!("/v1/api_keys/{serving_id}/rotate"), StatusCode::FORBIDDEN, "insufficient_role"),
            ("serving key revokes", &serving, revoke_path.clone(), StatusCode::FORBIDDEN, "insufficient_role"),
            ("serving_and_indexing key rotates", &indexing, rotate_path.clone(), StatusCode::FORBIDDEN, "insufficient_role"),
            ("policy without rotate_api_key", &narrowed, rotate_path.clone(), StatusCode::FORBIDDEN, "operation_not_allowed"),
            ("policy without revoke_pending_api_key", &narrowed, revoke_path.clone(), StatusCode::FORBIDDEN, "operation_not_allowed"),
            ("another organization's key rotates ours", &other, rotate_path.clone(), StatusCode::NOT_FOUND, "not_found"),
            ("another organization's key revokes ours", &other, revoke_path.clone(), StatusCode::NOT_FOUND, "not_found"),
            ("we rotate another organization's key", &app.bootstrap_key, format!("/v1/api_keys/{other_id}/rotate"), StatusCode::NOT_FOUND, "not_found"),
            ("we revoke another organization's key", &app.bootstrap_key, format!("/v1/api_keys/{other_id}/revoke_pending"), StatusCode::NOT_FOUND, "not_found"),
        ];
        for (what, key, path, status, code) in cases {
            let res = app.post(&path, key, &body).await;
            assert_eq!(res.status(), status, "{what}");
            let problem = assert_problem(res, status, code).await;
            if status == StatusCode::FORBIDDEN {
                let operation = if path.ends_with("/rotate") { "rotate_api_key" } else { "revoke_pending_api_key" };
                assert_eq!(problem["missing_permission"], operation, "{what}: {problem}");
            }
        }

        // Nothing changed: no pending keys, old secrets still the only ones.
        assert!(pending(&show(&app, &id).await).is_empty(), "no rotation happened");
        assert_works(&app, &old, &id, "our key").await;
        assert_works(&app, &other, &other_id, "the other organization's key").await;
        assert_works(&app, &serving, &serving_id, "the serving key").await;

        // The refused calls on our key are audited as denied, by who tried.
        let events = ok_json(
            app.get(
                &format!("/v1/audit_events?resource_id={id}&outcome=denied&limit=100"),
                &app.bootstrap_key,
            )
            .await,
            "denied audit events",
        )
        .await;
        let events = events["data"].as_array().expect("data").clone();
        let by_serving = |action: &str| {
            events
                .iter()
                .filter(|e| e["action"] == action && e["actor_key_id"] == serving_id.as_str())
                .count()
        };
        assert_eq!(by_serving("rotate_api_key"), 1, "denied rotate by the serving key in {events:?}");
        assert_eq!(
            by_serving("revoke_pending_api_key"),
            1,
            "denied revoke_pending by the serving key in {events:?}"
        );
        for event in &events {
            assert_eq!(event["outcome"], "denied", "{event}");
            assert_eq!(event["resource_type"], "api_key", "{event}");
        }
    }
}

backend_test! {
    async fn rotate_and_revoke_pending_are_audited_without_secrets(app) {
        let bootstrap_id = me_id(&app, &app.bootstrap_key).await;
        let (id, old) = new_key(&app, json!({"name": "audited", "api_key_role": "serving"})).await;

        let res = app
            .post(&format!("/v1/api_keys/{id}/rotate"), &app.bootstrap_key, &json!({"grace_period_seconds": 3600}))
            .await;
        let rotate_request = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        let new = new_secret(&ok_json(res, "rotate").await);
        let res = app
            .request(Method::POST, &format!("/v1/api_keys/{id}/revoke_pending"), Some(&app.bootstrap_key))
            .send()
            .await
            .unwrap();
        let revoke_request = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        assert_eq!(ok_json(res, "revoke_pending").await, json!({"revoked": 1}));

        let text = ok_text(
            app.get(&format!("/v1/audit_events?resource_id={id}&limit=100"), &app.bootstrap_key).await,
            "audit events",
        )
        .await;
        for (secret, name) in [(&old, "old"), (&new, "new"), (&app.bootstrap_key, "bootstrap")] {
            assert!(!text.contains(secret.as_str()), "the {name} key appears in the audit events: {text}");
        }
        let events: Value = serde_json::from_str(&text).unwrap();
        let events = events["data"].as_array().expect("data").clone();
        for (action, request_id) in [("rotate_api_key", &rotate_request), ("revoke_pending_api_key", &revoke_request)] {
            let found: Vec<&Value> = events.iter().filter(|e| e["action"] == action).collect();
            assert_eq!(found.len(), 1, "one {action} event in {events:?}");
            let event = found[0];
            assert_eq!(event["outcome"], "success", "{event}");
            assert_eq!(event["actor_key_id"], bootstrap_id.as_str(), "{event}");
            assert_eq!(event["resource_type"], "api_key", "{event}");
            assert_eq!(event["resource_id"], id.as_str(), "{event}");
            assert_eq!(event["request_id"], request_id.as_str(), "{event}");
            assert_near(timestamp(&event["occurred_at"]), Utc::now(), Duration::seconds(30), action);
        }
        for event in &events {
            assert_eq!(event["resource_id"], id.as_str(), "the filter holds: {event}");
        }
    }
}

// ------------------------------------------------------------------ verify

backend_test! {
    async fn verify_reports_a_current_key_as_valid(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let expires = (Utc::now() + Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (id, key) = new_key(
            &app,
            json!({"name": "checked", "api_key_role": "serving_and_indexing", "expires_at": expires}),
        )
        .await;

        let verdict = verify(&app, &verifier, json!({"key": key})).await;
        assert_code(&verdict, "VALID", "a current key");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
        assert_eq!(verdict["api_key_role"], "serving_and_indexing", "{verdict}");
        assert_eq!(verdict["status"], "current", "{verdict}");
        assert!(verdict.get("pending_expires_at").is_some_and(Value::is_null), "{verdict}");
        assert_eq!(timestamp(&verdict["expires_at"]), timestamp(&json!(expires)), "{verdict}");
        // key_kind, cluster_id and service came with cluster keys.
        assert_eq!(verdict["key_kind"], "api_key", "{verdict}");
        assert!(verdict["cluster_id"].is_null() && verdict["service"].is_null(), "{verdict}");
        // resource_scopes came with scoped keys (null: not scoped).
        assert!(verdict["resource_scopes"].is_null(), "{verdict}");
        // identity, ratelimits and credits came with usage control.
        assert!(verdict["identity"].is_null(), "{verdict}");
        assert_eq!(verdict["ratelimits"], json!([]), "{verdict}");
        assert_eq!(verdict["credits"], json!([]), "{verdict}");
        assert_eq!(verdict.as_object().unwrap().len(), 14, "exactly the documented fields: {verdict}");

        // The verifier itself, with no expiry.
        let verdict = verify(&app, &verifier, json!({"key": verifier})).await;
        assert_code(&verdict, "VALID", "the verifier's own key");
        assert_eq!(verdict["api_key_role"], "serving", "{verdict}");
        assert!(verdict.get("expires_at").is_some_and(Value::is_null), "{verdict}");
    }
}

backend_test! {
    async fn verify_reports_a_pending_key_with_its_end(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (id, old) = new_key(&app, json!({"name": "rotated", "api_key_role": "serving"})).await;
        assert_eq!(verify(&app, &verifier, json!({"key": old})).await["status"], "current", "before rotation");

        let (rotated, _) = rotate(&app, &id, &json!({"grace_period_seconds": 3600})).await;
        let new = new_secret(&rotated);
        let ends = timestamp(&pending(&rotated)[0]["expires_at"]);

        let verdict = verify(&app, &verifier, json!({"key": old})).await;
        assert_code(&verdict, "VALID", "a pending key");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
        assert_eq!(verdict["status"], "pending", "{verdict}");
        assert_eq!(timestamp(&verdict["pending_expires_at"]), ends, "the end shown by rotate: {verdict}");

        let verdict = verify(&app, &verifier, json!({"key": new})).await;
        assert_code(&verdict, "VALID", "the new key");
        assert_eq!(verdict["status"], "current", "{verdict}");
        assert!(verdict["pending_expires_at"].is_null(), "{verdict}");
    }
}

backend_test! {
    async fn verify_reports_malformed_and_unknown_keys(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (_, real) = new_key(&app, json!({"name": "real", "api_key_role": "serving"})).await;
        let (_, other) = other_organization(&app).await;

        let mut typo = real.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        let truncated = real[..real.len() - 1].to_owned();

        let cases = [
            ("garbage", "not a key at all".to_owned(), "MALFORMED"),
            ("a real key with one character changed", typo, "MALFORMED"),
            ("a real key without its last character", truncated, "MALFORMED"),
            ("a well-formed key nobody holds", key_format::generate(KeyKind::ApiKey).value, "NOT_FOUND"),
            ("a key of another organization", other.clone(), "NOT_FOUND"),
        ];
        for (what, key, code) in cases {
            let verdict = verify(&app, &verifier, json!({"key": key})).await;
            assert_unknown(&verdict, code, what);
        }
        // The other organization's key itself works; it is just not ours.
        assert_eq!(app.get("/v1/me", &other).await.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn verify_reports_a_disabled_key(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (id, key) = new_key(&app, json!({"name": "off", "api_key_role": "serving", "enabled": false})).await;

        let verdict = verify(&app, &verifier, json!({"key": key})).await;
        assert_code(&verdict, "DISABLED", "created disabled");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
        assert_eq!(verdict["api_key_role"], "serving", "{verdict}");
        assert_eq!(verdict["status"], "current", "{verdict}");
    }
}

backend_test! {
    async fn verify_reports_an_expired_key(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let expires = Utc::now() + Duration::milliseconds(1500);
        let (id, key) = new_key(
            &app,
            json!({"name": "short lived", "api_key_role": "serving", "expires_at": expires.to_rfc3339()}),
        )
        .await;
        assert_code(&verify(&app, &verifier, json!({"key": key})).await, "VALID", "before expiry");

        let wait = (expires - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(200);
        actix_web::rt::time::sleep(wait).await;
        let verdict = verify(&app, &verifier, json!({"key": key})).await;
        assert_code(&verdict, "EXPIRED", "after expiry");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
        assert_near(timestamp(&verdict["expires_at"]), expires, Duration::milliseconds(5), "expires_at");
        assert_refused(&app, &key, "an expired key").await;
    }
}

backend_test! {
    async fn verify_checks_client_ip_against_allowed_cidrs(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (id, key) = new_key(
            &app,
            json!({"name": "internal", "api_key_role": "serving", "allowed_cidrs": ["10.0.0.0/8"]}),
        )
        .await;

        let cases = [
            ("outside the network", json!({"key": key, "client_ip": "192.168.1.1"}), "IP_NOT_ALLOWED"),
            ("inside the network", json!({"key": key, "client_ip": "10.1.2.3"}), "VALID"),
            ("IPv4-mapped IPv6 inside", json!({"key": key, "client_ip": "::ffff:10.1.2.3"}), "VALID"),
            ("IPv6 outside", json!({"key": key, "client_ip": "2001:db8::1"}), "IP_NOT_ALLOWED"),
            ("no client_ip: not checked", json!({"key": key}), "VALID"),
        ];
        for (what, body, code) in cases {
            let verdict = verify(&app, &verifier, body).await;
            assert_code(&verdict, code, what);
            assert_eq!(verdict["api_key_id"], id.as_str(), "{what}: {verdict}");
        }
    }
}

backend_test! {
    async fn verify_rejects_invalid_bodies_and_missing_credentials(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let cases = [
            ("missing key", json!({"client_ip": "10.1.2.3"}), "invalid_body", None),
            ("empty key", json!({"key": ""}), "validation_failed", Some("key")),
            ("unknown field", json!({"key": verifier, "ip": "10.1.2.3"}), "invalid_body", None),
            ("client_ip not an address", json!({"key": verifier, "client_ip": "not-an-ip"}), "invalid_body", None),
            ("key as a number", json!({"key": 42}), "invalid_body", None),
            ("null key", json!({"key": null}), "invalid_body", None),
        ];
        for (what, body, code, field) in cases {
            let res = app.post("/v1/verify", &verifier, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            if let Some(field) = field {
                let errors = problem["errors"].as_array().unwrap_or_else(|| panic!("{what}: {problem}"));
                assert!(errors.iter().any(|e| e["field"] == field), "{what}: an error on {field} in {problem}");
            }
            let text = problem.to_string();
            assert!(!text.contains(&verifier), "{what}: the presented key is echoed: {text}");
        }

        let res = app
            .request(Method::POST, "/v1/verify", None)
            .json(&json!({"key": verifier}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "no credentials");
        assert!(res.headers().contains_key("www-authenticate"), "WWW-Authenticate");
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

// ------------------------------------------------------------------- cache

backend_test! {
    async fn a_disabled_key_is_refused_at_once_on_the_same_node(app) {
        let (id, key) = new_key(&app, json!({"name": "cached", "api_key_role": "serving"})).await;
        assert_works(&app, &key, &id, "first use, now cached").await;

        let path = format!("/v1/api_keys/{id}");
        let res = app.patch(&path, &app.bootstrap_key, &json!({"enabled": false})).await;
        assert_eq!(ok_json(res, "disable").await["enabled"], false);
        assert_refused(&app, &key, "right after disabling").await;

        let res = app.patch(&path, &app.bootstrap_key, &json!({"enabled": true})).await;
        assert_eq!(ok_json(res, "enable").await["enabled"], true);
        assert_works(&app, &key, &id, "right after enabling again").await;
    }
}

backend_test! {
    async fn a_deleted_key_is_refused_at_once_on_the_same_node(app) {
        let (id, key) = new_key(&app, json!({"name": "cached", "api_key_role": "serving"})).await;
        let (_, verifier) = app.key_with_role("serving").await;
        assert_works(&app, &key, &id, "first use, now cached").await;
        assert_code(&verify(&app, &verifier, json!({"key": key})).await, "VALID", "before delete");

        let res = app.delete(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "delete");
        assert_refused(&app, &key, "right after deleting").await;
        assert_unknown(&verify(&app, &verifier, json!({"key": key})).await, "NOT_FOUND", "right after deleting");
    }
}

backend_test! {
    async fn verify_sees_a_disable_at_once(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (id, key) = new_key(&app, json!({"name": "cached", "api_key_role": "serving"})).await;
        assert_code(&verify(&app, &verifier, json!({"key": key})).await, "VALID", "first check, now cached");

        let res = app.patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"enabled": false})).await;
        assert_eq!(res.status(), StatusCode::OK, "disable");
        let verdict = verify(&app, &verifier, json!({"key": key})).await;
        assert_code(&verdict, "DISABLED", "right after disabling");
        assert_eq!(verdict["api_key_id"], id.as_str(), "{verdict}");
    }
}

// --------------------------------------------------------------- last used

backend_test! {
    async fn last_used_at_is_recorded_after_use_and_moves_forward(app) {
        let (id, key) = new_key(&app, json!({"name": "used", "api_key_role": "serving"})).await;
        assert!(show(&app, &id).await["last_used_at"].is_null(), "a new key was never used");

        let before = Utc::now();
        assert_works(&app, &key, &id, "first use").await;
        let first = wait_for_last_used(&app, &id, None).await;
        assert!(first >= before - Duration::milliseconds(5), "{first} is not before the use at {before}");
        assert_near(first, Utc::now(), Duration::seconds(5), "last_used_at");

        actix_web::rt::time::sleep(StdDuration::from_millis(300)).await;
        let before = Utc::now();
        assert_works(&app, &key, &id, "second use").await;
        let second = wait_for_last_used(&app, &id, Some(first)).await;
        assert!(second >= before - Duration::milliseconds(5), "{second} is not at the second use {before}");
        assert_near(second, Utc::now(), Duration::seconds(5), "last_used_at after the second use");
    }
}

backend_test! {
    async fn a_successful_verify_sets_last_used_at(app) {
        let (_, verifier) = app.key_with_role("serving").await;
        let (id, key) = new_key(&app, json!({"name": "verified", "api_key_role": "serving"})).await;
        assert!(show(&app, &id).await["last_used_at"].is_null(), "a new key was never used");

        let before = Utc::now();
        assert_code(&verify(&app, &verifier, json!({"key": key})).await, "VALID", "verify");
        let used = wait_for_last_used(&app, &id, None).await;
        assert!(used >= before - Duration::milliseconds(5), "{used} is not at the verify at {before}");
        assert_near(used, Utc::now(), Duration::seconds(5), "last_used_at after verify");
    }
}
