//! Who may call what: the role x operation matrix, `api_policy`,
//! `allowed_cidrs`, expiry, disabled keys, the rule that a key never grants
//! more than it holds, and tenancy between organizations.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_problem, TestApp};

/// What a matrix row may act on: fresh for every (role, row) pair, so a
/// delete or an update never disturbs a later row.
struct Target {
    /// A fresh `serving` key of the root organization, made by the bootstrap key.
    key_id: String,
    /// The caller's organization.
    organization_id: String,
    /// A name no other row uses (for `create_organization`).
    unique: String,
}

type Build = fn(&TestApp, &Target, &str) -> RequestBuilder;

/// One row per operation of the first families (`get_me`, organizations,
/// API keys): (operationId, request, status when allowed).
fn operations() -> Vec<(&'static str, Build, StatusCode)> {
    vec![
        (
            "get_me",
            |app, _, key| app.request(Method::GET, "/v1/me", Some(key)),
            StatusCode::OK,
        ),
        (
            "get_organization",
            |app, t, key| {
                app.request(
                    Method::GET,
                    &format!("/v1/organizations/{}", t.organization_id),
                    Some(key),
                )
            },
            StatusCode::OK,
        ),
        (
            "create_organization",
            |app, t, key| {
                app.request(Method::POST, "/v1/organizations", Some(key))
                    .json(&json!({"name": t.unique}))
            },
            StatusCode::CREATED,
        ),
        (
            "list_api_keys",
            |app, _, key| app.request(Method::GET, "/v1/api_keys", Some(key)),
            StatusCode::OK,
        ),
        (
            "get_api_key",
            |app, t, key| {
                app.request(
                    Method::GET,
                    &format!("/v1/api_keys/{}", t.key_id),
                    Some(key),
                )
            },
            StatusCode::OK,
        ),
        (
            "create_api_key",
            |app, t, key| {
                app.request(Method::POST, "/v1/api_keys", Some(key))
                    .json(&json!({"name": t.unique, "api_key_role": "serving"}))
            },
            StatusCode::CREATED,
        ),
        (
            "update_api_key",
            |app, t, key| {
                app.request(
                    Method::PATCH,
                    &format!("/v1/api_keys/{}", t.key_id),
                    Some(key),
                )
                .json(&json!({"name": t.unique}))
            },
            StatusCode::OK,
        ),
        (
            "delete_api_key",
            |app, t, key| {
                app.request(
                    Method::DELETE,
                    &format!("/v1/api_keys/{}", t.key_id),
                    Some(key),
                )
            },
            StatusCode::NO_CONTENT,
        ),
    ]
}

/// The least role each operation of `operations()` needs, as the roles table
/// of docs/API-DESIGN.md gives it
/// (written out here, not read from the server, so the test can disagree).
fn least_role(operation: &str) -> &'static str {
    match operation {
        "get_me" | "get_organization" => "serving",
        _ => "personal",
    }
}

fn rank(role: &str) -> u8 {
    match role {
        "serving" => 0,
        "serving_and_indexing" => 1,
        "personal" => 2,
        other => panic!("unknown role {other}"),
    }
}

/// The calling key's view (`GET /v1/me`).
async fn me(app: &TestApp, key: &str) -> Value {
    let res = app.get("/v1/me", key).await;
    assert_eq!(res.status(), StatusCode::OK, "GET /v1/me");
    res.json().await.unwrap()
}

/// Every key of the caller's organization (one page of up to 100).
async fn list_keys(app: &TestApp, key: &str) -> Vec<Value> {
    let res = app.get("/v1/api_keys?limit=100", key).await;
    assert_eq!(res.status(), StatusCode::OK, "list api keys");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["next_cursor"].is_null(),
        "one page holds every key: {body}"
    );
    body["data"].as_array().unwrap().clone()
}

async fn get_key(app: &TestApp, id: &str) -> Value {
    let res = app
        .get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "GET /v1/api_keys/{id}");
    res.json().await.unwrap()
}

/// A key's view without `last_used_at`: what a change by someone else
/// would move.
fn without_last_used(mut key: Value) -> Value {
    if let Some(object) = key.as_object_mut() {
        object.remove("last_used_at");
    }
    key
}

fn secret(created: &Value) -> String {
    created["key"].as_str().unwrap().to_owned()
}

fn id(created: &Value) -> String {
    created["id"].as_str().unwrap().to_owned()
}

/// A `personal` key narrowed by a policy allowing the API key operations.
fn narrowed_policy() -> Value {
    json!({"allowed_operations": {
        "create_api_key": {},
        "list_api_keys": {},
        "get_api_key": {},
        "update_api_key": {},
        "delete_api_key": {}
    }})
}

fn in_seconds(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::seconds(seconds)
}

backend_test! {
    async fn each_role_may_call_exactly_the_operations_its_role_allows(app) {
        let organization_id = me(&app, &app.bootstrap_key).await["organization_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for role in ["serving", "serving_and_indexing", "personal"] {
            let (_, key) = app.key_with_role(role).await;
            for (n, (operation, build, allowed_status)) in operations().into_iter().enumerate() {
                let (target_id, _) = app.key_with_role("serving").await;
                let target = Target {
                    key_id: target_id.clone(),
                    organization_id: organization_id.clone(),
                    unique: format!("matrix-{}-{n}", role.replace('_', "-")),
                };
                let res = build(&app, &target, &key).send().await.unwrap();
                let allowed = rank(role) >= rank(least_role(operation));
                if allowed {
                    assert_eq!(
                        res.status(),
                        allowed_status,
                        "{role} calling {operation} is allowed: {}",
                        res.text().await.unwrap_or_default()
                    );
                } else {
                    let status = res.status();
                    assert_eq!(status, StatusCode::FORBIDDEN, "{role} calling {operation} is refused");
                    let body = assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
                    assert_eq!(
                        body["missing_permission"], operation,
                        "{role} calling {operation} names the missing permission"
                    );
                    // A refused mutation changed nothing.
                    let keys = list_keys(&app, &app.bootstrap_key).await;
                    assert!(
                        keys.iter().all(|k| k["name"] != target.unique.as_str()),
                        "{role} calling {operation} created or renamed no key"
                    );
                    let after = get_key(&app, &target_id).await;
                    assert_eq!(after["name"], "serving key", "{role} calling {operation} left the target alone");
                }
            }
        }
    }
}

backend_test! {
    async fn a_policy_allows_only_its_listed_operations(app) {
        let (other_id, _) = app.key_with_role("serving").await;
        let narrowed = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "lister", "api_key_role": "personal",
                       "api_policy": {"allowed_operations": {"list_api_keys": {}}}}),
            )
            .await;
        let key = secret(&narrowed);

        let res = app.get("/v1/api_keys", &key).await;
        assert_eq!(res.status(), StatusCode::OK, "list_api_keys is listed in the policy");

        let denied = [
            ("get_api_key", format!("/v1/api_keys/{other_id}"), "get_api_key is not listed"),
            ("get_me", "/v1/me".to_owned(), "get_me is not listed"),
        ];
        for (operation, path, why) in denied {
            let res = app.get(&path, &key).await;
            let body = assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
            assert_eq!(body["missing_permission"], operation, "{why}");
        }
    }
}

backend_test! {
    async fn a_policy_can_narrow_an_operation_to_listed_resources(app) {
        let (allowed_id, _) = app.key_with_role("serving").await;
        let (other_id, _) = app.key_with_role("serving").await;
        let narrowed = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "one key reader", "api_key_role": "personal",
                       "api_policy": {"allowed_operations": {"get_api_key": {
                           "allow_any_resource": false,
                           "allowed_resources": {"api_key_id": [allowed_id]}
                       }}}}),
            )
            .await;
        let key = secret(&narrowed);

        let res = app.get(&format!("/v1/api_keys/{allowed_id}"), &key).await;
        assert_eq!(res.status(), StatusCode::OK, "the listed key is readable");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["id"], allowed_id.as_str());

        let res = app.get(&format!("/v1/api_keys/{other_id}"), &key).await;
        let body = assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        assert_eq!(body["missing_permission"], "get_api_key", "an unlisted key is refused");
    }
}

backend_test! {
    async fn allowed_cidrs_decide_which_addresses_may_use_a_key(app) {
        // Requests come from 127.0.0.1.
        let cases: [(&str, Value, Option<&str>); 4] = [
            ("another network", json!(["10.0.0.0/8"]), Some("ip_not_allowed")),
            ("an IPv6 network only", json!(["::1/128"]), Some("ip_not_allowed")),
            ("the loopback network", json!(["127.0.0.0/8"]), None),
            ("IPv6 and the exact IPv4 address", json!(["::1/128", "127.0.0.1/32"]), None),
        ];
        for (what, cidrs, refusal) in cases {
            let created = app
                .create_key(
                    &app.bootstrap_key,
                    json!({"name": what, "api_key_role": "personal", "allowed_cidrs": cidrs}),
                )
                .await;
            let res = app.get("/v1/me", &secret(&created)).await;
            match refusal {
                Some(code) => {
                    let body = assert_problem(res, StatusCode::FORBIDDEN, code).await;
                    assert_eq!(body["missing_permission"], "get_me", "{what}");
                }
                None => assert_eq!(res.status(), StatusCode::OK, "{what}"),
            }
        }
    }
}

backend_test! {
    async fn a_key_stops_working_when_it_expires(app) {
        let expires_at = in_seconds(2);
        let created = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "short lived", "api_key_role": "serving",
                       "expires_at": expires_at.to_rfc3339()}),
            )
            .await;
        let key = secret(&created);
        let res = app.get("/v1/me", &key).await;
        assert_eq!(res.status(), StatusCode::OK, "before expires_at the key works");

        let wait = (expires_at - chrono::Utc::now() + chrono::Duration::milliseconds(400))
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(3));
        tokio::time::sleep(wait).await;

        let res = app.get("/v1/me", &key).await;
        assert_eq!(
            res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "401 names the scheme"
        );
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

backend_test! {
    async fn a_disabled_key_does_not_authenticate(app) {
        let born_disabled = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "born disabled", "api_key_role": "personal", "enabled": false}),
            )
            .await;
        let later = app
            .create_key(&app.bootstrap_key, json!({"name": "disabled later", "api_key_role": "personal"}))
            .await;
        let res = app.get("/v1/me", &secret(&later)).await;
        assert_eq!(res.status(), StatusCode::OK, "enabled at first");
        let res = app
            .patch(&format!("/v1/api_keys/{}", id(&later)), &app.bootstrap_key, &json!({"enabled": false}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "disable it");

        for (what, key) in [("created disabled", secret(&born_disabled)), ("disabled by PATCH", secret(&later))] {
            let res = app.get("/v1/me", &key).await;
            assert_eq!(
                res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{what}: 401 names the scheme"
            );
            let status = res.status();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
}

/// Asserts that no key of the root organization has the given name.
async fn assert_no_key_named(app: &TestApp, name: &str, why: &str) {
    let keys = list_keys(app, &app.bootstrap_key).await;
    assert!(
        keys.iter().all(|k| k["name"] != name),
        "{why}: a key named {name} exists"
    );
}

backend_test! {
    async fn a_narrowed_key_cannot_create_a_key_without_its_policy(app) {
        let narrowed = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "narrowed", "api_key_role": "personal", "api_policy": narrowed_policy()}),
            )
            .await;
        let key = secret(&narrowed);

        let res = app
            .post("/v1/api_keys", &key, &json!({"name": "unnarrowed child", "api_key_role": "serving"}))
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
        assert_no_key_named(&app, "unnarrowed child", "a refused create").await;

        let res = app
            .post(
                "/v1/api_keys",
                &key,
                &json!({"name": "wider child", "api_key_role": "serving",
                        "api_policy": {"allowed_operations": {"list_api_keys": {}, "get_me": {}}}}),
            )
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
        assert_no_key_named(&app, "wider child", "a policy listing an operation the caller lacks").await;

        let child = app
            .create_key(
                &key,
                json!({"name": "subset child", "api_key_role": "serving",
                       "api_policy": {"allowed_operations": {"list_api_keys": {}}}}),
            )
            .await;
        assert_eq!(child["api_policy"], json!({"allowed_operations": {"list_api_keys": {
            "allow_any_resource": true, "allowed_resources": {}
        }}}));
    }
}

backend_test! {
    async fn an_address_restricted_key_cannot_create_a_key_usable_elsewhere(app) {
        let restricted = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "loopback only", "api_key_role": "personal", "allowed_cidrs": ["127.0.0.0/8"]}),
            )
            .await;
        let key = secret(&restricted);

        let refused = [
            ("anywhere child", json!(null), "no allowed_cidrs at all"),
            ("wider child", json!(["126.0.0.0/7"]), "a network wider than the caller's"),
            ("elsewhere child", json!(["127.0.0.1/32", "10.0.0.0/8"]), "one network outside the caller's"),
        ];
        for (name, cidrs, why) in refused {
            let res = app
                .post("/v1/api_keys", &key, &json!({"name": name, "api_key_role": "serving", "allowed_cidrs": cidrs}))
                .await;
            assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
            assert_no_key_named(&app, name, why).await;
        }

        let child = app
            .create_key(
                &key,
                json!({"name": "narrower child", "api_key_role": "serving", "allowed_cidrs": ["127.0.0.1/32"]}),
            )
            .await;
        assert_eq!(child["allowed_cidrs"], json!(["127.0.0.1/32"]));
    }
}

backend_test! {
    async fn an_expiring_key_cannot_create_a_key_that_outlives_it(app) {
        let expiring = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "expiring", "api_key_role": "personal",
                       "expires_at": in_seconds(3600).to_rfc3339()}),
            )
            .await;
        let key = secret(&expiring);

        let refused = [
            ("immortal child", json!(null), "no expiry at all"),
            ("later child", json!(in_seconds(7200).to_rfc3339()), "an expiry after the caller's"),
        ];
        for (name, expires_at, why) in refused {
            let res = app
                .post("/v1/api_keys", &key, &json!({"name": name, "api_key_role": "serving", "expires_at": expires_at}))
                .await;
            assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
            assert_no_key_named(&app, name, why).await;
        }

        let child = app
            .create_key(
                &key,
                json!({"name": "earlier child", "api_key_role": "serving",
                       "expires_at": in_seconds(1800).to_rfc3339()}),
            )
            .await;
        assert!(child["expires_at"].is_string(), "{child}");
    }
}

backend_test! {
    async fn a_narrowed_key_cannot_widen_another_key(app) {
        let narrowed = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "narrowed", "api_key_role": "personal", "api_policy": narrowed_policy()}),
            )
            .await;
        let key = secret(&narrowed);
        let target = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "target", "api_key_role": "serving",
                       "api_policy": {"allowed_operations": {"list_api_keys": {}}}}),
            )
            .await;
        let path = format!("/v1/api_keys/{}", id(&target));
        let before = get_key(&app, &id(&target)).await;

        let refused = [
            (json!({"api_policy": null}), "removing the target's policy"),
            (
                json!({"api_policy": {"allowed_operations": {"list_api_keys": {}, "get_me": {}}}}),
                "adding an operation the caller lacks",
            ),
        ];
        for (body, why) in refused {
            let res = app.patch(&path, &key, &body).await;
            let status = res.status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
            assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
            assert_eq!(get_key(&app, &id(&target)).await, before, "{why}: the target is unchanged");
        }

        // The same key may change what stays within its rights.
        let res = app.patch(&path, &key, &json!({"name": "renamed target"})).await;
        assert_eq!(res.status(), StatusCode::OK, "a rename keeps the target within the caller");
        assert_eq!(get_key(&app, &id(&target)).await["api_policy"], before["api_policy"]);
    }
}

backend_test! {
    async fn a_narrowed_key_cannot_manage_an_unrestricted_key(app) {
        let narrowed = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "narrowed", "api_key_role": "personal", "api_policy": narrowed_policy()}),
            )
            .await;
        let key = secret(&narrowed);
        let (unrestricted_id, unrestricted_key) = app.key_with_role("personal").await;
        let path = format!("/v1/api_keys/{unrestricted_id}");
        let before = get_key(&app, &unrestricted_id).await;

        let res = app.delete(&path, &key).await;
        assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;
        let res = app.patch(&path, &key, &json!({"enabled": false})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "exceeds_caller_rights").await;

        assert_eq!(get_key(&app, &unrestricted_id).await, before, "the unrestricted key is unchanged");
        let res = app.get("/v1/me", &unrestricted_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the unrestricted key still works");
    }
}

backend_test! {
    async fn organizations_never_see_each_others_keys(app) {
        let root = me(&app, &app.bootstrap_key).await;
        let root_org = root["organization_id"].as_str().unwrap().to_owned();
        let root_key_id = root["id"].as_str().unwrap().to_owned();
        let (root_serving_id, _) = app.key_with_role("serving").await;

        let res = app.post("/v1/organizations", &app.bootstrap_key, &json!({"name": "other"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create organization other");
        let created: Value = res.json().await.unwrap();
        let other_org = created["organization"]["id"].as_str().unwrap().to_owned();
        let other_key = secret(&created["api_key"]);
        let other_key_id = id(&created["api_key"]);
        let other_serving = app
            .create_key(&other_key, json!({"name": "other serving", "api_key_role": "serving"}))
            .await;

        // The other organization cannot reach the root organization's keys.
        for target in [&root_key_id, &root_serving_id] {
            let path = format!("/v1/api_keys/{target}");
            // `last_used_at` moves with the bootstrap key's own use (the
            // write-behind flushes it), whatever the other organization does.
            let before = without_last_used(get_key(&app, target).await);
            let cases = [
                ("get", app.request(Method::GET, &path, Some(&other_key))),
                ("patch", app.request(Method::PATCH, &path, Some(&other_key)).json(&json!({"name": "stolen"}))),
                ("delete", app.request(Method::DELETE, &path, Some(&other_key))),
            ];
            for (what, request) in cases {
                let res = request.send().await.unwrap();
                let status = res.status();
                assert_eq!(status, StatusCode::NOT_FOUND, "{what} of a root key by the other organization");
                assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            }
            assert_eq!(without_last_used(get_key(&app, target).await), before, "the root key {target} is unchanged");
        }
        let res = app.get(&format!("/v1/organizations/{root_org}"), &other_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // Its list holds only its own keys.
        let mut listed: Vec<String> = list_keys(&app, &other_key).await.iter().map(id).collect();
        listed.sort();
        let mut own = vec![other_key_id.clone(), id(&other_serving)];
        own.sort();
        assert_eq!(listed, own, "the other organization lists exactly its own keys");

        // And the root organization cannot reach the other's keys either.
        let root_list = list_keys(&app, &app.bootstrap_key).await;
        assert!(root_list.iter().all(|k| k["organization_id"] == root_org.as_str()), "root lists only its keys");
        assert!(root_list.iter().any(|k| k["id"] == root_key_id.as_str()), "root lists its own keys");
        for target in [&other_key_id, &id(&other_serving)] {
            let path = format!("/v1/api_keys/{target}");
            let cases = [
                ("get", app.request(Method::GET, &path, Some(&app.bootstrap_key))),
                ("patch", app.request(Method::PATCH, &path, Some(&app.bootstrap_key)).json(&json!({"enabled": false}))),
                ("delete", app.request(Method::DELETE, &path, Some(&app.bootstrap_key))),
            ];
            for (what, request) in cases {
                let res = request.send().await.unwrap();
                let status = res.status();
                assert_eq!(status, StatusCode::NOT_FOUND, "{what} of an other-organization key by root");
                assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            }
        }
        let res = app.get("/v1/me", &other_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the other organization's key still works");
        let res = app.get(&format!("/v1/organizations/{other_org}"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}
