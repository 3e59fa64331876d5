//! Leak intake: GitHub secret scanning alerts signed with a key pair the
//! test generates; a live key is disabled (or its secret revoked, as the
//! organization's key policy says), unknown and malformed tokens are false
//! positives, and a bad signature changes nothing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keygate::config::{Backend, ScanningKeysSource};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

const PATH: &str = "/secret_scanning/github";
const KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";

/// A key pair GitHub would sign with, and the key list keygate is given.
struct Signer256 {
    key: SigningKey,
}

impl Signer256 {
    fn new() -> Signer256 {
        let secret: [u8; 32] = rand::random();
        Signer256 {
            key: SigningKey::from_slice(&secret).expect("a random scalar is a key"),
        }
    }

    fn published(&self) -> String {
        let pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        json!({"public_keys": [{"key_identifier": KEY_ID, "key": pem, "is_current": true}]})
            .to_string()
    }

    fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }
}

async fn spawn(backend: Backend, signer: &Signer256) -> Option<TestApp> {
    let published = signer.published();
    TestApp::spawn_with(backend, move |s| {
        s.secret_scanning_keys = ScanningKeysSource::Inline(published);
    })
    .await
}

async fn send_alert(app: &TestApp, body: &[u8], signature: &str) -> Response {
    app.request(Method::POST, PATH, None)
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", KEY_ID)
        .header("Github-Public-Key-Signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
}

async fn verify(app: &TestApp, key: &str) -> Value {
    let res = app
        .post("/v1/verify", &app.bootstrap_key, &json!({"key": key}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn report_events(app: &TestApp) -> Vec<Value> {
    let res = app
        .get(
            "/v1/audit_events?action=report_leaked_keys",
            &app.bootstrap_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    page["data"].as_array().unwrap().clone()
}

/// A well-formed key (right shape and checksum) that keygate never issued.
fn unknown_key() -> String {
    keygate::keys::format::generate(keygate::keys::format::KeyKind::ApiKey).value
}

async fn disables_the_live_key_and_labels_each_token(backend: Backend) {
    let signer = Signer256::new();
    let Some(app) = spawn(backend, &signer).await else {
        return;
    };
    let (live_id, live) = app.key_with_role("serving").await;
    let unknown = unknown_key();
    let url = "https://github.com/octo/app/blob/0123abc/config.yml";
    let body = json!([
        {"token": live, "type": "keygate_api_key", "url": url, "source": "content"},
        {"token": unknown, "type": "keygate_api_key", "url": "https://github.com/octo/app/blob/1/a", "source": "commit"},
        {"token": "kg_ak_not-a-key", "type": "keygate_api_key", "url": "https://github.com/x", "source": "content"}
    ])
    .to_string();
    let res = send_alert(&app, body.as_bytes(), &signer.sign(body.as_bytes())).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer,
        json!([
            {"token_raw": live, "token_type": "keygate_api_key", "label": "true_positive"},
            {"token_raw": unknown, "token_type": "keygate_api_key", "label": "false_positive"},
            {"token_raw": "kg_ak_not-a-key", "token_type": "keygate_api_key", "label": "false_positive"}
        ])
    );
    assert_eq!(verify(&app, &live).await["code"], "DISABLED");
    let res = app.get("/v1/me", &live).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let shown: Value = app
        .get(&format!("/v1/api_keys/{live_id}"), &app.bootstrap_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["enabled"], false, "disabled, not deleted: {shown}");
    let events = report_events(&app).await;
    assert_eq!(events.len(), 1, "one event, for the live key: {events:?}");
    assert_eq!(events[0]["resource_type"], "api_key");
    assert_eq!(events[0]["resource_id"], live_id.as_str());
    assert_eq!(events[0]["detail"], url);
    assert_eq!(events[0]["actor_key_id"], Value::Null);
    assert!(
        !events[0].to_string().contains(&live),
        "the event never holds the key"
    );
    // Disabled, the key can be rotated and enabled again.
    let res = app
        .post(
            &format!("/v1/api_keys/{live_id}/rotate"),
            &app.bootstrap_key,
            &json!({"grace_period_seconds": 0}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: Value = res.json().await.unwrap();
    let res = app
        .patch(
            &format!("/v1/api_keys/{live_id}"),
            &app.bootstrap_key,
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_key = rotated["key"].as_str().unwrap();
    assert_eq!(verify(&app, new_key).await["code"], "VALID");
    assert_eq!(verify(&app, &live).await["code"], "NOT_FOUND");
}

#[actix_web::test]
async fn a_signed_alert_disables_the_live_key_and_labels_each_token_sqlite() {
    disables_the_live_key_and_labels_each_token(Backend::Sqlite).await;
}

#[actix_web::test]
async fn a_signed_alert_disables_the_live_key_and_labels_each_token_postgres() {
    disables_the_live_key_and_labels_each_token(Backend::Postgres).await;
}

async fn bad_signatures_change_nothing(backend: Backend) {
    let signer = Signer256::new();
    let Some(app) = spawn(backend, &signer).await else {
        return;
    };
    let (_, live) = app.key_with_role("serving").await;
    let body = json!([{"token": live, "type": "keygate_api_key", "url": "https://github.com/x", "source": "content"}]).to_string();
    let signature = signer.sign(body.as_bytes());
    let altered = body.replace("github.com/x", "github.com/y");
    let res = send_alert(&app, altered.as_bytes(), &signature).await;
    let problem = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(!problem.to_string().contains(&live), "{problem}");
    let other = Signer256::new();
    let res = send_alert(&app, body.as_bytes(), &other.sign(body.as_bytes())).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = send_alert(&app, body.as_bytes(), "bm90IGEgc2lnbmF0dXJl").await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .request(Method::POST, PATH, None)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .request(Method::POST, PATH, None)
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", "another-key")
        .header("Github-Public-Key-Signature", &signature)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(verify(&app, &live).await["code"], "VALID");
    assert!(report_events(&app).await.is_empty());
    // A signed body of the wrong shape is a 400 naming the field.
    let wrong = json!([{"type": "keygate_api_key"}]).to_string();
    let res = send_alert(&app, wrong.as_bytes(), &signer.sign(wrong.as_bytes())).await;
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "[0].token", "{problem}");
    let object = json!({"token": live}).to_string();
    let res = send_alert(&app, object.as_bytes(), &signer.sign(object.as_bytes())).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(verify(&app, &live).await["code"], "VALID");
}

#[actix_web::test]
async fn bad_signatures_change_nothing_sqlite() {
    bad_signatures_change_nothing(Backend::Sqlite).await;
}

#[actix_web::test]
async fn bad_signatures_change_nothing_postgres() {
    bad_signatures_change_nothing(Backend::Postgres).await;
}

async fn revoke_deletes_only_the_reported_secret(backend: Backend) {
    let signer = Signer256::new();
    let Some(app) = spawn(backend, &signer).await else {
        return;
    };
    let me: Value = app
        .get("/v1/me", &app.bootstrap_key)
        .await
        .json()
        .await
        .unwrap();
    let org = me["organization_id"].as_str().unwrap().to_owned();
    let res = app
        .patch(
            &format!("/v1/organizations/{org}/key_policy"),
            &app.bootstrap_key,
            &json!({"leak_response": "revoke"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (id, old) = app.key_with_role("serving").await;
    // Rotated with a grace period, the old key is pending; it leaks.
    let rotated: Value = app
        .post(
            &format!("/v1/api_keys/{id}/rotate"),
            &app.bootstrap_key,
            &json!({"grace_period_seconds": 3600}),
        )
        .await
        .json()
        .await
        .unwrap();
    let current = rotated["key"].as_str().unwrap().to_owned();
    let body = json!([{"token": old, "type": "keygate_api_key", "url": "https://github.com/x", "source": "content"}]).to_string();
    let res = send_alert(&app, body.as_bytes(), &signer.sign(body.as_bytes())).await;
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer[0]["label"], "true_positive");
    assert_eq!(verify(&app, &old).await["code"], "NOT_FOUND");
    assert_eq!(verify(&app, &current).await["code"], "VALID");
    // Reported again, the revoked secret is unknown.
    let res = send_alert(&app, body.as_bytes(), &signer.sign(body.as_bytes())).await;
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer[0]["label"], "false_positive");
    assert_eq!(report_events(&app).await.len(), 1);
}

#[actix_web::test]
async fn revoke_deletes_only_the_reported_secret_sqlite() {
    revoke_deletes_only_the_reported_secret(Backend::Sqlite).await;
}

#[actix_web::test]
async fn revoke_deletes_only_the_reported_secret_postgres() {
    revoke_deletes_only_the_reported_secret(Backend::Postgres).await;
}

#[actix_web::test]
async fn without_configured_keys_every_alert_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let signer = Signer256::new();
    let (_, live) = app.key_with_role("serving").await;
    let body = json!([{"token": live, "type": "keygate_api_key"}]).to_string();
    let res = send_alert(&app, body.as_bytes(), &signer.sign(body.as_bytes())).await;
    let problem = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("configured"),
        "{problem}"
    );
    assert_eq!(verify(&app, &live).await["code"], "VALID");
}
