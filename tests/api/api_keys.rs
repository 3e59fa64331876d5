//! `/v1/api_keys` and `/v1/me`: create, show-once secrets, list with
//! pagination and filters, get, PATCH semantics, delete, and invalid input.

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// An id that is well formed but belongs to no key.
const UNKNOWN_ID: &str = "aky_00000000000000000000000000000000";

/// The id of the key `key` authenticates as, from `/v1/me`.
async fn me_id(app: &TestApp, key: &str) -> String {
    let res = app.get("/v1/me", key).await;
    assert_eq!(res.status(), StatusCode::OK, "GET /v1/me");
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().expect("id of /v1/me").to_owned()
}

/// The body of a 200 response as text and JSON.
async fn ok_body(res: Response, what: &str) -> (String, Value) {
    assert_eq!(res.status(), StatusCode::OK, "{what}");
    let text = res.text().await.unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
    (text, json)
}

/// A JSON object without the named fields.
fn without(value: &Value, fields: &[&str]) -> Value {
    let mut value = value.clone();
    for field in fields {
        value.as_object_mut().unwrap().remove(*field);
    }
    value
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp"))
        .parse()
        .unwrap_or_else(|e| panic!("{value} is not RFC 3339: {e}"))
}

/// Asserts a 400 `validation_failed` naming `field` among its errors.
async fn assert_field_error(res: Response, field: &str, what: &str) -> Value {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
    let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors in {body}"));
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "{what}: expected an error on `{field}` in {body}"
    );
    body
}

backend_test! {
    async fn create_returns_the_key_once_with_location_and_defaults(app) {
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "search frontend", "api_key_role": "serving"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let location = res
            .headers()
            .get("location")
            .expect("Location header")
            .to_str()
            .unwrap()
            .to_owned();
        let created: Value = res.json().await.unwrap();

        let id = created["id"].as_str().expect("id").to_owned();
        assert!(Regex::new("^aky_[0-9a-f]{32}$").unwrap().is_match(&id), "id {id}");
        assert_eq!(location, format!("/v1/api_keys/{id}"));

        let key = created["key"].as_str().expect("key").to_owned();
        assert!(key.starts_with("kg_ak_"), "key prefix");
        assert_eq!(key.len(), 44, "key length");
        assert_eq!(created["key_prefix"], key[..10], "key_prefix");
        assert_eq!(created["key_last4"], key[key.len() - 4..], "key_last4");

        assert_eq!(created["name"], "search frontend");
        assert_eq!(created["api_key_role"], "serving");
        assert_eq!(created["enabled"], true);
        for field in ["api_policy", "allowed_cidrs", "expires_at", "last_used_at"] {
            assert!(
                created.get(field).is_some_and(Value::is_null),
                "{field} is present and null in {created}"
            );
        }
        assert_eq!(created["created_at"], created["updated_at"]);
        timestamp(&created["created_at"]);

        let (_, bootstrap) = ok_body(app.get("/v1/me", &app.bootstrap_key).await, "bootstrap /v1/me").await;
        assert_eq!(created["organization_id"], bootstrap["organization_id"]);

        // The Location points at the key.
        let (_, shown) = ok_body(app.get(&location, &app.bootstrap_key).await, "GET Location").await;
        assert_eq!(shown["id"], id.as_str());

        // The new key authenticates, as itself.
        assert_eq!(me_id(&app, &key).await, id);
    }
}

backend_test! {
    async fn the_secret_is_never_shown_after_create(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "once", "api_key_role": "serving"}))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/api_keys/{id}");

        let responses = [
            ("GET by id", app.get(&path, &app.bootstrap_key).await),
            ("list", app.get("/v1/api_keys", &app.bootstrap_key).await),
            ("PATCH", app.patch(&path, &app.bootstrap_key, &json!({"name": "renamed"})).await),
            ("/v1/me", app.get("/v1/me", &key).await),
        ];
        for (what, res) in responses {
            let (text, body) = ok_body(res, what).await;
            assert!(!text.contains(&key), "{what}: the secret appears in {text}");
            assert!(
                !text.contains(&app.bootstrap_key),
                "{what}: the bootstrap secret appears in {text}"
            );
            let views = match body["data"].as_array() {
                Some(items) => items.clone(),
                None => vec![body.clone()],
            };
            for view in views {
                assert!(view.get("key").is_none(), "{what}: `key` field in {view}");
            }
        }
    }
}

backend_test! {
    async fn list_pages_through_every_key_once_in_ascending_order(app) {
        let bootstrap_id = me_id(&app, &app.bootstrap_key).await;
        let mut expected = vec![bootstrap_id.clone()];
        for i in 0..5 {
            let created = app
                .create_key(&app.bootstrap_key, json!({"name": format!("key {i}"), "api_key_role": "serving"}))
                .await;
            expected.push(created["id"].as_str().unwrap().to_owned());
        }

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/api_keys?limit=2&cursor={c}"),
                None => "/v1/api_keys?limit=2".to_owned(),
            };
            let (_, page) = ok_body(app.get(&path, &app.bootstrap_key).await, &path).await;
            let data = page["data"].as_array().expect("data");
            assert!(data.len() <= 2, "page {pages} has {} items", data.len());
            assert!(page.get("next_cursor").is_some(), "next_cursor is always present: {page}");
            seen.extend(data.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
            pages += 1;
            assert!(pages <= 10, "pagination does not end");
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(page["next_cursor"].is_null(), "last page: {page}");
                    break;
                }
            }
        }
        assert_eq!(pages, 3, "6 keys in pages of 2");

        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "ascending order");
        let mut unique = sorted.clone();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "every id once: {seen:?}");
        expected.sort();
        assert_eq!(seen, expected, "every key, bootstrap included");
        assert!(seen.contains(&bootstrap_id));
    }
}

backend_test! {
    async fn list_filters_by_role_and_enabled(app) {
        let serving_a = app
            .create_key(&app.bootstrap_key, json!({"name": "a", "api_key_role": "serving"}))
            .await;
        let serving_disabled = app
            .create_key(&app.bootstrap_key, json!({"name": "b", "api_key_role": "serving", "enabled": false}))
            .await;
        app.create_key(&app.bootstrap_key, json!({"name": "c", "api_key_role": "serving_and_indexing"}))
            .await;
        let personal_disabled = app
            .create_key(&app.bootstrap_key, json!({"name": "d", "api_key_role": "personal", "enabled": false}))
            .await;
        assert_eq!(serving_disabled["enabled"], false);

        let ids = |page: &Value| -> Vec<String> {
            let mut ids: Vec<String> = page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<&Value>| -> Vec<String> {
            let mut out: Vec<String> = v.drain(..).map(|k| k["id"].as_str().unwrap().to_owned()).collect();
            out.sort();
            out
        };

        let cases = [
            ("api_key_role=serving", sorted(vec![&serving_a, &serving_disabled])),
            ("enabled=false", sorted(vec![&serving_disabled, &personal_disabled])),
            ("api_key_role=serving&enabled=false", sorted(vec![&serving_disabled])),
            ("api_key_role=serving_and_indexing&enabled=false", Vec::new()),
        ];
        for (query, expected) in cases {
            let path = format!("/v1/api_keys?{query}");
            let (_, page) = ok_body(app.get(&path, &app.bootstrap_key).await, &path).await;
            assert_eq!(ids(&page), expected, "{query}");
            assert!(page["next_cursor"].is_null(), "{query}: one page");
        }

        // The enabled=true filter holds the bootstrap key and the enabled ones.
        let (_, page) = ok_body(app.get("/v1/api_keys?enabled=true", &app.bootstrap_key).await, "enabled=true").await;
        for key in page["data"].as_array().unwrap() {
            assert_eq!(key["enabled"], true, "enabled=true returned {key}");
        }
        assert_eq!(page["data"].as_array().unwrap().len(), 3, "bootstrap, a, c");
    }
}

backend_test! {
    async fn list_rejects_invalid_query_parameters(app) {
        let cases = [
            ("limit=0", "validation_failed", Some("limit")),
            ("limit=101", "validation_failed", Some("limit")),
            ("limit=-1", "validation_failed", Some("limit")),
            ("limit=abc", "invalid_query_parameter", None),
            ("cursor=!!!", "validation_failed", Some("cursor")),
            ("api_key_role=root", "invalid_query_parameter", None),
            ("enabled=maybe", "invalid_query_parameter", None),
        ];
        for (query, code, field) in cases {
            let res = app.get(&format!("/v1/api_keys?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
            let body = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            if let Some(field) = field {
                assert!(
                    body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field)),
                    "{query}: expected an error on `{field}` in {body}"
                );
            }
        }
        // The limits themselves are accepted.
        for query in ["limit=1", "limit=100"] {
            let res = app.get(&format!("/v1/api_keys?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
        }
    }
}

backend_test! {
    async fn get_returns_the_key_and_404_or_400_otherwise(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "lookup", "api_key_role": "serving_and_indexing"}))
            .await;
        let id = created["id"].as_str().unwrap();
        let (_, shown) = ok_body(app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await, "GET").await;
        assert_eq!(shown, without(&created, &["key"]), "GET shows what create returned, minus the secret");

        let res = app.get(&format!("/v1/api_keys/{UNKNOWN_ID}"), &app.bootstrap_key).await;
        let body = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(body["instance"], format!("/v1/api_keys/{UNKNOWN_ID}"));

        let malformed = [
            ("too short", "aky_zz"),
            ("no prefix", "nope"),
            ("upper-case hex", "aky_0000000000000000000000000000000A"),
            ("wrong prefix", "org_00000000000000000000000000000000"),
            ("33 digits", "aky_000000000000000000000000000000000"),
        ];
        for (what, bad) in malformed {
            let res = app.get(&format!("/v1/api_keys/{bad}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}: {bad}");
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
        }
    }
}

backend_test! {
    async fn patch_changes_the_name_only(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "before", "api_key_role": "serving"}))
            .await;
        let path = format!("/v1/api_keys/{}", created["id"].as_str().unwrap());
        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"name": "after"})).await, "PATCH").await;
        assert_eq!(patched["name"], "after");
        assert_eq!(
            without(&patched, &["name", "updated_at"]),
            without(&created, &["name", "updated_at", "key"]),
            "only the name changes"
        );
        assert!(timestamp(&patched["updated_at"]) >= timestamp(&created["updated_at"]));
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET").await;
        assert_eq!(shown, patched, "the change is stored");
    }
}

backend_test! {
    async fn disabling_a_key_refuses_it_at_once_and_enabling_restores_it(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        assert_eq!(me_id(&app, &key).await, id);

        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"enabled": false})).await, "disable").await;
        assert_eq!(patched["enabled"], false);
        let res = app.get("/v1/me", &key).await;
        assert_eq!(
            res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"enabled": true})).await, "enable").await;
        assert_eq!(patched["enabled"], true);
        assert_eq!(me_id(&app, &key).await, id);
    }
}

backend_test! {
    async fn patch_sets_api_policy_and_null_clears_it(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        let policy = json!({"allowed_operations": {
            "get_organization": {"allow_any_resource": true, "allowed_resources": {}},
            "get_me": {"allow_any_resource": true, "allowed_resources": {}}
        }});
        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"api_policy": policy})).await, "set").await;
        assert_eq!(patched["api_policy"], policy);
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after set").await;
        assert_eq!(shown["api_policy"], policy);
        assert_eq!(me_id(&app, &key).await, id, "get_me is allowed by the policy");

        // A policy without get_me takes effect at once.
        let narrow = json!({"allowed_operations": {"get_organization": {}}});
        let res = app.patch(&path, &app.bootstrap_key, &json!({"api_policy": narrow})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body = assert_problem(app.get("/v1/me", &key).await, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        assert_eq!(body["missing_permission"], "get_me");

        let (_, cleared) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"api_policy": null})).await, "clear").await;
        assert!(cleared["api_policy"].is_null(), "{cleared}");
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after clear").await;
        assert!(shown.get("api_policy").is_some_and(Value::is_null), "{shown}");
        assert_eq!(me_id(&app, &key).await, id);
    }
}

backend_test! {
    async fn patch_sets_allowed_cidrs_and_null_clears_them(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");

        let cidrs = json!(["127.0.0.0/8", "2001:db8::/32"]);
        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"allowed_cidrs": cidrs})).await, "set").await;
        assert_eq!(patched["allowed_cidrs"], cidrs);
        assert_eq!(me_id(&app, &key).await, id, "127.0.0.1 is inside 127.0.0.0/8");

        let elsewhere = json!(["10.0.0.0/8"]);
        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"allowed_cidrs": elsewhere})).await, "move").await;
        assert_eq!(patched["allowed_cidrs"], elsewhere);
        assert_problem(app.get("/v1/me", &key).await, StatusCode::FORBIDDEN, "ip_not_allowed").await;

        let (_, cleared) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"allowed_cidrs": null})).await, "clear").await;
        assert!(cleared["allowed_cidrs"].is_null(), "{cleared}");
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after clear").await;
        assert!(shown.get("allowed_cidrs").is_some_and(Value::is_null), "{shown}");
        assert_eq!(me_id(&app, &key).await, id);
    }
}

backend_test! {
    async fn patch_sets_expires_at_and_null_clears_it(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        let at = "2031-06-15T12:30:00Z";

        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"expires_at": at})).await, "set").await;
        assert_eq!(timestamp(&patched["expires_at"]), at.parse::<DateTime<Utc>>().unwrap());
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after set").await;
        assert_eq!(timestamp(&shown["expires_at"]), at.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(me_id(&app, &key).await, id, "a key expiring in the future works");

        let (_, cleared) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({"expires_at": null})).await, "clear").await;
        assert!(cleared["expires_at"].is_null(), "{cleared}");
        let (_, shown) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after clear").await;
        assert!(shown.get("expires_at").is_some_and(Value::is_null), "{shown}");
    }
}

backend_test! {
    async fn a_key_past_its_expiry_is_refused(app) {
        let expires = Utc::now() + Duration::milliseconds(2500);
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "short-lived", "api_key_role": "serving", "expires_at": expires.to_rfc3339()}))
            .await;
        let key = created["key"].as_str().unwrap();
        assert_eq!(timestamp(&created["expires_at"]).timestamp(), expires.timestamp());
        if Utc::now() < expires - Duration::milliseconds(200) {
            assert_eq!(me_id(&app, key).await, created["id"].as_str().unwrap(), "works until it expires");
        }
        // Wait until just past the expiry (never more than 2.8 s).
        let wait = (expires + Duration::milliseconds(300) - Utc::now()).to_std().unwrap_or_default();
        actix_web::rt::time::sleep(wait).await;
        let res = app.get("/v1/me", key).await;
        assert_eq!(
            res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_problem(app.get("/v1/me", key).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

backend_test! {
    async fn patch_with_an_empty_body_changes_nothing(app) {
        let created = app
            .create_key(
                &app.bootstrap_key,
                json!({
                    "name": "steady",
                    "api_key_role": "serving",
                    "allowed_cidrs": ["127.0.0.0/8"],
                    "expires_at": "2032-01-01T00:00:00Z",
                    "api_policy": {"allowed_operations": {"get_me": {"allow_any_resource": true, "allowed_resources": {}}}}
                }),
            )
            .await;
        let path = format!("/v1/api_keys/{}", created["id"].as_str().unwrap());
        let (_, patched) = ok_body(app.patch(&path, &app.bootstrap_key, &json!({})).await, "PATCH {}").await;
        assert_eq!(
            without(&patched, &["updated_at"]),
            without(&created, &["updated_at", "key"]),
            "an empty PATCH changes nothing"
        );
        assert!(timestamp(&patched["updated_at"]) >= timestamp(&created["updated_at"]));
    }
}

backend_test! {
    async fn patch_rejects_invalid_bodies_and_changes_nothing(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "guarded", "api_key_role": "serving"}))
            .await;
        let path = format!("/v1/api_keys/{}", created["id"].as_str().unwrap());
        let (_, before) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET before").await;

        let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
            ("null name", json!({"name": null}), "invalid_body", None),
            ("null enabled", json!({"enabled": null}), "invalid_body", None),
            ("unknown field", json!({"colour": "red"}), "invalid_body", None),
            ("read-only field", json!({"api_key_role": "personal"}), "invalid_body", None),
            ("empty name", json!({"name": ""}), "validation_failed", Some("name")),
            ("256-char name", json!({"name": "n".repeat(256)}), "validation_failed", Some("name")),
            ("enabled as a string", json!({"enabled": "no"}), "invalid_body", None),
            ("empty cidrs", json!({"allowed_cidrs": []}), "validation_failed", Some("allowed_cidrs")),
            ("not a cidr", json!({"allowed_cidrs": ["nope"]}), "invalid_body", None),
            ("array body", json!([]), "invalid_body", None),
            (
                "unknown operation",
                json!({"api_policy": {"allowed_operations": {"launch_rockets": {}}}}),
                "validation_failed",
                Some("api_policy.allowed_operations.launch_rockets"),
            ),
        ];
        for (what, body, code, field) in cases {
            let res = app.patch(&path, &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}: {body}");
            match field {
                Some(field) => {
                    assert_field_error(res, field, what).await;
                }
                None => {
                    assert_problem(res, StatusCode::BAD_REQUEST, code).await;
                }
            }
        }
        let (_, after) = ok_body(app.get(&path, &app.bootstrap_key).await, "GET after").await;
        assert_eq!(after, before, "rejected PATCHes change nothing");

        let res = app.patch(&format!("/v1/api_keys/{UNKNOWN_ID}"), &app.bootstrap_key, &json!({"name": "x"})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn delete_removes_the_key_and_it_stops_working(app) {
        let (id, key) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}");
        assert_eq!(me_id(&app, &key).await, id);

        let res = app.delete(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(res.bytes().await.unwrap().is_empty(), "204 has an empty body");

        assert_problem(app.get(&path, &app.bootstrap_key).await, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get("/v1/me", &key).await;
        assert_eq!(
            res.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_problem(app.delete(&path, &app.bootstrap_key).await, StatusCode::NOT_FOUND, "not_found").await;

        let (_, page) = ok_body(app.get("/v1/api_keys", &app.bootstrap_key).await, "list").await;
        assert!(
            page["data"].as_array().unwrap().iter().all(|k| k["id"] != id.as_str()),
            "the deleted key is not listed"
        );
        assert_problem(
            app.delete("/v1/api_keys/aky_zz", &app.bootstrap_key).await,
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
        )
        .await;
    }
}

backend_test! {
    async fn create_rejects_invalid_bodies(app) {
        let base = |extra: Value| -> Value {
            let mut body = json!({"name": "k", "api_key_role": "serving"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let many_cidrs: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
        let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
            ("empty name", base(json!({"name": ""})), "validation_failed", Some("name")),
            ("256-char name", base(json!({"name": "n".repeat(256)})), "validation_failed", Some("name")),
            ("unknown role", base(json!({"api_key_role": "root"})), "invalid_body", None),
            ("missing role", json!({"name": "k"}), "invalid_body", None),
            ("missing name", json!({"api_key_role": "serving"}), "invalid_body", None),
            ("unknown field", base(json!({"colour": "red"})), "invalid_body", None),
            ("empty cidrs", base(json!({"allowed_cidrs": []})), "validation_failed", Some("allowed_cidrs")),
            ("not a cidr", base(json!({"allowed_cidrs": ["nope"]})), "invalid_body", None),
            ("101 cidrs", base(json!({"allowed_cidrs": many_cidrs})), "validation_failed", Some("allowed_cidrs")),
            ("array body", json!([base(json!({}))]), "invalid_body", None),
            ("expiry not a time", base(json!({"expires_at": "tomorrow"})), "invalid_body", None),
            (
                "unknown operation",
                base(json!({"api_policy": {"allowed_operations": {"launch_rockets": {}}}})),
                "validation_failed",
                Some("api_policy.allowed_operations.launch_rockets"),
            ),
            (
                "resource parameter no operation has",
                base(json!({"api_policy": {"allowed_operations": {"list_api_keys": {
                    "allow_any_resource": false,
                    "allowed_resources": {"corpus_key": [UNKNOWN_ID]}
                }}}})),
                "validation_failed",
                Some("api_policy.allowed_operations.list_api_keys.allowed_resources.corpus_key"),
            ),
            ("policy without allowed_operations", base(json!({"api_policy": {}})), "invalid_body", None),
            ("enabled null", base(json!({"enabled": null})), "invalid_body", None),
            ("name as a number", base(json!({"name": 42})), "invalid_body", None),
            ("body is an array", json!([]), "invalid_body", None),
        ];
        for (what, body, code, field) in cases {
            let res = app.post("/v1/api_keys", &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}: {body}");
            match field {
                Some(field) => {
                    let problem = assert_field_error(res, field, what).await;
                    assert_eq!(problem["code"], code, "{what}");
                }
                None => {
                    assert_problem(res, StatusCode::BAD_REQUEST, code).await;
                }
            }
        }

        // The boundaries are accepted.
        let hundred: Vec<String> = (0..100).map(|i| format!("10.0.{i}.0/24")).collect();
        let accepted = [
            ("1-char name", base(json!({"name": "n"}))),
            ("255-char name", base(json!({"name": "n".repeat(255)}))),
            ("100 cidrs", base(json!({"allowed_cidrs": hundred}))),
        ];
        let accepted_count = accepted.len();
        for (what, body) in accepted {
            let res = app.post("/v1/api_keys", &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{what}");
        }

        let (_, page) = ok_body(app.get("/v1/api_keys?limit=100", &app.bootstrap_key).await, "list").await;
        assert_eq!(
            page["data"].as_array().unwrap().len(),
            1 + accepted_count,
            "rejected bodies created nothing"
        );
    }
}

backend_test! {
    async fn a_past_expiry_is_accepted_and_expires_the_key_at_once(app) {
        let created = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": "born expired", "api_key_role": "serving", "expires_at": "2001-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(created["expires_at"], "2001-01-01T00:00:00Z");
        let res = app.get("/v1/me", created["key"].as_str().unwrap()).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

        let (id, key) = app.key_with_role("serving").await;
        assert_eq!(app.get("/v1/me", &key).await.status(), StatusCode::OK);
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"expires_at": "2001-01-01T00:00:00Z"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "retiring a key by a past expiry");
        let res = app.get("/v1/me", &key).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

/// `GET /v1/me` with `key` and the given `X-Forwarded-For`: its status.
async fn me_from(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut req = app.request(Method::GET, "/v1/me", Some(key));
    if let Some(value) = forwarded_for {
        req = req.header("x-forwarded-for", value);
    }
    req.send().await.unwrap().status()
}

async fn trusted_proxies_decide_whose_address_allowed_cidrs_sees(
    backend: keygate::config::Backend,
) {
    // The tests' client is 127.0.0.1: here, the trusted proxy.
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.trusted_proxies = keygate::net::TrustedProxies::parse("127.0.0.0/8").unwrap();
    })
    .await
    else {
        return;
    };
    let (id, key) = app.key_with_role("serving").await;
    let path = format!("/v1/api_keys/{id}");
    let body = json!({"allowed_cidrs": ["192.0.2.0/24"]});
    ok_body(app.patch(&path, &app.bootstrap_key, &body).await, "set").await;
    assert_eq!(
        me_from(&app, &key, Some("192.0.2.10")).await,
        StatusCode::OK
    );
    // What the client wrote left of the nearest untrusted hop is its claim.
    assert_eq!(
        me_from(&app, &key, Some("192.0.2.10, 198.51.100.1")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        me_from(&app, &key, Some("198.51.100.1, 192.0.2.10")).await,
        StatusCode::OK
    );
    // Without a header the proxy itself is the client.
    assert_eq!(me_from(&app, &key, None).await, StatusCode::FORBIDDEN);
    let forwarded = app
        .request(Method::GET, "/v1/me", Some(&key))
        .header("forwarded", r#"for="192.0.2.33:5000";proto=https"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), StatusCode::OK);

    // Without trusted proxies the header is ignored.
    let Some(plain) = TestApp::spawn(backend).await else {
        return;
    };
    let (id, key) = plain.key_with_role("serving").await;
    let path = format!("/v1/api_keys/{id}");
    ok_body(plain.patch(&path, &plain.bootstrap_key, &body).await, "set").await;
    assert_eq!(
        me_from(&plain, &key, Some("192.0.2.10")).await,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn trusted_proxies_decide_whose_address_allowed_cidrs_sees_sqlite() {
    trusted_proxies_decide_whose_address_allowed_cidrs_sees(keygate::config::Backend::Sqlite).await;
}

#[actix_web::test]
async fn trusted_proxies_decide_whose_address_allowed_cidrs_sees_postgres() {
    trusted_proxies_decide_whose_address_allowed_cidrs_sees(keygate::config::Backend::Postgres)
        .await;
}

backend_test! {
    async fn resource_scopes_are_kept_shown_verified_and_never_widened(app) {
        let key = &app.bootstrap_key;
        let created = app
            .create_key(key, json!({"name": "docs search", "api_key_role": "serving", "resource_scopes": ["docs", "faq"]}))
            .await;
        assert_eq!(created["resource_scopes"], json!(["docs", "faq"]));
        let id = created["id"].as_str().unwrap();
        let res = app.get(&format!("/v1/api_keys/{id}"), key).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resource_scopes"], json!(["docs", "faq"]));
        let res = app.post("/v1/verify", key, &json!({"key": created["key"]})).await;
        let verdict: Value = res.json().await.unwrap();
        assert_eq!((verdict["valid"].as_bool(), &verdict["resource_scopes"]), (Some(true), &json!(["docs", "faq"])), "{verdict}");
        let plain = app.create_key(key, json!({"name": "plain", "api_key_role": "serving"})).await;
        assert!(plain["resource_scopes"].is_null(), "{plain}");
        let res = app.post("/v1/verify", key, &json!({"key": plain["key"]})).await;
        assert!(res.json::<Value>().await.unwrap()["resource_scopes"].is_null());

        let cases = [
            (json!({"name": "p", "api_key_role": "personal", "resource_scopes": ["docs"]}), "resource_scopes", "not_allowed_for_role"),
            (json!({"name": "e", "api_key_role": "serving", "resource_scopes": []}), "resource_scopes", "length"),
            (json!({"name": "b", "api_key_role": "serving", "resource_scopes": ["no spaces"]}), "resource_scopes[0]", "pattern"),
            (json!({"name": "d", "api_key_role": "serving", "resource_scopes": ["a", "a"]}), "resource_scopes[1]", "duplicate"),
        ];
        for (body, field, code) in cases {
            let res = app.post("/v1/api_keys", key, &body).await;
            let error = assert_invalid(res, "validation_failed", field).await;
            assert_eq!(error["code"], code, "{body}");
        }
        let res = app.post("/v1/api_keys", key, &json!({"name": "b", "api_key_role": "serving", "resource_scopes": ["secret value"]})).await;
        assert!(!res.text().await.unwrap().contains("secret value"), "no value is echoed");
    }
}
