//! The Elastic Cloud Connect dialect (`/api/v1/cloud-connected`): its
//! committed document, the AutoOps agent's registration (twice, the second
//! after an upgrade), Kibana's calls with its lower-case `apiKey` scheme,
//! merge PATCH and `If-Match`, rotation and revocation of cluster and
//! service keys, organizations, and every error in Elastic's `{"errors":
//! [...]}` envelope.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

const PREFIX: &str = "/api/v1/cloud-connected";

#[test]
fn committed_document_matches_the_generated_one() {
    crate::dialects::check_committed(
        "cloud-connect",
        &keygate::dialects::cloud_connect::document_pretty(),
    );
}

/// A request as the AutoOps agent (`ApiKey`) or Kibana (`apiKey`) sends it.
async fn cc(
    app: &TestApp,
    method: Method,
    path: &str,
    scheme: &str,
    key: &str,
    if_match: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut req = app
        .client
        .request(method, format!("{}{PREFIX}{path}", app.address))
        .header("authorization", format!("{scheme} {key}"))
        .header("accept", "application/json");
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

/// Asserts a status and a JSON body; returns the body.
async fn assert_json(res: Response, status: StatusCode, what: &str) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

/// Asserts an error in Elastic's envelope: status, JSON (never
/// problem+json), and the first error's code; returns the body.
async fn assert_cc_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(header(&res, "content-type"), "application/json");
    let body: Value = res.json().await.expect("error body");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(!errors.is_empty(), "{body}");
    assert_eq!(errors[0]["code"], code, "{body}");
    assert!(errors[0]["message"].is_string(), "{body}");
    body
}

/// What the AutoOps agent sends on every start (no `name`).
fn registration(version: &str, license: &str) -> Value {
    json!({
        "self_managed_cluster": {"id": "bJnDrHbXR4-7yT1iQk9dXA", "name": "production-cluster", "version": version},
        "license": {"type": license, "uid": "893361dc-9749-4997-93cb-802e3d7fa4a8"}
    })
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        crate::dialects::assert_served(&app, "cloud-connect").await;
    }
}

backend_test! {
    async fn the_autoops_agent_registers_twice_and_the_second_takes_the_upgrade(app) {
        let key = &app.bootstrap_key;
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&registration("9.1.0", "platinum"))).await;
        assert!(res.headers().contains_key("etag"));
        let first = assert_json(res, StatusCode::CREATED, "first registration").await;
        let id = first["id"].as_str().unwrap().to_owned();
        assert_eq!(first["name"], "production-cluster", "name defaults to the cluster's");
        assert!(first.get("key").is_none(), "no key unless asked: {first}");
        assert_eq!(first["services"], json!({"auto_ops": {"enabled": false, "supported": true}, "eis": {"enabled": false, "supported": true}}));
        let org_hex = first["metadata"]["organization_id"].as_str().unwrap().to_owned();
        assert!(org_hex.len() == 32 && !org_hex.contains('_'), "{first}");

        // After an upgrade the agent registers again: 200, same id, new
        // version and license.
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&registration("9.2.0", "enterprise"))).await;
        let second = assert_json(res, StatusCode::OK, "second registration").await;
        assert_eq!(second["id"], id.as_str());
        assert_eq!(second["self_managed_cluster"]["version"], "9.2.0");
        assert_eq!(second["license"]["type"], "enterprise");
        // The same body again changes nothing.
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&registration("9.2.0", "enterprise"))).await;
        assert_eq!(assert_json(res, StatusCode::OK, "third").await["id"], id.as_str());

        // The same cluster natively, in the caller's organization.
        let res = app.get("/v1/clusters", key).await;
        let native: Value = res.json().await.unwrap();
        let listed: Vec<&str> = native["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(listed, [id.as_str()]);
        assert_eq!(native["data"][0]["organization_id"], format!("org_{org_hex}"));
        assert_eq!(native["data"][0]["self_managed_cluster"]["version"], "9.2.0");

        let res = cc(&app, Method::GET, "/clusters", "ApiKey", key, None, None).await;
        let list = assert_json(res, StatusCode::OK, "list").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);

        // The audit trail names the dialect operation: two writes (the
        // unchanged third registration writes nothing).
        let res = app.get(&format!("/v1/audit_events?limit=100&resource_id={id}"), key).await;
        let page: Value = res.json().await.unwrap();
        let actions: Vec<&str> = page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["cc_create_cluster", "cc_create_cluster"], "{page}");
    }
}

backend_test! {
    async fn kibana_onboards_with_a_key_rotates_and_revokes_the_pending_key(app) {
        let key = &app.bootstrap_key;
        let body = json!({"name": "My cluster", "self_managed_cluster": {"id": "kb-1", "name": "kb", "version": "9.1.0"}, "license": {"type": "trial", "uid": "u"}});
        let res = cc(&app, Method::POST, "/clusters?create_api_key=true", "apiKey", key, None, Some(&body)).await;
        let created = assert_json(res, StatusCode::CREATED, "onboard").await;
        let id = created["id"].as_str().unwrap().to_owned();
        let first_key = created["key"].as_str().expect("the cluster key, once").to_owned();
        assert!(first_key.starts_with("kg_ck_"));
        let res = cc(&app, Method::POST, "/clusters?create_api_key=true", "apiKey", key, None, Some(&body)).await;
        assert!(assert_json(res, StatusCode::OK, "again").await.get("key").is_none(), "a key is shown once");

        let res = cc(&app, Method::GET, &format!("/clusters/{id}"), "apiKey", key, None, None).await;
        let etag = header(&res, "etag");
        assert_json(res, StatusCode::OK, "get").await;
        let path = format!("/clusters/{id}/apikey/_rotate");
        let res = cc(&app, Method::POST, &path, "apiKey", key, Some("\"stale\""), Some(&json!({}))).await;
        assert_cc_error(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = cc(&app, Method::POST, &path, "apiKey", key, Some(&etag), Some(&json!({}))).await;
        let rotated = assert_json(res, StatusCode::OK, "rotate").await;
        let new_key = rotated["key"].as_str().unwrap().to_owned();
        assert_eq!(rotated.as_object().unwrap().len(), 1, "{rotated}");
        let verdict = |res: Response| async move { res.json::<Value>().await.unwrap() };
        let old = verdict(app.post("/v1/verify", key, &json!({"key": first_key})).await).await;
        assert_eq!((old["valid"].as_bool(), old["status"].as_str()), (Some(true), Some("pending")), "{old}");
        let grace = chrono::DateTime::parse_from_rfc3339(old["pending_expires_at"].as_str().unwrap()).unwrap();
        let days = (grace.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
        assert!((167..=168).contains(&days), "seven days of grace, got {days} hours");

        let revoke = format!("/clusters/{id}/apikey/_revoke-pending");
        let res = cc(&app, Method::POST, &revoke, "apiKey", key, Some("\"stale\""), None).await;
        assert_cc_error(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = cc(&app, Method::POST, &revoke, "apiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "revoke").await, json!({"revoked": 1}));
        let old = verdict(app.post("/v1/verify", key, &json!({"key": first_key})).await).await;
        assert_eq!(old["valid"], false, "{old}");
        let new = verdict(app.post("/v1/verify", key, &json!({"key": new_key})).await).await;
        assert_eq!(new["status"], "current", "{new}");

        // A service's key: 409 until the service is enabled.
        let service_rotate = format!("/clusters/{id}/apikey/eis/_rotate");
        let res = cc(&app, Method::POST, &service_rotate, "apiKey", key, None, Some(&json!({}))).await;
        assert_cc_error(res, StatusCode::CONFLICT, "service_not_enabled").await;
        let res = cc(&app, Method::PATCH, &format!("/clusters/{id}"), "apiKey", key, None, Some(&json!({"services": {"eis": {"enabled": true}}}))).await;
        let patched = assert_json(res, StatusCode::OK, "enable eis").await;
        assert_eq!(patched["services"]["eis"]["enabled"], true);
        assert_eq!(patched["name"], "My cluster", "a merge keeps the rest");
        let res = cc(&app, Method::POST, &service_rotate, "apiKey", key, None, Some(&json!({"grace_period_seconds": 60}))).await;
        let service_key = assert_json(res, StatusCode::OK, "rotate eis").await;
        assert!(service_key["key"].as_str().unwrap().starts_with("kg_cs_"), "{service_key}");
        let res = cc(&app, Method::POST, &service_rotate, "apiKey", key, None, None).await;
        assert_json(res, StatusCode::OK, "rotate eis again").await;
        let res = cc(&app, Method::POST, &format!("/clusters/{id}/apikey/eis/_revoke-pending"), "apiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "revoke eis").await, json!({"revoked": 1}));

        // PATCH with If-Match, then disconnect.
        let res = cc(&app, Method::GET, &format!("/clusters/{id}"), "apiKey", key, None, None).await;
        let etag = header(&res, "etag");
        let rename = json!({"name": "Renamed"});
        let res = cc(&app, Method::PATCH, &format!("/clusters/{id}"), "apiKey", key, Some("\"stale\""), Some(&rename)).await;
        assert_cc_error(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = cc(&app, Method::PATCH, &format!("/clusters/{id}"), "apiKey", key, Some(&etag), Some(&rename)).await;
        assert_eq!(assert_json(res, StatusCode::OK, "rename").await["name"], "Renamed");
        let res = cc(&app, Method::DELETE, &format!("/clusters/{id}"), "apiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "disconnect").await, json!({}));
        let res = cc(&app, Method::GET, &format!("/clusters/{id}"), "apiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let new = verdict(app.post("/v1/verify", key, &json!({"key": new_key})).await).await;
        assert_eq!(new["valid"], false, "a disconnected cluster's key stops working: {new}");
    }
}

backend_test! {
    async fn organizations_answer_by_their_elastic_id(app) {
        let key = &app.bootstrap_key;
        let res = app.get("/v1/me", key).await;
        let me: Value = res.json().await.unwrap();
        let org = me["organization_id"].as_str().expect("organization id").to_owned();
        let hex = org.strip_prefix("org_").unwrap();

        let res = cc(&app, Method::GET, &format!("/organizations/{hex}/subscription"), "ApiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "subscription").await, json!({"state": "trial"}));
        let terms = format!("/organizations/{hex}/terms-and-conditions");
        let res = cc(&app, Method::GET, &terms, "ApiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "terms before").await, json!({}));
        let res = cc(&app, Method::POST, &format!("{terms}/_accept"), "ApiKey", key, None, None).await;
        let accepted = assert_json(res, StatusCode::OK, "accept").await;
        assert!(accepted["accepted"]["accepted_at"].is_string(), "{accepted}");
        assert!(accepted["accepted"]["accepted_by"].as_str().unwrap().starts_with("aky_"));
        let res = cc(&app, Method::POST, &format!("{terms}/_accept"), "ApiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "accept again").await, accepted, "the first acceptance stays");
        let res = cc(&app, Method::GET, &terms, "ApiKey", key, None, None).await;
        assert_eq!(assert_json(res, StatusCode::OK, "terms after").await, accepted);

        // Another organization is a 404; a malformed id a 400.
        let other = "0".repeat(32);
        let res = cc(&app, Method::GET, &format!("/organizations/{other}/terms-and-conditions"), "ApiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = cc(&app, Method::GET, &format!("/organizations/{org}/subscription"), "ApiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    }
}

backend_test! {
    async fn errors_use_elastics_envelope(app) {
        let res = app.client.get(format!("{}{PREFIX}/clusters", app.address)).send().await.unwrap();
        assert!(res.headers().contains_key("www-authenticate"));
        assert_cc_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = cc(&app, Method::GET, "/clusters", "ApiKey", &serving, None, None).await;
        assert_json(res, StatusCode::OK, "serving lists").await;
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", &serving, None, Some(&registration("9.1.0", "basic"))).await;
        assert_cc_error(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        let key = &app.bootstrap_key;
        let mut bad = registration("nine", "basic");
        bad["name"] = json!("");
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&bad)).await;
        let body = assert_cc_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        let mut fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["name", "self_managed_cluster.version"], "{body}");
        let mut null_name = registration("9.1.0", "basic");
        null_name["name"] = Value::Null;
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&null_name)).await;
        assert_cc_error(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        let res = cc(&app, Method::POST, "/clusters", "ApiKey", key, None, Some(&json!({"unknown": 1}))).await;
        assert_cc_error(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        let res = cc(&app, Method::GET, "/clusters/NOT-AN-ID", "ApiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
        let res = cc(&app, Method::GET, &format!("/clusters/{}", "a".repeat(32)), "ApiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = cc(&app, Method::PUT, "/clusters", "ApiKey", key, None, None).await;
        assert_eq!(header(&res, "allow"), "GET, POST");
        assert_cc_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        let res = cc(&app, Method::GET, "/nothing", "ApiKey", key, None, None).await;
        assert_cc_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}
