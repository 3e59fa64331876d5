//! `/v1/connectors`: create with a server id, PUT create-or-replace, list
//! with filters and pagination, get, PATCH semantics, delete, setting the
//! API key and secret (`updated` or `noop`), references checked within the
//! organization, keys and secrets a connector names protected from delete,
//! `If-Match`, roles, tenancy, audit events and invalid input.

use regex::Regex;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// A well-formed id no connector has.
const UNKNOWN_ID: &str = "no-such-connector";

fn path(id: &str) -> String {
    format!("/v1/connectors/{id}")
}

fn api_key_id_path(id: &str) -> String {
    format!("/v1/connectors/{id}/api_key_id")
}

async fn put(app: &TestApp, path: &str, key: &str, body: &Value) -> Response {
    send(app, Method::PUT, path, key, None, Some(body)).await
}

/// Creates a connector with POST, asserting 201; returns the body.
async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let res = app.post("/v1/connectors", key, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create {body}");
    res.json().await.unwrap()
}

/// Creates a connector with the given id with PUT, asserting 201.
async fn put_new(app: &TestApp, key: &str, id: &str, body: Value) -> Value {
    let res = put(app, &path(id), key, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "PUT {id} {body}");
    res.json().await.unwrap()
}

/// GET of a connector: its body and `ETag`.
async fn fetch(app: &TestApp, key: &str, id: &str) -> (Value, String) {
    let res = app.get(&path(id), key).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {id}");
    let etag = header(&res, "etag");
    (res.json().await.unwrap(), etag)
}

/// Creates a secret with `key`; returns its id.
async fn create_secret(app: &TestApp, key: &str) -> String {
    let res = app
        .post(
            "/v1/secrets",
            key,
            &json!({"value": "encoded-api-key-value"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "POST /v1/secrets");
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Asserts a 400 `validation_failed` with an error of `code` on `field`.
async fn assert_field_error(res: Response, field: &str, code: &str, what: &str) -> Value {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
    let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors in {body}"));
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == field && e["code"] == code),
        "{what}: expected `{code}` on `{field}` in {body}"
    );
    body
}

/// Every audit event about connector `id`, oldest first.
async fn connector_events(app: &TestApp, id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/audit_events?limit=100&resource_type=connector&resource_id={id}"),
            &app.bootstrap_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "GET /v1/audit_events");
    let page: Value = res.json().await.unwrap();
    page["data"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_documented_connector_id_pattern_is_the_servers() {
    let doc = keygate::resources::document();
    for (template, method) in [
        ("/v1/connectors/{connector_id}", "get"),
        ("/v1/connectors/{connector_id}", "put"),
        ("/v1/connectors/{connector_id}", "patch"),
        ("/v1/connectors/{connector_id}", "delete"),
        ("/v1/connectors/{connector_id}/api_key_id", "put"),
    ] {
        let pattern = doc["paths"][template][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {template} is documented"))
            .iter()
            .find(|p| p["name"] == "connector_id")
            .map(|p| p["schema"]["pattern"].as_str().unwrap().to_owned())
            .unwrap();
        assert_eq!(
            pattern,
            keygate::fields::ResourceId::PATTERN,
            "{method} {template}"
        );
    }
}

backend_test! {
    async fn create_returns_the_connector_with_a_server_id_location_and_etag(app) {
        let (key_id, _) = app.key_with_role("serving_and_indexing").await;
        let secret_id = create_secret(&app, &app.bootstrap_key).await;
        let body = json!({
            "name": "My Connector",
            "description": "Syncs the marketing drive.",
            "index_name": "search-google-drive",
            "service_type": "google_drive",
            "api_key_id": key_id,
            "api_key_secret_id": secret_id,
        });
        let res = app.post("/v1/connectors", &app.bootstrap_key, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let location = header(&res, "location");
        let etag = header(&res, "etag");
        let created: Value = res.json().await.unwrap();

        let id = created["id"].as_str().unwrap().to_owned();
        assert!(Regex::new("^con_[0-9a-f]{32}$").unwrap().is_match(&id), "id {id}");
        assert!(Regex::new(keygate::fields::ResourceId::PATTERN).unwrap().is_match(&id));
        assert_eq!(location, path(&id));
        for field in ["name", "description", "index_name", "service_type", "api_key_id", "api_key_secret_id"] {
            assert_eq!(created[field], body[field], "{field}");
        }
        let me: Value = app.get("/v1/me", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(created["organization_id"], me["organization_id"]);
        assert_eq!(created["created_at"], created["updated_at"]);

        let (shown, shown_etag) = fetch(&app, &app.bootstrap_key, &id).await;
        assert_eq!(shown, created, "GET Location shows what POST returned");
        assert_eq!(shown_etag, etag);
    }
}

backend_test! {
    async fn every_field_of_a_new_connector_may_be_absent_or_null(app) {
        let fields = ["name", "description", "index_name", "service_type", "api_key_id", "api_key_secret_id"];
        let nulls: Value = fields.iter().map(|f| (f.to_string(), Value::Null)).collect::<serde_json::Map<_, _>>().into();
        for body in [json!({}), nulls] {
            let created = create(&app, &app.bootstrap_key, body.clone()).await;
            for field in fields {
                assert!(
                    created.get(field).is_some_and(Value::is_null),
                    "{field} is present and null after creating with {body}: {created}"
                );
            }
        }
    }
}

backend_test! {
    async fn put_creates_with_the_callers_id_then_replaces_every_field(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        let res = put(&app, &path("my-connector"), &app.bootstrap_key, &json!({
            "name": "My Connector",
            "description": "first",
            "index_name": "search-google-drive",
            "service_type": "google_drive",
            "api_key_id": key_id,
        }))
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "PUT creates");
        assert_eq!(header(&res, "location"), path("my-connector"));
        let first_etag = header(&res, "etag");
        let first: Value = res.json().await.unwrap();
        assert_eq!(first["id"], "my-connector");
        assert_eq!(first["api_key_id"], key_id.as_str());

        let res = put(&app, &path("my-connector"), &app.bootstrap_key, &json!({"name": "Renamed", "service_type": "sharepoint"})).await;
        assert_eq!(res.status(), StatusCode::OK, "PUT replaces");
        assert!(res.headers().get("location").is_none(), "no Location on replace");
        let etag = header(&res, "etag");
        assert_ne!(etag, first_etag, "a replace changes the ETag");
        let replaced: Value = res.json().await.unwrap();
        assert_eq!(replaced["name"], "Renamed");
        assert_eq!(replaced["service_type"], "sharepoint");
        for field in ["description", "index_name", "api_key_id", "api_key_secret_id"] {
            assert!(replaced[field].is_null(), "{field} left out of PUT becomes null: {replaced}");
        }
        assert_eq!(replaced["created_at"], first["created_at"]);
        assert_ne!(replaced["updated_at"], first["updated_at"]);

        let (shown, shown_etag) = fetch(&app, &app.bootstrap_key, "my-connector").await;
        assert_eq!(shown, replaced);
        assert_eq!(shown_etag, etag);
        // Replacing dropped the reference only; the key is still there.
        let res = app.get(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn list_pages_in_id_order_and_filters_exactly(app) {
        let specs = [
            ("delta", "google_drive", "search-drive"),
            ("alpha", "google_drive", "search-drive-2"),
            ("charlie", "sharepoint", "search-drive"),
            ("bravo", "google_drive", "search-drive"),
            ("echo", "google_drive_x", "search-drive"),
        ];
        for (id, service_type, index_name) in specs {
            put_new(&app, &app.bootstrap_key, id, json!({"service_type": service_type, "index_name": index_name})).await;
        }

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let query = match &cursor {
                Some(c) => format!("/v1/connectors?limit=2&cursor={c}"),
                None => "/v1/connectors?limit=2".to_owned(),
            };
            let res = app.get(&query, &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            let page: Value = res.json().await.unwrap();
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= 2, "limit honoured");
            seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"], "every connector once, by id");

        let cases = [
            ("service_type=google_drive", vec!["alpha", "bravo", "delta"]),
            ("index_name=search-drive", vec!["bravo", "charlie", "delta", "echo"]),
            ("service_type=google_drive&index_name=search-drive", vec!["bravo", "delta"]),
            ("service_type=google", vec![]),
        ];
        for (query, expected) in cases {
            let res = app.get(&format!("/v1/connectors?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
            let page: Value = res.json().await.unwrap();
            let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
            assert_eq!(ids, expected, "{query}");
            assert!(page["next_cursor"].is_null(), "{query}: one page");
        }
    }
}

backend_test! {
    async fn patch_changes_only_the_fields_present_and_null_clears(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        put_new(&app, &app.bootstrap_key, "my-connector", json!({
            "name": "My Connector",
            "description": "about",
            "index_name": "search-google-drive",
            "service_type": "google_drive",
            "api_key_id": key_id,
        }))
        .await;
        let (before, before_etag) = fetch(&app, &app.bootstrap_key, "my-connector").await;

        let res = app.patch(&path("my-connector"), &app.bootstrap_key, &json!({"name": "Renamed", "description": null})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let etag = header(&res, "etag");
        assert_ne!(etag, before_etag);
        let after: Value = res.json().await.unwrap();
        assert_eq!(after["name"], "Renamed");
        assert!(after["description"].is_null(), "null clears");
        for field in ["index_name", "service_type", "api_key_id", "api_key_secret_id", "created_at", "id", "organization_id"] {
            assert_eq!(after[field], before[field], "{field} is unchanged");
        }
        assert_ne!(after["updated_at"], before["updated_at"]);
        let (shown, shown_etag) = fetch(&app, &app.bootstrap_key, "my-connector").await;
        assert_eq!(shown, after);
        assert_eq!(shown_etag, etag);

        let res = app.patch(&path("my-connector"), &app.bootstrap_key, &json!({"index_name": null, "service_type": "sharepoint", "description": ""})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let after: Value = res.json().await.unwrap();
        assert!(after["index_name"].is_null());
        assert_eq!(after["service_type"], "sharepoint");
        assert_eq!(after["description"], "", "an empty description is allowed");
        assert_eq!(after["name"], "Renamed");
    }
}

backend_test! {
    async fn delete_removes_the_connector_and_leaves_its_key_and_secret(app) {
        let (key_id, key) = app.key_with_role("serving").await;
        let secret_id = create_secret(&app, &app.bootstrap_key).await;
        put_new(&app, &app.bootstrap_key, "doomed", json!({"api_key_id": key_id, "api_key_secret_id": secret_id})).await;

        let res = app.delete(&path("doomed"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.get(&path("doomed"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.delete(&path("doomed"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        let res = app.get(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the API key stays");
        let res = app.get("/v1/me", &key).await;
        assert_eq!(res.status(), StatusCode::OK, "and still authenticates");
        let res = app.get(&format!("/v1/secrets/{secret_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the secret stays");

        // Once unreferenced, both can go.
        let res = app.delete(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.delete(&format!("/v1/secrets/{secret_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

backend_test! {
    async fn api_key_id_sets_clears_and_reports_noop(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        let (other_key_id, _) = app.key_with_role("serving").await;
        let secret_id = create_secret(&app, &app.bootstrap_key).await;
        put_new(&app, &app.bootstrap_key, "my-connector", json!({"name": "My Connector"})).await;
        let target = api_key_id_path("my-connector");

        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": key_id, "api_key_secret_id": secret_id})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let etag = header(&res, "etag");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "updated");
        assert_eq!(body["connector"]["api_key_id"], key_id.as_str());
        assert_eq!(body["connector"]["api_key_secret_id"], secret_id.as_str());
        assert_eq!(body["connector"]["name"], "My Connector", "other fields stay");
        let (shown, shown_etag) = fetch(&app, &app.bootstrap_key, "my-connector").await;
        assert_eq!(shown, body["connector"]);
        assert_eq!(shown_etag, etag);

        // The same values again, or one of them, change nothing.
        for same in [json!({"api_key_id": key_id, "api_key_secret_id": secret_id}), json!({"api_key_id": key_id}), json!({"api_key_secret_id": secret_id})] {
            let res = put(&app, &target, &app.bootstrap_key, &same).await;
            assert_eq!(res.status(), StatusCode::OK, "{same}");
            assert_eq!(header(&res, "etag"), etag, "{same}: the ETag stays");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["result"], "noop", "{same}");
            assert_eq!(body["connector"], shown, "{same}: updated_at stays");
        }

        // One field changes, the other stays.
        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": other_key_id})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "updated");
        assert_eq!(body["connector"]["api_key_id"], other_key_id.as_str());
        assert_eq!(body["connector"]["api_key_secret_id"], secret_id.as_str());

        // null clears.
        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_secret_id": null})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "updated");
        assert!(body["connector"]["api_key_secret_id"].is_null());
        assert_eq!(body["connector"]["api_key_id"], other_key_id.as_str());
        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": null, "api_key_secret_id": null})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "updated");
        assert!(body["connector"]["api_key_id"].is_null());
        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": null})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "noop", "clearing a cleared field is a noop");

        let res = put(&app, &api_key_id_path(UNKNOWN_ID), &app.bootstrap_key, &json!({"api_key_id": key_id})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn noop_writes_no_audit_event_and_updated_writes_one(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        put_new(&app, &app.bootstrap_key, "audited", json!({})).await;
        let target = api_key_id_path("audited");
        let before = connector_events(&app, "audited").await;
        assert_eq!(actions(&before), ["put_connector"]);

        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": key_id})).await;
        let request_id = header(&res, "x-request-id");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "updated");
        let events = connector_events(&app, "audited").await;
        assert_eq!(actions(&events), ["put_connector", "update_connector_api_key_id"]);
        assert_eq!(events[1]["request_id"], request_id.as_str());
        assert_eq!(events[1]["outcome"], "success");

        let res = put(&app, &target, &app.bootstrap_key, &json!({"api_key_id": key_id})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"], "noop");
        let after = connector_events(&app, "audited").await;
        assert_eq!(after.len(), events.len(), "a noop writes no event: {after:?}");
    }
}

backend_test! {
    async fn each_mutation_writes_one_audit_event_in_its_transaction(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        let me: Value = app.get("/v1/me", &app.bootstrap_key).await.json().await.unwrap();
        let actor = me["id"].as_str().unwrap().to_owned();

        let created = create(&app, &app.bootstrap_key, json!({"name": "posted"})).await;
        let posted = created["id"].as_str().unwrap().to_owned();
        let steps: Vec<(&str, Response)> = vec![
            ("put_connector", put(&app, &path("audited"), &app.bootstrap_key, &json!({})).await),
            ("put_connector", put(&app, &path("audited"), &app.bootstrap_key, &json!({"name": "x"})).await),
            ("update_connector", app.patch(&path("audited"), &app.bootstrap_key, &json!({"name": "y"})).await),
            ("update_connector_api_key_id", put(&app, &api_key_id_path("audited"), &app.bootstrap_key, &json!({"api_key_id": key_id})).await),
            ("delete_connector", app.delete(&path("audited"), &app.bootstrap_key).await),
        ];
        let mut request_ids = Vec::new();
        for (action, res) in steps {
            assert!(res.status().is_success(), "{action}: {}", res.status());
            request_ids.push(header(&res, "x-request-id"));
        }

        let events = connector_events(&app, &posted).await;
        assert_eq!(actions(&events), ["create_connector"]);
        let events = connector_events(&app, "audited").await;
        assert_eq!(
            actions(&events),
            ["put_connector", "put_connector", "update_connector", "update_connector_api_key_id", "delete_connector"]
        );
        for (event, request_id) in events.iter().zip(&request_ids) {
            assert_eq!(event["request_id"], request_id.as_str(), "{event}");
            assert_eq!(event["actor_key_id"], actor.as_str(), "{event}");
            assert_eq!(event["organization_id"], me["organization_id"], "{event}");
            assert_eq!(event["resource_type"], "connector", "{event}");
            assert_eq!(event["outcome"], "success", "{event}");
        }

        // Refused input writes nothing.
        let res = app.patch(&path(&posted), &app.bootstrap_key, &json!({"name": ""})).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        let res = put(&app, &path(&posted), &app.bootstrap_key, &json!({"api_key_id": "aky_00000000000000000000000000000000"})).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        let res = send(&app, Method::DELETE, &path(&posted), &app.bootstrap_key, Some("\"stale\""), Some(&json!({}))).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        assert_eq!(connector_events(&app, &posted).await.len(), 1);
    }
}

backend_test! {
    async fn malformed_connector_ids_are_400(app) {
        let too_long = "a".repeat(129);
        let ids = [
            ("uppercase", "My-Connector"),
            ("leading dash", "-connector"),
            ("leading underscore", "_connector"),
            ("a dot", "my.connector"),
            ("a space", "my%20connector"),
            ("non-ASCII", "caf%C3%A9"),
            ("129 characters", too_long.as_str()),
        ];
        for (what, id) in ids {
            let requests = [
                ("get", app.request(Method::GET, &path(id), Some(&app.bootstrap_key))),
                ("put", app.request(Method::PUT, &path(id), Some(&app.bootstrap_key)).json(&json!({}))),
                ("patch", app.request(Method::PATCH, &path(id), Some(&app.bootstrap_key)).json(&json!({}))),
                ("delete", app.request(Method::DELETE, &path(id), Some(&app.bootstrap_key))),
                ("api_key_id", app.request(Method::PUT, &api_key_id_path(id), Some(&app.bootstrap_key)).json(&json!({"api_key_id": null}))),
            ];
            for (op, request) in requests {
                let res = request.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{op} with {what}");
                assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
            }
        }
        let res = app.get("/v1/connectors", &app.bootstrap_key).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"], json!([]), "no malformed PUT created anything");

        // The longest and shortest ids are fine.
        put_new(&app, &app.bootstrap_key, &"a".repeat(128), json!({})).await;
        put_new(&app, &app.bootstrap_key, "0", json!({})).await;
    }
}

backend_test! {
    async fn invalid_bodies_are_400_and_change_nothing(app) {
        put_new(&app, &app.bootstrap_key, "target", json!({"name": "kept"})).await;
        let long = |n: usize| "x".repeat(n);
        // (case, body, field with a `length` error; None: `invalid_body`)
        let cases = [
            ("empty name", json!({"name": ""}), Some("name")),
            ("256-character name", json!({"name": long(256)}), Some("name")),
            ("1001-character description", json!({"description": long(1001)}), Some("description")),
            ("empty index_name", json!({"index_name": ""}), Some("index_name")),
            ("256-character index_name", json!({"index_name": long(256)}), Some("index_name")),
            ("empty service_type", json!({"service_type": ""}), Some("service_type")),
            ("101-character service_type", json!({"service_type": long(101)}), Some("service_type")),
            ("unknown field", json!({"name": "x", "configuration": {}}), None),
            ("id in the body", json!({"id": "other"}), None),
            ("name is a number", json!({"name": 5}), None),
            ("index_name is an array", json!({"index_name": ["a"]}), None),
        ];
        for (what, body, field) in &cases {
            let requests = [
                ("create", app.request(Method::POST, "/v1/connectors", Some(&app.bootstrap_key))),
                ("put create", app.request(Method::PUT, &path("new-one"), Some(&app.bootstrap_key))),
                ("put replace", app.request(Method::PUT, &path("target"), Some(&app.bootstrap_key))),
                ("patch", app.request(Method::PATCH, &path("target"), Some(&app.bootstrap_key))),
            ];
            for (op, request) in requests {
                let res = request.json(body).send().await.unwrap();
                let what = format!("{op}: {what}");
                match field {
                    Some(field) => {
                        assert_field_error(res, field, "length", &what).await;
                    }
                    None => {
                        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
                    }
                }
            }
        }
        // The limits themselves are fine.
        let at_limits = json!({"name": long(255), "description": long(1000), "index_name": long(255), "service_type": long(100)});
        create(&app, &app.bootstrap_key, at_limits.clone()).await;
        let res = app.patch(&path("target"), &app.bootstrap_key, &at_limits).await;
        assert_eq!(res.status(), StatusCode::OK, "PATCH at the limits");
        let res = put(&app, &path("target"), &app.bootstrap_key, &json!({"name": "kept"})).await;
        assert_eq!(res.status(), StatusCode::OK);

        // Not JSON objects.
        for (what, body) in [("an array", json!([])), ("a string", json!("x")), ("null", json!(null))] {
            let res = app.post("/v1/connectors", &app.bootstrap_key, &body).await;
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
            let res = put(&app, &api_key_id_path("target"), &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "api_key_id with {what}");
        }
        let res = app
            .request(Method::POST, "/v1/connectors", Some(&app.bootstrap_key))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

        let (target, _) = fetch(&app, &app.bootstrap_key, "target").await;
        assert_eq!(target["name"], "kept");
        let res = app.get(&path("new-one"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let page: Value = app.get("/v1/connectors", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), 2, "only the valid creates: {page}");
    }
}

backend_test! {
    async fn api_key_id_needs_at_least_one_known_field(app) {
        put_new(&app, &app.bootstrap_key, "target", json!({})).await;
        let target = api_key_id_path("target");
        let res = put(&app, &target, &app.bootstrap_key, &json!({})).await;
        let body = assert_field_error(res, "api_key_id", "required", "empty body").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["api_key_id", "api_key_secret_id"], "both named: {body}");

        let cases = [
            ("unknown field", json!({"api_key_id": null, "name": "x"})),
            ("a number", json!({"api_key_id": 5})),
            ("an object", json!({"api_key_secret_id": {"id": "x"}})),
        ];
        for (what, body) in cases {
            let res = put(&app, &target, &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        }
    }
}

backend_test! {
    async fn references_must_name_a_key_and_secret_of_the_callers_organization(app) {
        let acme = app.other_organization("acme").await.1;
        let acme_me: Value = app.get("/v1/me", &acme).await.json().await.unwrap();
        let acme_key_id = acme_me["id"].as_str().unwrap().to_owned();
        let acme_secret = create_secret(&app, &acme).await;
        let (own_key_id, _) = app.key_with_role("serving").await;
        let own_secret = create_secret(&app, &app.bootstrap_key).await;
        put_new(&app, &app.bootstrap_key, "target", json!({"name": "kept"})).await;

        let missing_key = "aky_00000000000000000000000000000000";
        let cases = [
            ("an unknown key", json!({"api_key_id": missing_key}), vec!["api_key_id"]),
            ("a key that is not a key id", json!({"api_key_id": "not-a-key"}), vec!["api_key_id"]),
            ("another organization's key", json!({"api_key_id": acme_key_id}), vec!["api_key_id"]),
            ("an unknown secret", json!({"api_key_secret_id": "no-such-secret"}), vec!["api_key_secret_id"]),
            ("another organization's secret", json!({"api_key_secret_id": acme_secret}), vec!["api_key_secret_id"]),
            ("a good key, a bad secret", json!({"api_key_id": own_key_id, "api_key_secret_id": acme_secret}), vec!["api_key_secret_id"]),
            ("a bad key, a good secret", json!({"api_key_id": acme_key_id, "api_key_secret_id": own_secret}), vec!["api_key_id"]),
            ("both bad", json!({"api_key_id": missing_key, "api_key_secret_id": "no-such-secret"}), vec!["api_key_id", "api_key_secret_id"]),
        ];
        for (what, body, fields) in &cases {
            let requests = [
                ("create", app.request(Method::POST, "/v1/connectors", Some(&app.bootstrap_key))),
                ("put create", app.request(Method::PUT, &path("new-one"), Some(&app.bootstrap_key))),
                ("put replace", app.request(Method::PUT, &path("target"), Some(&app.bootstrap_key))),
                ("api_key_id", app.request(Method::PUT, &api_key_id_path("target"), Some(&app.bootstrap_key))),
            ];
            for (op, request) in requests {
                let res = request.json(body).send().await.unwrap();
                let what = format!("{op} with {what}");
                let problem = assert_field_error(res, fields[0], "reference_not_found", &what).await;
                let named: Vec<&str> = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
                assert_eq!(&named, fields, "{what}: {problem}");
            }
        }
        let page: Value = app.get("/v1/connectors", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "nothing created: {page}");
        let (target, _) = fetch(&app, &app.bootstrap_key, "target").await;
        assert_eq!(target["name"], "kept");
        assert!(target["api_key_id"].is_null() && target["api_key_secret_id"].is_null());

        // The organization's own key and secret are accepted everywhere.
        let good = json!({"api_key_id": own_key_id, "api_key_secret_id": own_secret});
        create(&app, &app.bootstrap_key, good.clone()).await;
        put_new(&app, &app.bootstrap_key, "new-one", good.clone()).await;
        let res = put(&app, &api_key_id_path("target"), &app.bootstrap_key, &good).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn calls_without_a_valid_key_are_401(app) {
        put_new(&app, &app.bootstrap_key, "target", json!({})).await;
        let requests = [
            ("list", Method::GET, "/v1/connectors".to_owned()),
            ("create", Method::POST, "/v1/connectors".to_owned()),
            ("get", Method::GET, path("target")),
            ("put", Method::PUT, path("target")),
            ("patch", Method::PATCH, path("target")),
            ("delete", Method::DELETE, path("target")),
            ("api_key_id", Method::PUT, api_key_id_path("target")),
        ];
        for (what, method, target) in requests {
            let res = app.request(method.clone(), &target, None).json(&json!({"name": "x"})).send().await.unwrap();
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
            let res = app.request(method, &target, Some("kg_ak_not-a-real-key")).json(&json!({"name": "x"})).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what} with a malformed key");
        }
        let (target, _) = fetch(&app, &app.bootstrap_key, "target").await;
        assert!(target["name"].is_null(), "nothing changed");
    }
}

backend_test! {
    async fn serving_keys_read_connectors_and_indexing_keys_write_them(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        put_new(&app, &app.bootstrap_key, "target", json!({"name": "kept"})).await;

        let res = app.get("/v1/connectors", &serving).await;
        assert_eq!(res.status(), StatusCode::OK, "serving may list");
        let (shown, _) = fetch(&app, &serving, "target").await;
        assert_eq!(shown["name"], "kept", "serving may get");

        let writes = [
            ("create_connector", Method::POST, "/v1/connectors".to_owned(), json!({})),
            ("put_connector", Method::PUT, path("target"), json!({})),
            ("put_connector", Method::PUT, path("other"), json!({})),
            ("update_connector", Method::PATCH, path("target"), json!({"name": "x"})),
            ("update_connector_api_key_id", Method::PUT, api_key_id_path("target"), json!({"api_key_id": null})),
            ("delete_connector", Method::DELETE, path("target"), json!({})),
        ];
        for (op, method, target, body) in &writes {
            let res = app.request(method.clone(), target, Some(&serving)).json(body).send().await.unwrap();
            let problem = assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
            assert_eq!(problem["missing_permission"], *op, "{op}");
        }
        let (shown, _) = fetch(&app, &app.bootstrap_key, "target").await;
        assert_eq!(shown["name"], "kept", "no refused write changed anything");
        let res = app.get(&path("other"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // serving_and_indexing may do all of it.
        for (op, method, target, body) in writes {
            let res = app.request(method, &target, Some(&indexing)).json(&body).send().await.unwrap();
            assert!(res.status().is_success(), "{op} with serving_and_indexing: {}", res.status());
        }
    }
}

backend_test! {
    async fn unknown_and_other_organizations_connectors_are_404(app) {
        let acme = app.other_organization("acme").await.1;
        put_new(&app, &app.bootstrap_key, "my-connector", json!({"name": "root's"})).await;

        for (who, key, id) in [("root", app.bootstrap_key.as_str(), UNKNOWN_ID), ("acme", acme.as_str(), "my-connector")] {
            let requests = [
                ("get", app.request(Method::GET, &path(id), Some(key))),
                ("patch", app.request(Method::PATCH, &path(id), Some(key)).json(&json!({"name": "x"}))),
                ("delete", app.request(Method::DELETE, &path(id), Some(key))),
                ("api_key_id", app.request(Method::PUT, &api_key_id_path(id), Some(key)).json(&json!({"api_key_id": null}))),
            ];
            for (op, request) in requests {
                let res = request.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::NOT_FOUND, "{who}: {op} {id}");
                assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            }
        }
        let page: Value = app.get("/v1/connectors", &acme).await.json().await.unwrap();
        assert_eq!(page["data"], json!([]), "acme lists none of root's");

        // Ids are per organization: acme's PUT creates acme's own.
        let theirs = put_new(&app, &acme, "my-connector", json!({"name": "acme's"})).await;
        let res = app.delete(&path("my-connector"), &acme).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let (ours, _) = fetch(&app, &app.bootstrap_key, "my-connector").await;
        assert_eq!(ours["name"], "root's", "root's connector is untouched");
        assert_ne!(ours["organization_id"], theirs["organization_id"]);
    }
}

backend_test! {
    async fn an_api_key_a_connector_names_cannot_be_deleted(app) {
        let (key_id, key) = app.key_with_role("serving").await;
        put_new(&app, &app.bootstrap_key, "uses-key", json!({"api_key_id": key_id})).await;

        let res = app.delete(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::CONFLICT, "still_referenced").await;
        let res = app.get(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the key is still there");
        let res = app.get("/v1/me", &key).await;
        assert_eq!(res.status(), StatusCode::OK, "and its secret still authenticates");
        let (connector, _) = fetch(&app, &app.bootstrap_key, "uses-key").await;
        assert_eq!(connector["api_key_id"], key_id.as_str());

        // Unreferenced, it can be deleted.
        let res = put(&app, &api_key_id_path("uses-key"), &app.bootstrap_key, &json!({"api_key_id": null})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.delete(&format!("/v1/api_keys/{key_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

backend_test! {
    async fn a_secret_a_connector_names_cannot_be_deleted(app) {
        let secret_id = create_secret(&app, &app.bootstrap_key).await;
        put_new(&app, &app.bootstrap_key, "uses-secret", json!({"api_key_secret_id": secret_id})).await;

        let res = app.delete(&format!("/v1/secrets/{secret_id}"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::CONFLICT, "still_referenced").await;
        let res = app.get(&format!("/v1/secrets/{secret_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the secret is still there");
    }
}

backend_test! {
    async fn a_stale_if_match_is_412_and_changes_nothing(app) {
        let (key_id, _) = app.key_with_role("serving").await;
        put_new(&app, &app.bootstrap_key, "guarded", json!({"name": "kept"})).await;
        let (before, etag) = fetch(&app, &app.bootstrap_key, "guarded").await;

        let stale = "\"0000000000\"";
        let cases = [
            ("patch", Method::PATCH, path("guarded"), json!({"name": "x"})),
            ("put", Method::PUT, path("guarded"), json!({"name": "x"})),
            ("api_key_id", Method::PUT, api_key_id_path("guarded"), json!({"api_key_id": key_id})),
            ("delete", Method::DELETE, path("guarded"), json!({})),
        ];
        for (what, method, target, body) in &cases {
            let res = send(&app, method.clone(), target, &app.bootstrap_key, Some(stale), Some(body)).await;
            assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "{what}");
            assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        }
        let (after, after_etag) = fetch(&app, &app.bootstrap_key, "guarded").await;
        assert_eq!(after, before, "no stale write applied");
        assert_eq!(after_etag, etag);
        assert_eq!(actions(&connector_events(&app, "guarded").await), ["put_connector"]);

        // A PUT that would create has no version to match.
        for tag in [stale, "*"] {
            let res = send(&app, Method::PUT, &path("absent"), &app.bootstrap_key, Some(tag), Some(&json!({}))).await;
            assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        }
        let res = app.get(&path("absent"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // The current ETag (or `*`) lets each write through, one after another.
        let mut etag = etag;
        for (what, method, target, body) in cases {
            let res = send(&app, method, &target, &app.bootstrap_key, Some(&etag), Some(&body)).await;
            assert!(res.status().is_success(), "{what} with the current ETag: {}", res.status());
            if let Some(next) = res.headers().get("etag") {
                etag = next.to_str().unwrap().to_owned();
            }
        }
        let res = app.get(&path("guarded"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        put_new(&app, &app.bootstrap_key, "starred", json!({})).await;
        let res = send(&app, Method::PATCH, &path("starred"), &app.bootstrap_key, Some("*"), Some(&json!({"name": "x"}))).await;
        assert_eq!(res.status(), StatusCode::OK, "* matches an existing connector");
    }
}
