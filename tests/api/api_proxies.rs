//! `/v1/projects/{project_name}/api_proxies`: CRUD, the view (public key and
//! the secret's last four, never the secret), `PATCH .../settings/keys`
//! with Apinizer's examples and rules (at least one key, none blank, 1 to
//! 512 characters, unique across the organization's proxies, the other key
//! unchanged), 404 naming the project or the proxy, roles and policies,
//! `If-Match`, audit events, the secret key encrypted at rest (and 503
//! without a master key), and `POST .../settings/keys/check`.

use diesel::{Connection, QueryableByName, RunQueryDsl};
use keygate::config::Backend;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;
use crate::projects::create_project;

const PUBLIC: &str = "ak_1234567890abcdef";
const SECRET: &str = "sk_9876543210fedcba";
const NO_KEY: &str = "At least one key (public_key or secret_key) must be provided";

fn proxy_path(project: &str, proxy: &str) -> String {
    format!("/v1/projects/{project}/api_proxies/{proxy}")
}

fn keys_path(project: &str, proxy: &str) -> String {
    format!("{}/settings/keys", proxy_path(project, proxy))
}

fn check_path(project: &str, proxy: &str) -> String {
    format!("{}/settings/keys/check", proxy_path(project, proxy))
}

/// Creates a proxy in a project (creating the project if needed).
async fn create_proxy(app: &TestApp, project: &str, name: &str) -> Value {
    let res = app
        .get(&format!("/v1/projects/{project}"), &app.bootstrap_key)
        .await;
    if res.status() == StatusCode::NOT_FOUND {
        create_project(app, project).await;
    }
    let res = app
        .post(
            &format!("/v1/projects/{project}/api_proxies"),
            &app.bootstrap_key,
            &json!({"name": name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create proxy {name}");
    res.json().await.unwrap()
}

/// PATCH .../settings/keys with a key, optionally with `If-Match`.
async fn set_keys(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Response {
    let mut builder = app.request(Method::PATCH, path, Some(key)).json(body);
    if let Some(tag) = if_match {
        builder = builder.header("If-Match", tag);
    }
    builder.send().await.unwrap()
}

/// Whether the check endpoint accepts the pair.
async fn check(app: &TestApp, key: &str, public: &str, secret: &str) -> bool {
    let res = app
        .post(
            &check_path("MyProject", "MyAPI"),
            key,
            &json!({"public_key": public, "secret_key": secret}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "check");
    let body: Value = res.json().await.unwrap();
    body["valid"].as_bool().expect("valid is a boolean")
}

async fn view(app: &TestApp, project: &str, proxy: &str) -> Value {
    let res = app
        .get(&proxy_path(project, proxy), &app.bootstrap_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

backend_test! {
    async fn proxies_are_created_listed_read_changed_and_deleted(app) {
        create_project(&app, "MyProject").await;
        let body = json!({"name": "MyAPI", "description": "orders", "upstream_url": "https://orders.example.com/v2"});
        let res = app.post("/v1/projects/MyProject/api_proxies", &app.bootstrap_key, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["location"], "/v1/projects/MyProject/api_proxies/MyAPI");
        let tag = header(&res, "etag");
        let created: Value = res.json().await.unwrap();
        assert!(created["id"].as_str().unwrap().starts_with("apx_"), "{created}");
        assert_eq!(created["project_name"], "MyProject");
        assert_eq!(created["upstream_url"], "https://orders.example.com/v2");
        assert!(created["public_key"].is_null() && created["secret_key_last4"].is_null(), "{created}");
        assert_eq!(created["secret_key_set"], false);
        assert!(created.get("secret_key").is_none());

        let res = app.post("/v1/projects/MyProject/api_proxies", &app.bootstrap_key, &body).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        let res = app.post("/v1/projects/Nope/api_proxies", &app.bootstrap_key, &body).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "Project (name: Nope) was not found!");

        let res = app.get(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        assert_eq!(header(&res, "etag"), tag);
        create_proxy(&app, "MyProject", "Other").await;
        let res = app.get("/v1/projects/MyProject/api_proxies", &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["MyAPI", "Other"]);

        let res = app
            .patch(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key, &json!({"upstream_url": "http://10.0.0.1:8080/x", "description": null}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let changed: Value = res.json().await.unwrap();
        assert_eq!(changed["upstream_url"], "http://10.0.0.1:8080/x");
        assert!(changed["description"].is_null());

        for bad in ["ftp://x", "orders.example.com", "https://", "https://a b"] {
            let res = app
                .patch(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key, &json!({"upstream_url": bad}))
                .await;
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
            assert_eq!(problem["errors"][0]["field"], "upstream_url", "{bad}");
        }
        let res = app
            .post("/v1/projects/MyProject/api_proxies", &app.bootstrap_key, &json!({"name": "..", "upstream_url": "x"}))
            .await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "both fields: {problem}");

        let res = app.delete(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.get(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "ApiProxy (name: MyAPI) was not found!");
    }
}

backend_test! {
    async fn apinizer_examples_set_both_keys_only_the_public_or_only_the_secret(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let path = keys_path("MyProject", "MyAPI");

        // Both keys.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": SECRET}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let tag = header(&res, "etag");
        let text = res.text().await.unwrap();
        assert!(!text.contains(SECRET), "the answer never holds the secret: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["success"], true);
        assert_eq!(body["api_proxy"]["public_key"], PUBLIC);
        assert_eq!(body["api_proxy"]["secret_key_last4"], "dcba");
        assert_eq!(body["api_proxy"]["secret_key_set"], true);
        let res = app.get(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        assert_eq!(header(&res, "etag"), tag, "the answer's ETag is the proxy's");
        let text = res.text().await.unwrap();
        assert!(!text.contains(SECRET), "{text}");
        assert!(check(&app, &app.bootstrap_key, PUBLIC, SECRET).await);

        // Only the public key: the secret stays.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": "ak_new_public_key"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["api_proxy"]["public_key"], "ak_new_public_key");
        assert_eq!(body["api_proxy"]["secret_key_last4"], "dcba");
        assert!(check(&app, &app.bootstrap_key, "ak_new_public_key", SECRET).await);
        assert!(!check(&app, &app.bootstrap_key, PUBLIC, SECRET).await, "the old public key is gone");

        // Only the secret key: the public stays.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": "sk_new_secret_key_0042"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["api_proxy"]["public_key"], "ak_new_public_key");
        assert_eq!(body["api_proxy"]["secret_key_last4"], "0042");
        assert!(check(&app, &app.bootstrap_key, "ak_new_public_key", "sk_new_secret_key_0042").await);
        assert!(!check(&app, &app.bootstrap_key, "ak_new_public_key", SECRET).await, "the old secret is gone");

        // A short secret shows no last four characters.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": "short"}), None).await;
        let body: Value = res.json().await.unwrap();
        assert!(body["api_proxy"]["secret_key_last4"].is_null(), "{body}");
        assert_eq!(body["api_proxy"]["secret_key_set"], true);
    }
}

backend_test! {
    async fn patch_keys_needs_at_least_one_key(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let path = keys_path("MyProject", "MyAPI");
        let cases = [
            ("empty object", json!({})),
            ("both null", json!({"public_key": null, "secret_key": null})),
            ("public null", json!({"public_key": null})),
        ];
        for (what, body) in cases {
            let res = set_keys(&app, &path, &app.bootstrap_key, &body, None).await;
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
            assert_eq!(problem["detail"], NO_KEY, "{what}");
            let fields: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
            assert_eq!(fields, ["public_key", "secret_key"], "{what}");
        }
        // A null beside a key is not "keep the key": the document says a
        // key is a string.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": null}), None).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "secret_key", "{problem}");
        assert_eq!(problem["errors"][0]["code"], "null", "{problem}");
        // No body at all is not JSON.
        let res = app
            .request(Method::PATCH, &path, Some(&app.bootstrap_key))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_json").await;
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"publicKey": PUBLIC}), None).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        let view = view(&app, "MyProject", "MyAPI").await;
        assert!(view["public_key"].is_null(), "nothing was set: {view}");
    }
}

backend_test! {
    async fn patch_keys_rejects_blank_whitespace_and_too_long_keys(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let path = keys_path("MyProject", "MyAPI");
        let too_long = "k".repeat(513);
        let cases = [
            ("empty", "", "blank"),
            ("space", " ", "blank"),
            ("tabs and newlines", "\t\n\r ", "blank"),
            ("ideographic space", "\u{3000}", "blank"),
            ("no-break space", "\u{a0}\u{feff}", "blank"),
            ("513 characters", too_long.as_str(), "length"),
        ];
        for field in ["public_key", "secret_key"] {
            for (what, value, code) in cases {
                let res = set_keys(&app, &path, &app.bootstrap_key, &json!({ field: value }), None).await;
                let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
                assert_eq!(problem["errors"][0]["field"], field, "{field} {what}: {problem}");
                assert_eq!(problem["errors"][0]["code"], code, "{field} {what}: {problem}");
                assert!(problem["detail"].as_str().unwrap().starts_with(field), "{what}: {problem}");
            }
        }
        // Both bad: both named.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": " ", "secret_key": ""}), None).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
        // The same key twice in one body.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": PUBLIC}), None).await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "duplicate_key").await;
        assert_eq!(problem["detail"], "secret_key must differ from public_key");
        // 512 characters, and keys with inner spaces, are fine.
        let longest = "k".repeat(512);
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": longest, "secret_key": " s k "}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn keys_are_unique_across_the_organizations_proxies(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        create_proxy(&app, "MyProject", "Other").await;
        create_proxy(&app, "Elsewhere", "Third").await;
        let res = set_keys(&app, &keys_path("MyProject", "MyAPI"), &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": SECRET}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = set_keys(&app, &keys_path("MyProject", "Other"), &app.bootstrap_key, &json!({"public_key": "ak_other", "secret_key": "sk_other"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);

        let cases = [
            ("public key as public", "Other", json!({"public_key": PUBLIC})),
            ("secret key as secret", "Other", json!({"secret_key": SECRET})),
            ("public key as secret", "Other", json!({"secret_key": PUBLIC})),
            ("secret key as public", "Other", json!({"public_key": SECRET})),
            ("one of two", "Other", json!({"public_key": "ak_fresh", "secret_key": SECRET})),
        ];
        for (what, proxy, body) in cases {
            let res = set_keys(&app, &keys_path("MyProject", proxy), &app.bootstrap_key, &body, None).await;
            let problem = assert_problem(res, StatusCode::CONFLICT, "duplicate_key").await;
            let text = problem.to_string();
            assert!(!text.contains(SECRET) && !text.contains(PUBLIC), "{what}: {text}");
        }
        let res = set_keys(&app, &keys_path("Elsewhere", "Third"), &app.bootstrap_key, &json!({"secret_key": SECRET}), None).await;
        assert_problem(res, StatusCode::CONFLICT, "duplicate_key").await;
        let other = view(&app, "MyProject", "Other").await;
        assert_eq!(other["public_key"], "ak_other", "a refused change changes nothing");
        assert!(check_pair(&app, "MyProject", "Other", "ak_other", "sk_other").await);

        // Keys are case-sensitive.
        let res = set_keys(&app, &keys_path("MyProject", "Other"), &app.bootstrap_key, &json!({"public_key": PUBLIC.to_uppercase()}), None).await;
        assert_eq!(res.status(), StatusCode::OK);

        // The proxy's own other key is taken too, but the two may be swapped.
        let mine = keys_path("MyProject", "MyAPI");
        let res = set_keys(&app, &mine, &app.bootstrap_key, &json!({"secret_key": PUBLIC}), None).await;
        assert_problem(res, StatusCode::CONFLICT, "duplicate_key").await;
        let res = set_keys(&app, &mine, &app.bootstrap_key, &json!({"public_key": PUBLIC}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "setting a key again is fine");
        let res = set_keys(&app, &mine, &app.bootstrap_key, &json!({"public_key": SECRET, "secret_key": PUBLIC}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "swap");
        assert!(check_pair(&app, "MyProject", "MyAPI", SECRET, PUBLIC).await);

        // Another organization may use the same keys.
        let res = app.post("/v1/organizations", &app.bootstrap_key, &json!({"name": "acme"})).await;
        let created: Value = res.json().await.unwrap();
        let acme = created["api_key"]["key"].as_str().unwrap().to_owned();
        app.post("/v1/projects", &acme, &json!({"name": "MyProject"})).await;
        app.post("/v1/projects/MyProject/api_proxies", &acme, &json!({"name": "MyAPI"})).await;
        let res = set_keys(&app, &mine, &acme, &json!({"public_key": PUBLIC, "secret_key": SECRET}), None).await;
        assert_eq!(res.status(), StatusCode::OK);

        // Deleting a proxy frees its keys.
        let res = app.delete(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = set_keys(&app, &keys_path("Elsewhere", "Third"), &app.bootstrap_key, &json!({"public_key": SECRET, "secret_key": PUBLIC}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

async fn check_pair(app: &TestApp, project: &str, proxy: &str, public: &str, secret: &str) -> bool {
    let res = app
        .post(
            &check_path(project, proxy),
            &app.bootstrap_key,
            &json!({"public_key": public, "secret_key": secret}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["valid"].as_bool().unwrap()
}

backend_test! {
    async fn a_missing_project_and_a_missing_proxy_are_told_apart(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let body = json!({"public_key": PUBLIC});
        let res = set_keys(&app, &keys_path("Nope", "MyAPI"), &app.bootstrap_key, &body, None).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "Project (name: Nope) was not found!");
        let res = set_keys(&app, &keys_path("MyProject", "Nope"), &app.bootstrap_key, &body, None).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "ApiProxy (name: Nope) was not found!");
        // Names are case-sensitive.
        let res = set_keys(&app, &keys_path("MyProject", "myapi"), &app.bootstrap_key, &body, None).await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "ApiProxy (name: myapi) was not found!");
        // A bad body is 400 before the proxy is looked for.
        let res = set_keys(&app, &keys_path("MyProject", "Nope"), &app.bootstrap_key, &json!({}), None).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        // Check answers 404 the same way.
        let res = app
            .post(&check_path("MyProject", "Nope"), &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": SECRET}))
            .await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "ApiProxy (name: Nope) was not found!");
    }
}

backend_test! {
    async fn patch_keys_needs_serving_and_indexing_or_a_policy_allowing_it(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        create_proxy(&app, "MyProject", "Other").await;
        let path = keys_path("MyProject", "MyAPI");
        let body = json!({"public_key": PUBLIC});
        let (_, serving) = app.key_with_role("serving").await;
        let res = set_keys(&app, &path, &serving, &body, None).await;
        let problem = assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        assert_eq!(problem["missing_permission"], "update_api_proxy_keys");
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let res = set_keys(&app, &path, &indexing, &body, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, personal) = app.key_with_role("personal").await;
        let res = set_keys(&app, &path, &personal, &json!({"secret_key": SECRET}), None).await;
        assert_eq!(res.status(), StatusCode::OK);

        let policy = json!({"allowed_operations": {
            "update_api_proxy_keys": {"allow_any_resource": false, "allowed_resources": {
                "project_name": ["MyProject"], "api_proxy_name": ["MyAPI"]
            }},
            "get_api_proxy": {}
        }});
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "proxy keys", "api_key_role": "serving_and_indexing", "api_policy": policy}))
            .await;
        let narrow = created["key"].as_str().unwrap();
        let res = set_keys(&app, &path, narrow, &json!({"public_key": "ak_by_policy"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Percent-encoded, the same proxy is still the one the policy names.
        let res = set_keys(&app, &keys_path("MyProject", "My%41PI"), narrow, &json!({"public_key": "ak_encoded"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = set_keys(&app, &keys_path("MyProject", "Other"), narrow, &body, None).await;
        assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        let res = app.delete(&proxy_path("MyProject", "MyAPI"), narrow).await;
        assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        let res = app.get(&proxy_path("MyProject", "Other"), narrow).await;
        assert_eq!(res.status(), StatusCode::OK, "allow_any_resource by default");

        // A policy naming only the proxy leaves the project unconstrained: denied.
        let policy = json!({"allowed_operations": {"update_api_proxy_keys": {"allow_any_resource": false, "allowed_resources": {"api_proxy_name": ["MyAPI"]}}}});
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "half", "api_key_role": "personal", "api_policy": policy}))
            .await;
        let res = set_keys(&app, &path, created["key"].as_str().unwrap(), &body, None).await;
        assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        assert_eq!(view(&app, "MyProject", "MyAPI").await["public_key"], "ak_encoded");
    }
}

backend_test! {
    async fn patch_keys_honours_if_match(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let path = keys_path("MyProject", "MyAPI");
        let res = app.get(&proxy_path("MyProject", "MyAPI"), &app.bootstrap_key).await;
        let tag = header(&res, "etag");
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC}), Some("\"stale\"")).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        assert!(view(&app, "MyProject", "MyAPI").await["public_key"].is_null(), "nothing changed");
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC}), Some(&tag)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let new_tag = header(&res, "etag");
        assert_ne!(new_tag, tag);
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": SECRET}), Some(&tag)).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": SECRET}), Some("*")).await;
        assert_eq!(res.status(), StatusCode::OK);
        // A bad body is 400 even with a stale tag; a missing proxy 404 before the tag.
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({}), Some("\"stale\"")).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        let res = set_keys(&app, &keys_path("MyProject", "Nope"), &app.bootstrap_key, &json!({"public_key": "x"}), Some("\"stale\"")).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn key_changes_are_audited_without_key_material(app) {
        let proxy = create_proxy(&app, "MyProject", "MyAPI").await;
        let id = proxy["id"].as_str().unwrap();
        let path = keys_path("MyProject", "MyAPI");
        set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC, "secret_key": SECRET}), None).await;
        // Refused: no event (409), or a denied one (403).
        create_proxy(&app, "MyProject", "Other").await;
        set_keys(&app, &keys_path("MyProject", "Other"), &app.bootstrap_key, &json!({"secret_key": SECRET}), None).await;
        let (_, serving) = app.key_with_role("serving").await;
        set_keys(&app, &path, &serving, &json!({"secret_key": SECRET}), None).await;
        // The check is not a mutation.
        check(&app, &serving, PUBLIC, SECRET).await;

        let res = app.get("/v1/audit_events?limit=100&action=update_api_proxy_keys", &app.bootstrap_key).await;
        let text = res.text().await.unwrap();
        assert!(!text.contains(SECRET) && !text.contains(PUBLIC), "no key material: {text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        let events = page["data"].as_array().unwrap();
        let outcomes: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e["outcome"].as_str().unwrap(), e["resource_id"].as_str().unwrap()))
            .collect();
        assert_eq!(outcomes, [("success", id), ("denied", "MyProject")], "{page}");
        assert!(events.iter().all(|e| e["resource_type"] == "api_proxy"), "{page}");
        let res = app.get("/v1/audit_events?limit=100&action=check_api_proxy_keys", &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"], json!([]), "checks are not audited");
    }
}

#[derive(QueryableByName)]
struct RowText {
    #[diesel(sql_type = diesel::sql_types::Text)]
    row: String,
}

#[derive(QueryableByName)]
struct SealedKey {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
    secret_key: Option<Vec<u8>>,
}

/// Every row of the tables that hold proxy data, as text, read directly
/// from the PostgreSQL test database.
fn postgres_rows(app: &TestApp) -> Vec<String> {
    let mut conn = diesel::PgConnection::establish(&app.database_target).expect("postgres");
    let mut out = Vec::new();
    for table in ["projects", "api_proxies", "api_proxy_keys", "audit_events"] {
        let rows: Vec<RowText> =
            diesel::sql_query(format!("SELECT CAST(t AS TEXT) AS row FROM {table} t"))
                .load(&mut conn)
                .expect("rows");
        out.extend(rows.into_iter().map(|r| r.row));
    }
    out
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many master keys the database records (a start with another key is
/// refused once there is one).
fn recorded_master_keys(app: &TestApp) -> i64 {
    load_rows::<Count>(app, "SELECT COUNT(*) AS n FROM encryption_keys")[0].n
}

fn sealed_keys(app: &TestApp) -> Vec<Option<Vec<u8>>> {
    load_rows::<SealedKey>(app, "SELECT secret_key FROM api_proxies ORDER BY id")
        .into_iter()
        .map(|r| r.secret_key)
        .collect()
}

backend_test! {
    async fn the_database_holds_no_secret_key_in_plaintext(app) {
        let secrets = ["sk-at-rest-AAAA-1111-first", "sk-at-rest-BBBB-2222-replaced", "sk-at-rest-\u{1f511}-unicode"];
        let public = "ak-at-rest-public-key-shown";
        create_proxy(&app, "MyProject", "MyAPI").await;
        create_proxy(&app, "MyProject", "Other").await;
        let path = keys_path("MyProject", "MyAPI");
        assert_eq!(recorded_master_keys(&app), 0);
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": public, "secret_key": secrets[0]}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(recorded_master_keys(&app), 1, "the master key of the hashes and envelopes is recorded");
        let res = set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": secrets[1]}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = set_keys(&app, &keys_path("MyProject", "Other"), &app.bootstrap_key, &json!({"secret_key": secrets[2]}), None).await;
        assert_eq!(res.status(), StatusCode::OK);

        let sealed: Vec<Vec<u8>> = sealed_keys(&app).into_iter().map(|s| s.expect("sealed")).collect();
        assert_eq!(sealed.len(), 2);
        for envelope in &sealed {
            assert_eq!(envelope.first(), Some(&1u8), "an envelope of format 1");
            for secret in secrets {
                assert!(!contains(envelope, secret.as_bytes()), "the column holds {secret}");
            }
        }
        let plain_sha = keygate::crypto::hash_key(secrets[1]);
        match app.backend {
            Backend::Sqlite => {
                let path = app.sqlite_path.as_ref().unwrap();
                let mut bytes = std::fs::read(path).expect("database file");
                if let Ok(more) = std::fs::read(format!("{}-wal", path.display())) {
                    bytes.extend(more);
                }
                assert!(contains(&bytes, public.as_bytes()), "the scan sees the public key, stored for display");
                for secret in secrets {
                    assert!(!contains(&bytes, secret.as_bytes()), "the database files hold {secret}");
                }
                assert!(!contains(&bytes, plain_sha.as_bytes()), "no plain SHA-256 of a secret");
            }
            Backend::Postgres => {
                let rows = postgres_rows(&app).join("\n");
                assert!(rows.contains(public), "the scan sees the public key, stored for display");
                for secret in secrets {
                    assert!(!rows.contains(secret), "a row holds {secret}");
                    assert!(!rows.contains(&hex::encode(secret)), "a row holds {secret} as hex");
                }
                assert!(!rows.contains(&plain_sha), "no plain SHA-256 of a secret");
            }
        }
    }
}

backend_test! {
    async fn check_says_whether_a_pair_is_the_proxys(app) {
        create_proxy(&app, "MyProject", "MyAPI").await;
        let (_, serving) = app.key_with_role("serving").await;
        assert!(!check(&app, &serving, PUBLIC, SECRET).await, "no keys yet");
        let path = keys_path("MyProject", "MyAPI");
        set_keys(&app, &path, &app.bootstrap_key, &json!({"public_key": PUBLIC}), None).await;
        assert!(!check(&app, &serving, PUBLIC, SECRET).await, "no secret yet");
        set_keys(&app, &path, &app.bootstrap_key, &json!({"secret_key": SECRET}), None).await;
        assert!(check(&app, &serving, PUBLIC, SECRET).await);
        let cases = [
            ("wrong public", "ak_wrong", SECRET),
            ("wrong secret", PUBLIC, "sk_wrong"),
            ("both wrong", "ak_wrong", "sk_wrong"),
            ("swapped", SECRET, PUBLIC),
            ("case", PUBLIC, &SECRET.to_uppercase()),
            ("prefix", PUBLIC, &SECRET[..SECRET.len() - 1]),
        ];
        for (what, public, secret) in cases {
            assert!(!check(&app, &serving, public, secret).await, "{what}");
        }
        // Another proxy's pair is not this one's.
        create_proxy(&app, "MyProject", "Other").await;
        set_keys(&app, &keys_path("MyProject", "Other"), &app.bootstrap_key, &json!({"public_key": "ak_o", "secret_key": "sk_o"}), None).await;
        assert!(!check(&app, &serving, "ak_o", "sk_o").await);

        for (what, body) in [
            ("missing secret", json!({"public_key": PUBLIC})),
            ("blank", json!({"public_key": PUBLIC, "secret_key": " "})),
            ("null", json!({"public_key": PUBLIC, "secret_key": null})),
        ] {
            let res = app.post(&check_path("MyProject", "MyAPI"), &serving, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        }
        let res = app
            .post(&check_path("Nope", "MyAPI"), &serving, &json!({"public_key": PUBLIC, "secret_key": SECRET}))
            .await;
        let problem = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], "Project (name: Nope) was not found!");
        let res = app
            .request(Method::POST, &check_path("MyProject", "MyAPI"), None)
            .json(&json!({"public_key": PUBLIC, "secret_key": SECRET}))
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[actix_web::test]
async fn keys_need_a_master_key_while_proxies_do_not() {
    use keygate::config::MasterKeySource;
    use keygate::keys::format::{generate, KeyKind};
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = generate(KeyKind::ApiKey).value;
    let address = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Absent),
        &bootstrap,
    ));
    let client = reqwest::Client::new();
    let send = |method: Method, path: &str, body: Value| {
        client
            .request(method, format!("{address}{path}"))
            .bearer_auth(&bootstrap)
            .json(&body)
            .send()
    };

    // Projects and proxies need no master key.
    let res = send(Method::POST, "/v1/projects", json!({"name": "MyProject"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = send(
        Method::POST,
        "/v1/projects/MyProject/api_proxies",
        json!({"name": "MyAPI"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Setting and checking keys do: 503, and nothing is stored.
    let pair = json!({"public_key": PUBLIC, "secret_key": SECRET});
    let res = send(
        Method::PATCH,
        &keys_path("MyProject", "MyAPI"),
        pair.clone(),
    )
    .await
    .unwrap();
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "master_key_missing").await;
    let res = send(Method::POST, &check_path("MyProject", "MyAPI"), pair)
        .await
        .unwrap();
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "master_key_missing").await;
    let res = client
        .get(format!("{address}{}", proxy_path("MyProject", "MyAPI")))
        .bearer_auth(&bootstrap)
        .send()
        .await
        .unwrap();
    let view: Value = res.json().await.unwrap();
    assert!(view["public_key"].is_null(), "{view}");
    assert_eq!(view["secret_key_set"], false, "{view}");
}

#[test]
fn the_document_states_the_name_and_key_rules_the_server_enforces() {
    use keygate::resources::api_proxies::dto::KEY_PATTERN;
    use keygate::resources::projects::dto::Name;
    let doc = keygate::resources::document();
    let keys = "/v1/projects/{project_name}/api_proxies/{api_proxy_name}/settings/keys";
    for (path, method) in [
        ("/v1/projects/{project_name}", "get"),
        ("/v1/projects/{project_name}/api_proxies", "post"),
        (keys, "patch"),
    ] {
        for param in doc["paths"][path][method]["parameters"].as_array().unwrap() {
            if param["in"] == "path" {
                assert_eq!(
                    param["schema"]["pattern"],
                    Name::PATTERN,
                    "{path} {}",
                    param["name"]
                );
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["UpdateApiProxyKeys"]["minProperties"], 1,
        "at least one key"
    );
    for field in ["public_key", "secret_key"] {
        assert_eq!(
            schemas["UpdateApiProxyKeys"]["properties"][field]["type"], "string",
            "not nullable"
        );
    }
    for schema in ["CreateProject", "CreateApiProxy"] {
        assert_eq!(
            schemas[schema]["properties"]["name"]["pattern"],
            Name::PATTERN,
            "{schema}"
        );
    }
    for schema in ["UpdateApiProxyKeys", "CheckApiProxyKeys"] {
        for field in ["public_key", "secret_key"] {
            let prop = &schemas[schema]["properties"][field];
            assert_eq!(prop["pattern"], KEY_PATTERN, "{schema}.{field}");
            assert_eq!(prop["minLength"], 1, "{schema}.{field}");
            assert_eq!(prop["maxLength"], 512, "{schema}.{field}");
        }
    }
    for schema in ["CreateApiProxy", "UpdateApiProxy"] {
        assert_eq!(
            schemas[schema]["properties"]["upstream_url"]["pattern"],
            keygate::resources::api_proxies::dto::UPSTREAM_URL_PATTERN,
            "{schema}"
        );
    }
    // Links follow a new proxy to its keys, passing the project on.
    let link = &doc["paths"]["/v1/projects/{project_name}/api_proxies"]["post"]["responses"]["201"]
        ["links"]["update_api_proxy_keys"];
    assert_eq!(
        link["parameters"]["project_name"], "$request.path.project_name",
        "{link}"
    );
    assert_eq!(
        link["parameters"]["api_proxy_name"], "$response.body#/name",
        "{link}"
    );
    let link =
        &doc["paths"]["/v1/projects"]["post"]["responses"]["201"]["links"]["create_api_proxy"];
    assert_eq!(
        link["parameters"]["project_name"], "$response.body#/name",
        "{link}"
    );
}

backend_test! {
    async fn concurrent_key_updates_of_one_proxy_all_succeed(app) {
        // On PostgreSQL they raced on the proxy's own key rows and some
        // answered 409 duplicate_key naming no real duplicate:
        // each update now takes the proxy first, so they run in turn.
        create_proxy(&app, "Raced", "Api").await;
        let path = keys_path("Raced", "Api");
        let app = &app;
        for round in 0..3 {
            let pairs: Vec<(String, String)> = (0..12)
                .map(|i| (format!("public-{round}-{i}"), format!("secret-key-{round}-{i}-long")))
                .collect();
            let answers = futures_util::future::join_all(pairs.iter().map(|(public, secret)| {
                let body = json!({"public_key": public, "secret_key": secret});
                let path = path.clone();
                async move { app.patch(&path, &app.bootstrap_key, &body).await }
            }))
            .await;
            for res in answers {
                let status = res.status();
                let text = res.text().await.unwrap();
                assert_eq!(status, StatusCode::OK, "round {round}: {text}");
            }
            // The last writer's pair is the proxy's, whole.
            let shown = view(app, "Raced", "Api").await;
            let public = shown["public_key"].as_str().unwrap().to_owned();
            let (_, secret) = pairs.iter().find(|(p, _)| *p == public).expect("a sent pair");
            assert!(check_pair(app, "Raced", "Api", &public, secret).await, "round {round}");
        }
    }
}
