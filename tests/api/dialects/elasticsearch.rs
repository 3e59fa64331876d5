//! The Elasticsearch dialect (`/_connector`, `/_connector/_secret`, `GET`
//! and `HEAD /`): its committed document, each route's success and errors
//! in Elasticsearch's envelope with `X-Elastic-Product` on every answer, the
//! same resources natively, roles, policies and the audit trail.

use keygate::config::MasterKeySource;
use keygate::keys::format::{self as key_format, KeyKind};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

#[test]
fn committed_document_matches_the_generated_one() {
    crate::dialects::check_committed(
        "elasticsearch",
        &keygate::dialects::elasticsearch::document_pretty(),
    );
}

/// A request to the dialect with `Authorization: ApiKey <key>`, as
/// elasticsearch-py sends it, and its content type.
fn es(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    app.client
        .request(method, format!("{}{}", app.address, path))
        .header("authorization", format!("ApiKey {key}"))
        .header(
            "accept",
            "application/vnd.elasticsearch+json; compatible-with=9",
        )
}

/// Sends with an optional body in the client's content type.
async fn send_es(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = es(app, method, path, key);
    if let Some(body) = body {
        req = req
            .header(
                "content-type",
                "application/vnd.elasticsearch+json; compatible-with=9",
            )
            .body(body.to_string());
    }
    req.send().await.expect("request")
}

/// Asserts a success: the status, the product header and a JSON body.
async fn assert_ok(res: Response, what: &str) -> Value {
    let status = res.status();
    assert_eq!(
        res.headers()
            .get("x-elastic-product")
            .map(|v| v.to_str().unwrap()),
        Some("Elasticsearch"),
        "{what}: product header"
    );
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

/// Asserts an error in Elasticsearch's envelope: status, JSON (never
/// problem+json), the product header, `type`, keygate's `code`; returns the
/// body.
async fn assert_es_error(res: Response, status: StatusCode, kind: &str, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let content_type = header(&res, "content-type");
    assert_eq!(content_type, "application/json", "never problem+json");
    assert_eq!(header(&res, "x-elastic-product"), "Elasticsearch");
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["root_cause"][0]["type"], kind, "{body}");
    assert!(body["error"]["reason"].is_string(), "{body}");
    body
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        crate::dialects::assert_served(&app, "elasticsearch").await;
    }
}

backend_test! {
    async fn info_and_ping_answer_without_a_key_with_the_product_header(app) {
        let res = app.client.get(format!("{}/", app.address)).send().await.unwrap();
        let info = assert_ok(res, "GET /").await;
        assert_eq!(info["name"], "keygate");
        assert_eq!(info["version"]["number"], "9.0.0");
        assert_eq!(info["tagline"], "You Know, for Search");

        let res = app.client.head(format!("{}/", app.address)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "x-elastic-product"), "Elasticsearch");
        assert!(res.bytes().await.unwrap().is_empty());

        let res = app.client.delete(format!("{}/", app.address)).send().await.unwrap();
        assert_eq!(header(&res, "allow"), "GET, HEAD");
        assert_es_error(res, StatusCode::METHOD_NOT_ALLOWED, "status_exception", "method_not_allowed").await;
    }
}

backend_test! {
    async fn connectors_round_trip_and_are_the_native_connectors(app) {
        let key = &app.bootstrap_key;
        let body = json!({"name": "Drive", "index_name": "search-drive", "service_type": "google_drive", "is_native": false, "language": "en"});
        let res = send_es(&app, Method::PUT, "/_connector/my-drive", key, Some(&body)).await;
        assert_eq!(assert_ok(res, "put new").await, json!({"result": "created", "id": "my-drive"}));

        let res = send_es(&app, Method::GET, "/_connector/my-drive?include_deleted=false", key, None).await;
        let connector = assert_ok(res, "get").await;
        assert_eq!(connector, json!({
            "id": "my-drive", "name": "Drive", "description": null, "index_name": "search-drive",
            "service_type": "google_drive", "api_key_id": null, "api_key_secret_id": null,
            "is_native": false, "language": null, "status": "created", "sync_now": false,
            "deleted": false, "configuration": {}, "custom_scheduling": {}, "scheduling": {},
            "filtering": []
        }));

        // The same connector natively.
        let res = app.get("/v1/connectors/my-drive", key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["index_name"], "search-drive");

        // PUT again replaces the descriptive fields.
        let res = send_es(&app, Method::PUT, "/_connector/my-drive", key, Some(&json!({"name": "Drive 2"}))).await;
        assert_eq!(assert_ok(res, "put existing").await, json!({"result": "updated", "id": "my-drive"}));
        let res = app.get("/v1/connectors/my-drive", key).await;
        let native: Value = res.json().await.unwrap();
        assert_eq!((native["name"].as_str(), native["index_name"].as_str()), (Some("Drive 2"), None));

        // POST and PUT without an id both create with a server id, even
        // without a body.
        let res = send_es(&app, Method::POST, "/_connector", key, Some(&json!({"service_type": "jira"}))).await;
        let posted = assert_ok(res, "post").await;
        assert_eq!(posted["result"], "created");
        let posted_id = posted["id"].as_str().unwrap().to_owned();
        assert!(posted_id.starts_with("con_"), "{posted}");
        let res = send_es(&app, Method::PUT, "/_connector", key, None).await;
        let put_id = assert_ok(res, "put without id").await["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get(&format!("/v1/connectors/{put_id}"), key).await.status(), StatusCode::OK);

        let res = send_es(&app, Method::DELETE, &format!("/_connector/{posted_id}?delete_sync_jobs=true&hard=true"), key, None).await;
        assert_eq!(assert_ok(res, "delete").await, json!({"acknowledged": true}));
        let res = send_es(&app, Method::GET, &format!("/_connector/{posted_id}"), key, None).await;
        let body = assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
        assert!(body["error"]["reason"].as_str().unwrap().contains(&posted_id), "{body}");
        let res = send_es(&app, Method::DELETE, &format!("/_connector/{posted_id}"), key, None).await;
        assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
        let res = app.get(&format!("/v1/connectors/{posted_id}"), key).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

backend_test! {
    async fn the_list_pages_by_offset_counts_and_filters(app) {
        let key = &app.bootstrap_key;
        for (id, name, index, service) in [
            ("c1", "Alpha Drive", "idx-a", "google_drive"),
            ("c2", "Beta 100%", "idx-b", "jira"),
            ("c3", "Gamma", "idx-c", "google_drive"),
            ("c4", "delta_x", "idx-drive", "slack"),
        ] {
            let body = json!({"name": name, "index_name": index, "service_type": service});
            let res = send_es(&app, Method::PUT, &format!("/_connector/{id}"), key, Some(&body)).await;
            assert_ok(res, id).await;
        }
        let ids = |v: &Value| -> Vec<String> {
            v["results"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
        };
        let cases: &[(&str, i64, &[&str])] = &[
            ("", 4, &["c1", "c2", "c3", "c4"]),
            ("?from=1&size=2", 4, &["c2", "c3"]),
            ("?from=4", 4, &[]),
            ("?size=0", 4, &[]),
            ("?service_type=google_drive", 2, &["c1", "c3"]),
            ("?service_type=google_drive,slack&size=2", 3, &["c1", "c3"]),
            ("?connector_name=Gamma,Beta%20100%25", 2, &["c2", "c3"]),
            ("?index_name=idx-b", 1, &["c2"]),
            // Text matches name, description or index, ignoring case.
            ("?query=DRIVE", 2, &["c1", "c4"]),
            // LIKE's own characters are matched literally.
            ("?query=100%25", 1, &["c2"]),
            ("?query=a_x", 1, &["c4"]),
            ("?query=_", 1, &["c4"]),
            ("?include_deleted=true&query=", 4, &["c1", "c2", "c3", "c4"]),
        ];
        for (query, count, expected) in cases {
            let res = send_es(&app, Method::GET, &format!("/_connector{query}"), key, None).await;
            let page = assert_ok(res, query).await;
            assert_eq!(page["count"], *count, "{query}: {page}");
            assert_eq!(ids(&page), *expected, "{query}");
        }
        for (query, field) in [("?size=1001", "size"), ("?from=10001", "from")] {
            let res = send_es(&app, Method::GET, &format!("/_connector{query}"), key, None).await;
            let body = assert_es_error(res, StatusCode::BAD_REQUEST, "action_request_validation_exception", "validation_failed").await;
            assert!(body["error"]["reason"].as_str().unwrap().contains(field), "{query}: {body}");
        }
        let res = send_es(&app, Method::GET, "/_connector?size=-1", key, None).await;
        assert_es_error(res, StatusCode::BAD_REQUEST, "illegal_argument_exception", "invalid_query_parameter").await;
    }
}

/// Creates a secret through the dialect; returns its id.
async fn create_secret(app: &TestApp, value: &str) -> String {
    let res = send_es(
        app,
        Method::POST,
        "/_connector/_secret",
        &app.bootstrap_key,
        Some(&json!({"value": value})),
    )
    .await;
    let body = assert_ok(res, "create secret").await;
    body["id"].as_str().unwrap().to_owned()
}

backend_test! {
    async fn the_api_key_id_is_checked_set_kept_and_noop_when_unchanged(app) {
        let key = &app.bootstrap_key;
        let res = send_es(&app, Method::PUT, "/_connector/c", key, Some(&json!({"name": "C"}))).await;
        assert_ok(res, "put").await;
        let (api_key_id, _) = app.key_with_role("serving_and_indexing").await;
        let secret_id = create_secret(&app, "encoded").await;
        let path = "/_connector/c/_api_key_id";

        let res = send_es(&app, Method::PUT, path, key, Some(&json!({}))).await;
        assert_eq!(assert_ok(res, "empty").await, json!({"result": "noop"}));
        let body = json!({"api_key_id": api_key_id, "api_key_secret_id": secret_id});
        let res = send_es(&app, Method::PUT, path, key, Some(&body)).await;
        assert_eq!(assert_ok(res, "set").await, json!({"result": "updated"}));
        let res = send_es(&app, Method::PUT, path, key, Some(&body)).await;
        assert_eq!(assert_ok(res, "same again").await, json!({"result": "noop"}));

        // A PUT of the connector keeps the key and secret.
        let res = send_es(&app, Method::PUT, "/_connector/c", key, Some(&json!({"name": "C2"}))).await;
        assert_ok(res, "put again").await;
        let res = send_es(&app, Method::GET, "/_connector/c", key, None).await;
        let connector = assert_ok(res, "get").await;
        assert_eq!((connector["api_key_id"].as_str(), connector["api_key_secret_id"].as_str()), (Some(api_key_id.as_str()), Some(secret_id.as_str())));
        let res = app.get("/v1/connectors/c", key).await;
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["api_key_id"], api_key_id.as_str());

        // The references name keygate resources of the organization.
        let res = send_es(&app, Method::PUT, path, key, Some(&json!({"api_key_id": "VuaCfGcBCdbkQm-e5aOx"}))).await;
        let err = assert_es_error(res, StatusCode::BAD_REQUEST, "action_request_validation_exception", "validation_failed").await;
        assert_eq!(err["error"]["reason"], "Validation Failed: 1: api_key_id: no API key with this id in the organization;");
        let res = send_es(&app, Method::PUT, path, key, Some(&json!({"api_key_secret_id": "nope"}))).await;
        assert_es_error(res, StatusCode::BAD_REQUEST, "action_request_validation_exception", "validation_failed").await;
        // null clears.
        let res = send_es(&app, Method::PUT, path, key, Some(&json!({"api_key_id": null}))).await;
        assert_eq!(assert_ok(res, "clear").await, json!({"result": "updated"}));

        let res = send_es(&app, Method::PUT, "/_connector/nope/_api_key_id", key, Some(&json!({}))).await;
        assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;

        // The secret is still named by the connector: 409.
        let res = send_es(&app, Method::DELETE, &format!("/_connector/_secret/{secret_id}"), key, None).await;
        assert_es_error(res, StatusCode::CONFLICT, "version_conflict_engine_exception", "still_referenced").await;
    }
}

backend_test! {
    async fn secrets_round_trip_and_are_the_native_secrets(app) {
        let key = &app.bootstrap_key;
        let id = create_secret(&app, "first value").await;
        assert!(id.starts_with("sec_"), "{id}");
        let path = format!("/_connector/_secret/{id}");

        let res = send_es(&app, Method::GET, &path, key, None).await;
        assert_eq!(assert_ok(res, "get").await, json!({"id": id, "value": "first value"}));
        let res = app.get(&format!("/v1/secrets/{id}"), key).await;
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["value"], "first value");

        let res = send_es(&app, Method::PUT, &path, key, Some(&json!({"value": "second"}))).await;
        assert_eq!(assert_ok(res, "replace").await, json!({"result": "updated"}));
        let res = send_es(&app, Method::PUT, "/_connector/_secret/chosen-id", key, Some(&json!({"value": "v"}))).await;
        assert_eq!(assert_ok(res, "put new").await, json!({"result": "created"}));
        let res = send_es(&app, Method::GET, &path, key, None).await;
        assert_eq!(assert_ok(res, "get replaced").await["value"], "second");

        let res = send_es(&app, Method::DELETE, &path, key, None).await;
        assert_eq!(assert_ok(res, "delete").await, json!({"deleted": true}));
        for method in [Method::GET, Method::DELETE] {
            let res = send_es(&app, method.clone(), &path, key, None).await;
            assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
        }

        // Reads are audited under the dialect operation's name.
        let res = app.get(&format!("/v1/audit_events?limit=100&resource_id={id}"), key).await;
        let page: Value = res.json().await.unwrap();
        let actions: Vec<&str> = page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for action in ["es_create_secret", "es_get_secret", "get_secret", "es_put_secret", "es_delete_secret"] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        let text = page.to_string();
        assert!(!text.contains("first value") && !text.contains("second"), "no value in the audit trail");
    }
}

backend_test! {
    async fn bad_input_is_an_elasticsearch_400_naming_the_field(app) {
        let key = &app.bootstrap_key;
        let long = "x".repeat(256);
        let cases: Vec<(Method, &str, Value, &str, &str, &str)> = vec![
            (Method::PUT, "/_connector/c", json!({"name": long}), "action_request_validation_exception", "validation_failed", "name"),
            (Method::PUT, "/_connector/c", json!({"name": ""}), "action_request_validation_exception", "validation_failed", "name"),
            (Method::POST, "/_connector", json!({"is_native": true}), "action_request_validation_exception", "validation_failed", "is_native"),
            (Method::PUT, "/_connector/c", json!({"unknown": 1}), "x_content_parse_exception", "invalid_body", "not one of its fields"),
            (Method::PUT, "/_connector/c/_api_key_id", json!({"api_key_id": 5}), "x_content_parse_exception", "invalid_body", "api_key_id"),
            (Method::POST, "/_connector/_secret", json!({"value": ""}), "action_request_validation_exception", "validation_failed", "value"),
            (Method::POST, "/_connector/_secret", json!({}), "x_content_parse_exception", "invalid_body", "value"),
            (Method::PUT, "/_connector/Bad%20Id", json!({}), "illegal_argument_exception", "invalid_path_parameter", "lowercase"),
        ];
        for (method, path, body, kind, code, names) in cases {
            let res = send_es(&app, method.clone(), path, key, Some(&body)).await;
            let err = assert_es_error(res, StatusCode::BAD_REQUEST, kind, code).await;
            assert!(err["error"]["reason"].as_str().unwrap().contains(names), "{method} {path} {body}: {err}");
            assert!(!err.to_string().contains(&"x".repeat(256)), "no value echoed");
        }
        let res = es(&app, Method::POST, "/_connector/_secret", key)
            .header("content-type", "text/plain")
            .body("value")
            .send()
            .await
            .unwrap();
        assert_es_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "media_type_header_exception", "unsupported_media_type").await;
        let res = send_es(&app, Method::PUT, "/_connector/c", key, Some(&json!({"description": "d".repeat(600_000)}))).await;
        assert_es_error(res, StatusCode::PAYLOAD_TOO_LARGE, "status_exception", "payload_too_large").await;
        let res = send_es(&app, Method::GET, "/_cat/indices", key, None).await;
        assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
        let res = send_es(&app, Method::PATCH, "/_connector/c", key, None).await;
        assert_es_error(res, StatusCode::METHOD_NOT_ALLOWED, "status_exception", "method_not_allowed").await;
        // The concrete `/_connector/_secret` is no connector named `_secret`.
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            let res = send_es(&app, method.clone(), "/_connector/_secret", key, Some(&json!({"value": "v"}))).await;
            assert_eq!(header(&res, "allow"), "POST", "{method}");
            assert_es_error(res, StatusCode::METHOD_NOT_ALLOWED, "status_exception", "method_not_allowed").await;
        }
    }
}

backend_test! {
    async fn keys_roles_and_policies_apply_as_natively(app) {
        let res = app.client.get(format!("{}/_connector", app.address)).send().await.unwrap();
        assert_es_error(res, StatusCode::UNAUTHORIZED, "security_exception", "unauthorized").await;
        let res = es(&app, Method::GET, "/_connector", "kg_ak_notakey").send().await.unwrap();
        assert_es_error(res, StatusCode::UNAUTHORIZED, "security_exception", "unauthorized").await;
        // Bearer works as well as ApiKey.
        let res = app.get("/_connector", &app.bootstrap_key).await;
        assert_ok(res, "bearer").await;

        let secret_id = create_secret(&app, "hidden").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = send_es(&app, Method::GET, "/_connector", &serving, None).await;
        assert_ok(res, "serving lists").await;
        let res = send_es(&app, Method::PUT, "/_connector/c", &serving, Some(&json!({}))).await;
        assert_es_error(res, StatusCode::FORBIDDEN, "security_exception", "insufficient_role").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let res = send_es(&app, Method::GET, &format!("/_connector/_secret/{secret_id}"), &indexing, None).await;
        let err = assert_es_error(res, StatusCode::FORBIDDEN, "security_exception", "insufficient_role").await;
        assert_eq!(err["error"]["missing_permission"], "get_secret", "{err}");
        assert!(!err.to_string().contains("hidden"));

        // A policy names the native twin and governs the dialect route.
        for id in ["allowed", "other"] {
            let res = send_es(&app, Method::PUT, &format!("/_connector/{id}"), &app.bootstrap_key, None).await;
            assert_ok(res, id).await;
        }
        let narrowed = app.create_key(&app.bootstrap_key, json!({
            "name": "one connector", "api_key_role": "serving",
            "api_policy": {"allowed_operations": {"get_connector": {
                "allow_any_resource": false, "allowed_resources": {"connector_id": ["allowed"]}
            }}}
        })).await;
        let narrowed = narrowed["key"].as_str().unwrap();
        let res = send_es(&app, Method::GET, "/_connector/allowed", narrowed, None).await;
        assert_ok(res, "allowed by policy").await;
        let res = send_es(&app, Method::GET, "/_connector/other", narrowed, None).await;
        let err = assert_es_error(res, StatusCode::FORBIDDEN, "security_exception", "operation_not_allowed").await;
        assert_eq!(err["error"]["missing_permission"], "get_connector");
        let res = send_es(&app, Method::GET, "/_connector", narrowed, None).await;
        assert_es_error(res, StatusCode::FORBIDDEN, "security_exception", "operation_not_allowed").await;

        // Another organization's connector is a 404.
        let org = app.post("/v1/organizations", &app.bootstrap_key, &json!({"name": "other-org"})).await;
        assert_eq!(org.status(), StatusCode::CREATED);
        let org: Value = org.json().await.unwrap();
        let outsider = org["api_key"]["key"].as_str().expect("the new organization's key");
        let res = send_es(&app, Method::GET, "/_connector/allowed", outsider, None).await;
        assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
        let res = send_es(&app, Method::GET, &format!("/_connector/_secret/{secret_id}"), outsider, None).await;
        assert_es_error(res, StatusCode::NOT_FOUND, "resource_not_found_exception", "not_found").await;
    }
}

#[actix_web::test]
async fn without_a_master_key_secrets_answer_an_elasticsearch_503() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let address = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Absent),
        &bootstrap,
    ));
    let res = reqwest::Client::new()
        .post(format!("{address}/_connector/_secret"))
        .header("authorization", format!("ApiKey {bootstrap}"))
        .json(&json!({"value": "v"}))
        .send()
        .await
        .unwrap();
    assert_es_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "status_exception",
        "master_key_missing",
    )
    .await;
}
