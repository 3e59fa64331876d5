//! Organizations' key policies: the defaults, changes with `If-Match` and
//! their audit event, bad input, and who may read and change them.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_invalid, assert_problem, header, send, TestApp};

async fn organization_of(app: &TestApp, key: &str) -> String {
    let me: Value = app.get("/v1/me", key).await.json().await.unwrap();
    me["organization_id"].as_str().unwrap().to_owned()
}

backend_test! {
    async fn a_key_policy_has_defaults_and_changes_field_by_field(app) {
        let org = organization_of(&app, &app.bootstrap_key).await;
        let path = format!("/v1/organizations/{org}/key_policy");
        let res = app.get(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let etag = header(&res, "etag");
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["leak_response"], "disable");
        assert_eq!(shown["max_key_lifetime_seconds"], Value::Null);
        assert_eq!(shown["require_expiry"], false);
        let body = json!({"max_key_lifetime_seconds": 7_776_000});
        let res = send(&app, Method::PATCH, &path, &app.bootstrap_key, Some(&etag), Some(&body)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let changed: Value = res.json().await.unwrap();
        assert_eq!(changed["max_key_lifetime_seconds"], 7_776_000);
        assert_eq!(changed["leak_response"], "disable", "untouched fields stay");
        // The old ETag no longer matches.
        let res = send(&app, Method::PATCH, &path, &app.bootstrap_key, Some(&etag), Some(&json!({"require_expiry": true}))).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = app.patch(&path, &app.bootstrap_key, &json!({"max_key_lifetime_seconds": 86400.0})).await;
        let changed: Value = res.json().await.unwrap();
        assert_eq!(changed["max_key_lifetime_seconds"], 86_400, "a zero fraction is a whole number");
        let res = app.patch(&path, &app.bootstrap_key, &json!({"max_key_lifetime_seconds": null, "leak_response": "revoke"})).await;
        let changed: Value = res.json().await.unwrap();
        assert_eq!(changed["max_key_lifetime_seconds"], Value::Null);
        assert_eq!(changed["leak_response"], "revoke");
        let events: Value = app
            .get("/v1/audit_events?action=update_key_policy", &app.bootstrap_key)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(events["data"].as_array().unwrap().len(), 3, "{events}");
        assert_eq!(events["data"][0]["resource_type"], "key_policy");
        assert_eq!(events["data"][0]["resource_id"], org.as_str());
    }
}

backend_test! {
    async fn bad_key_policies_are_refused_naming_the_field(app) {
        let org = organization_of(&app, &app.bootstrap_key).await;
        let path = format!("/v1/organizations/{org}/key_policy");
        let cases = [
            ("too short", json!({"max_key_lifetime_seconds": 59}), "max_key_lifetime_seconds"),
            ("too long", json!({"max_key_lifetime_seconds": 315_360_001}), "max_key_lifetime_seconds"),
            ("a fraction", json!({"max_key_lifetime_seconds": 86400.5}), "max_key_lifetime_seconds"),
            ("unknown response", json!({"leak_response": "delete"}), "leak_response"),
            ("null flag", json!({"require_expiry": null}), "require_expiry"),
            ("unknown field", json!({"max_lifetime": 60}), "*"),
        ];
        for (what, body, field) in cases {
            let res = app.patch(&path, &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            let problem: Value = res.json().await.unwrap();
            assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
        }
        let res = app.patch(&path, &app.bootstrap_key, &json!({"max_key_lifetime_seconds": 59})).await;
        assert_invalid(res, "validation_failed", "max_key_lifetime_seconds").await;
    }
}

backend_test! {
    async fn only_personal_keys_of_the_organization_see_its_key_policy(app) {
        let org = organization_of(&app, &app.bootstrap_key).await;
        let path = format!("/v1/organizations/{org}/key_policy");
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.get(&path, &serving).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let created: Value = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "other"}))
            .await
            .json()
            .await
            .unwrap();
        let other_key = created["api_key"]["key"].as_str().unwrap();
        let res = app.get(&path, other_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(&path, other_key, &json!({"require_expiry": true})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        // The operator sees another organization's policy.
        let other_org = created["organization"]["id"].as_str().unwrap();
        let res = app
            .get(&format!("/v1/organizations/{other_org}/key_policy"), &app.bootstrap_key)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

fn days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn set_policy(app: &TestApp, body: Value) {
    let org = organization_of(app, &app.bootstrap_key).await;
    let res = app
        .patch(
            &format!("/v1/organizations/{org}/key_policy"),
            &app.bootstrap_key,
            &body,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{body}");
}

async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let res = app
        .get(
            &format!("/v1/api_keys?limit=100&{query}"),
            &app.bootstrap_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let page: Value = res.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

backend_test! {
    async fn a_ninety_day_policy_refuses_a_hundred_day_key(app) {
        // Made before the policy: one without expiry, one for 200 days.
        let old = app.create_key(&app.bootstrap_key, json!({"name": "old forever", "api_key_role": "serving"})).await;
        app.create_key(&app.bootstrap_key, json!({"name": "old 200 days", "api_key_role": "serving", "expires_at": days_from_now(200)})).await;
        set_policy(&app, json!({"max_key_lifetime_seconds": 90 * 86_400})).await;
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "new", "api_key_role": "serving", "expires_at": days_from_now(100)}))
            .await;
        let problem = assert_invalid(res, "key_policy_violation", "expires_at").await;
        assert!(problem["message"].as_str().unwrap().contains("max_key_lifetime_seconds"), "{problem}");
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "new", "api_key_role": "serving"}))
            .await;
        assert_invalid(res, "key_policy_violation", "expires_at").await;
        app.create_key(&app.bootstrap_key, json!({"name": "new 30 days", "api_key_role": "serving", "expires_at": days_from_now(30)})).await;
        // Old keys keep working and are reported; the bootstrap key never expires either.
        let violating = listed(&app, "violates_policy=true").await;
        assert!(violating.contains(&"old forever".to_owned()) && violating.contains(&"old 200 days".to_owned()), "{violating:?}");
        assert!(!violating.contains(&"new 30 days".to_owned()), "{violating:?}");
        assert_eq!(listed(&app, "violates_policy=false").await, ["new 30 days"]);
        assert_eq!(listed(&app, &format!("expires_before={}", days_from_now(60))).await, ["new 30 days"]);
        assert_eq!(listed(&app, &format!("expires_before={}", days_from_now(365))).await, ["old 200 days", "new 30 days"]);
        let old_id = old["id"].as_str().unwrap();
        let old_key = old["key"].as_str().unwrap();
        let me = app.get("/v1/me", old_key).await;
        assert_eq!(me.status(), StatusCode::OK, "an old key is not broken");
        // Update: renaming is fine; a new expiry must keep the rule.
        let path = format!("/v1/api_keys/{old_id}");
        let res = app.patch(&path, &app.bootstrap_key, &json!({"name": "renamed"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.patch(&path, &app.bootstrap_key, &json!({"expires_at": days_from_now(100)})).await;
        assert_invalid(res, "key_policy_violation", "expires_at").await;
        let res = app.patch(&path, &app.bootstrap_key, &json!({"expires_at": null})).await;
        assert_invalid(res, "key_policy_violation", "expires_at").await;
        // Rotate: refused until the key's expiry keeps the rule.
        let rotate = format!("/v1/api_keys/{old_id}/rotate");
        let res = app.post(&rotate, &app.bootstrap_key, &json!({})).await;
        assert_invalid(res, "key_policy_violation", "expires_at").await;
        let res = app.patch(&path, &app.bootstrap_key, &json!({"expires_at": days_from_now(80)})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.post(&rotate, &app.bootstrap_key, &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn require_expiry_alone_accepts_any_expiry(app) {
        set_policy(&app, json!({"require_expiry": true})).await;
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "forever", "api_key_role": "serving"}))
            .await;
        let problem = assert_invalid(res, "key_policy_violation", "expires_at").await;
        assert!(problem["message"].as_str().unwrap().contains("require_expiry"), "{problem}");
        app.create_key(&app.bootstrap_key, json!({"name": "ten years", "api_key_role": "serving", "expires_at": days_from_now(3650)})).await;
        let violating = listed(&app, "violates_policy=true").await;
        assert_eq!(violating.len(), 1, "only the bootstrap key: {violating:?}");
        set_policy(&app, json!({"require_expiry": false})).await;
        assert!(listed(&app, "violates_policy=true").await.is_empty());
    }
}
