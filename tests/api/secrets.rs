//! `/v1/secrets`: values round-trip exactly and only to `personal` keys,
//! metadata never carries them, PUT creates or replaces, `If-Match`, roles,
//! policies and organizations, the audit trail, encryption at rest, and
//! starting with the wrong master key.

use diesel::QueryableByName;
use keygate::config::{MasterKeySource, Settings};
use keygate::crypto::envelope::MasterKey;
use keygate::keys::format::{self as key_format, KeyKind};
use regex::Regex;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// The exact fields of a secret's metadata.
const METADATA_FIELDS: [&str; 6] = [
    "id",
    "organization_id",
    "description",
    "created_at",
    "updated_at",
    "version",
];

/// Asserts a metadata view: exactly the metadata fields, no `value`.
fn assert_metadata(view: &Value, what: &str) {
    let object = view
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {view}"));
    assert!(object.get("value").is_none(), "{what}: `value` in {view}");
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected = METADATA_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{what}: metadata fields of {view}");
}

/// POST /v1/secrets with a key.
async fn post_secret(app: &TestApp, key: &str, body: &Value) -> Response {
    app.post("/v1/secrets", key, body).await
}

/// PUT /v1/secrets/{id}, optionally with `If-Match`.
async fn put_secret(
    app: &TestApp,
    key: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Response {
    send(
        app,
        Method::PUT,
        &format!("/v1/secrets/{id}"),
        key,
        if_match,
        Some(body),
    )
    .await
}

/// DELETE /v1/secrets/{id}, optionally with `If-Match`.
async fn delete_secret(app: &TestApp, key: &str, id: &str, if_match: Option<&str>) -> Response {
    send(
        app,
        Method::DELETE,
        &format!("/v1/secrets/{id}"),
        key,
        if_match,
        None,
    )
    .await
}

/// A created secret: its id, ETag and metadata.
struct Created {
    id: String,
    etag: String,
    body: Value,
}

/// Creates a secret with the bootstrap key, asserting 201, the Location, the
/// id form, an ETag and a body of metadata only without the value.
async fn create(app: &TestApp, body: Value) -> Created {
    let res = post_secret(app, &app.bootstrap_key, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create_secret");
    let location = header(&res, "location");
    let etag = header(&res, "etag");
    let text = res.text().await.unwrap();
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_metadata(&created, "create_secret");
    let value = body["value"].as_str().unwrap();
    assert!(
        !shows(&text, value),
        "create_secret shows the value: {text}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(
        Regex::new("^sec_[0-9a-f]{32}$").unwrap().is_match(&id),
        "id {id}"
    );
    assert_eq!(location, format!("/v1/secrets/{id}"), "Location");
    Created {
        id,
        etag,
        body: created,
    }
}

/// GET /v1/secrets/{id} with the bootstrap key, asserting 200: (ETag, body).
async fn read(app: &TestApp, id: &str) -> (String, Value) {
    let res = app
        .get(&format!("/v1/secrets/{id}"), &app.bootstrap_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "get_secret {id}");
    let etag = header(&res, "etag");
    (etag, res.json().await.unwrap())
}

/// GET /v1/secrets/{id}?version=N with a key.
async fn get_version(app: &TestApp, key: &str, id: &str, version: &str) -> Response {
    app.get(&format!("/v1/secrets/{id}?version={version}"), key)
        .await
}

/// The version numbers of GET /v1/secrets/{id}/versions (bootstrap key),
/// asserting 200, metadata only and the current flag on the first only.
async fn version_numbers(app: &TestApp, id: &str) -> Vec<i64> {
    let res = app
        .get(&format!("/v1/secrets/{id}/versions"), &app.bootstrap_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "list_secret_versions {id}");
    let body: Value = res.json().await.unwrap();
    let data = body["data"].as_array().expect("data");
    for (i, v) in data.iter().enumerate() {
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["created_at", "current", "version"], "{body}");
        assert_eq!(
            v["current"],
            json!(i == 0),
            "only the newest is current: {body}"
        );
    }
    data.iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

/// POST /v1/secrets/{id}/versions/{version}/restore, optionally with `If-Match`.
async fn restore(
    app: &TestApp,
    key: &str,
    id: &str,
    version: &str,
    if_match: Option<&str>,
) -> Response {
    send(
        app,
        Method::POST,
        &format!("/v1/secrets/{id}/versions/{version}/restore"),
        key,
        if_match,
        None,
    )
    .await
}

/// Every secret id the key lists, paging with `limit`.
async fn list_ids(app: &TestApp, key: &str, limit: usize) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1..=50 {
        let path = match &cursor {
            Some(c) => format!("/v1/secrets?limit={limit}&cursor={c}"),
            None => format!("/v1/secrets?limit={limit}"),
        };
        let res = app.get(&path, key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let page: Value = res.json().await.unwrap();
        let data = page["data"].as_array().expect("data");
        assert!(data.len() <= limit, "{path}: {} items", data.len());
        ids.extend(data.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        assert!(
            page.get("next_cursor").is_some(),
            "next_cursor is always present: {page}"
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
    panic!("secret pagination does not end");
}

/// Every audit event about secrets, as raw page texts and parsed events.
async fn secret_events(app: &TestApp) -> (String, Vec<Value>) {
    let mut texts = String::new();
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut path = "/v1/audit_events?limit=100&resource_type=secret".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let text = res.text().await.unwrap();
        let page: Value = serde_json::from_str(&text).unwrap();
        texts.push_str(&text);
        events.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (texts, events),
        }
    }
    panic!("audit event pagination does not end");
}

/// Asserts a 400 `validation_failed` naming `field`.
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

/// A secret row as stored.
#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    value: Vec<u8>,
}

const SELECT_ROWS: &str = "SELECT id, value FROM secrets ORDER BY id";

/// The stored rows of `secrets`, read directly from the test database.
fn stored_rows(app: &TestApp) -> Vec<StoredRow> {
    load_rows(app, SELECT_ROWS)
}

/// A value of exactly `bytes` bytes of 4-byte characters.
fn four_byte_value(bytes: usize) -> String {
    assert_eq!(bytes % 4, 0);
    "🔑".repeat(bytes / 4)
}

backend_test! {
    async fn create_then_get_returns_the_exact_value(app) {
        let values = [
            ("ascii", "sk-live-0123456789abcdef".to_owned()),
            ("one byte", "x".to_owned()),
            ("unicode", "pässwörd 🔑 密码 Ключ — ٣".to_owned()),
            ("JSON specials and controls", "quote \" backslash \\ newline \n tab \t bell \u{7} end".to_owned()),
            ("surrounding whitespace", "  padded value  ".to_owned()),
        ];
        for (what, value) in values {
            let created = create(&app, json!({"value": value, "description": what})).await;
            let (etag, shown) = read(&app, &created.id).await;
            assert_eq!(shown["value"].as_str(), Some(value.as_str()), "{what}: the exact value");
            assert_eq!(etag, created.etag, "{what}: the ETag of get equals that of create");
            for field in METADATA_FIELDS {
                assert_eq!(shown[field], created.body[field], "{what}: {field} of get and create");
            }
            assert_eq!(shown["description"], what);
            assert_eq!(shown["created_at"], shown["updated_at"], "{what}: a new secret");
        }
    }
}

backend_test! {
    async fn a_value_of_65536_bytes_round_trips(app) {
        let values = [
            ("65,536 ASCII bytes", "a".repeat(65_535) + "z"),
            ("65,536 bytes of 4-byte characters", four_byte_value(65_536)),
        ];
        for (what, value) in values {
            assert_eq!(value.len(), 65_536, "{what}");
            let res = post_secret(&app, &app.bootstrap_key, &json!({"value": value})).await;
            let status = res.status();
            let text = res.text().await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{what}: the largest value is accepted: {text}");
            let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned();
            let (_, shown) = read(&app, &id).await;
            assert!(shown["value"].as_str() == Some(value.as_str()), "{what}: the exact value comes back");

            let res = put_secret(&app, &app.bootstrap_key, "largest", &json!({"value": value}), None).await;
            assert!(res.status().is_success(), "{what}: PUT of the largest value: {}", res.status());
        }
    }
}

backend_test! {
    async fn a_value_over_65536_bytes_is_refused(app) {
        let values = [
            ("65,537 ASCII bytes", "a".repeat(65_537)),
            ("16,385 characters, 65,537 bytes", four_byte_value(65_536) + "a"),
        ];
        for (what, value) in values {
            let res = post_secret(&app, &app.bootstrap_key, &json!({"value": value})).await;
            assert_field_error(res, "value", &format!("POST {what}")).await;
            let res = put_secret(&app, &app.bootstrap_key, "too-big", &json!({"value": value}), None).await;
            assert_field_error(res, "value", &format!("PUT {what}")).await;
        }
        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert!(ids.is_empty(), "nothing stored: {ids:?}");
    }
}

backend_test! {
    async fn put_creates_then_replaces_and_get_returns_the_new_value(app) {
        let res = put_secret(&app, &app.bootstrap_key, "my-connector-key", &json!({"value": "first value 111", "description": "first"}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED, "PUT of a new id");
        let location = header(&res, "location");
        let created_tag = header(&res, "etag");
        let text = res.text().await.unwrap();
        assert!(!shows(&text, "first value 111"), "PUT answer shows the value: {text}");
        let created: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(created["result"], "created");
        assert_metadata(&created["secret"], "PUT created");
        assert_eq!(created["secret"]["id"], "my-connector-key");
        assert_eq!(created["secret"]["description"], "first");
        assert_eq!(location, "/v1/secrets/my-connector-key");
        let (tag, shown) = read(&app, "my-connector-key").await;
        assert_eq!(shown["value"], "first value 111");
        assert_eq!(tag, created_tag);

        // Replace: the description is replaced too (absent is null).
        let res = put_secret(&app, &app.bootstrap_key, "my-connector-key", &json!({"value": "second value 222"}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "PUT of an existing id");
        let updated_tag = header(&res, "etag");
        let text = res.text().await.unwrap();
        assert!(!shows(&text, "second value 222") && !shows(&text, "first value 111"), "PUT answer shows a value: {text}");
        let updated: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(updated["result"], "updated");
        assert_metadata(&updated["secret"], "PUT updated");
        assert_eq!(updated["secret"]["id"], "my-connector-key");
        assert!(updated["secret"]["description"].is_null(), "a replaced description: {updated}");
        assert_eq!(updated["secret"]["created_at"], created["secret"]["created_at"]);
        assert_ne!(updated["secret"]["updated_at"], created["secret"]["updated_at"]);
        assert_ne!(updated_tag, created_tag, "a replacement changes the ETag");

        let (tag, shown) = read(&app, "my-connector-key").await;
        assert_eq!(shown["value"], "second value 222", "get returns the new value");
        assert!(shown["description"].is_null());
        assert_eq!(tag, updated_tag);

        // With the current tag, If-Match allows the replacement.
        let res = put_secret(&app, &app.bootstrap_key, "my-connector-key", &json!({"value": "third value 333", "description": "third"}), Some(&updated_tag)).await;
        assert_eq!(res.status(), StatusCode::OK, "PUT with the current If-Match");
        let (_, shown) = read(&app, "my-connector-key").await;
        assert_eq!(shown["value"], "third value 333");
        assert_eq!(shown["description"], "third");

        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert_eq!(ids, vec!["my-connector-key".to_owned()], "one secret");
    }
}

backend_test! {
    async fn description_may_be_null_absent_or_up_to_1000_characters(app) {
        // 1,000 characters of 2 bytes: characters count, not bytes.
        let longest = "é".repeat(1000);
        let accepted = [
            ("absent", json!({"value": "v-absent"}), Value::Null),
            ("null", json!({"value": "v-null", "description": null}), Value::Null),
            ("empty", json!({"value": "v-empty", "description": ""}), json!("")),
            ("1000 characters", json!({"value": "v-1000", "description": longest}), json!(longest)),
        ];
        for (n, (what, body, expected)) in accepted.into_iter().enumerate() {
            let created = create(&app, body.clone()).await;
            assert_eq!(created.body["description"], expected, "POST {what}");
            assert!(created.body.get("description").is_some(), "POST {what}: description is always present");
            let (_, shown) = read(&app, &created.id).await;
            assert_eq!(shown["description"], expected, "GET after POST {what}");

            let id = format!("described-{n}");
            let res = put_secret(&app, &app.bootstrap_key, &id, &body, None).await;
            assert_eq!(res.status(), StatusCode::CREATED, "PUT {what}");
            let put: Value = res.json().await.unwrap();
            assert_eq!(put["secret"]["description"], expected, "PUT {what}");
            let (_, shown) = read(&app, &id).await;
            assert_eq!(shown["description"], expected, "GET after PUT {what}");
        }

        let too_long = json!({"value": "v-1001", "description": "d".repeat(1001)});
        let res = post_secret(&app, &app.bootstrap_key, &too_long).await;
        assert_field_error(res, "description", "POST 1001 characters").await;
        let res = put_secret(&app, &app.bootstrap_key, "described-0", &too_long, None).await;
        assert_field_error(res, "description", "PUT 1001 characters over an existing secret").await;
        let (_, shown) = read(&app, "described-0").await;
        assert!(shown["description"].is_null(), "a refused PUT changes nothing");
        assert_eq!(shown["value"], "v-absent");
    }
}

backend_test! {
    async fn invalid_bodies_are_refused_and_store_nothing(app) {
        let cases: [(&str, Value, &str); 8] = [
            ("an empty value", json!({"value": ""}), "validation_failed"),
            ("a missing value", json!({"description": "no value"}), "invalid_body"),
            ("a null value", json!({"value": null}), "invalid_body"),
            ("a number value", json!({"value": 12345}), "invalid_body"),
            ("an unknown field", json!({"value": "unknown-field-value-777", "name": "x"}), "invalid_body"),
            ("a misspelt field", json!({"value": "misspelt-value-888", "descripton": "x"}), "invalid_body"),
            ("an array body", json!([{"value": "array-value-999"}]), "invalid_body"),
            ("a number description", json!({"value": "number-description-value", "description": 7}), "invalid_body"),
        ];
        for (what, body, code) in cases {
            for method in ["POST", "PUT"] {
                let res = match method {
                    "POST" => post_secret(&app, &app.bootstrap_key, &body).await,
                    _ => put_secret(&app, &app.bootstrap_key, "refused", &body, None).await,
                };
                let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
                if code == "validation_failed" {
                    assert!(
                        problem["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == "value")),
                        "{method} {what}: an error on `value` in {problem}"
                    );
                }
                let text = problem.to_string();
                for value in ["unknown-field-value-777", "misspelt-value-888", "array-value-999", "number-description-value"] {
                    assert!(!text.contains(value), "{method} {what}: the problem shows a value: {text}");
                }
            }
        }
        let res = app
            .request(Method::POST, "/v1/secrets", Some(&app.bootstrap_key))
            .header("content-type", "application/json")
            .body("{\"value\": ")
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_json").await;

        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert!(ids.is_empty(), "nothing stored: {ids:?}");
        let res = app.get("/v1/secrets/refused", &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn malformed_secret_ids_are_refused(app) {
        let too_long = "a".repeat(129);
        let bad_ids = [
            ("an upper-case letter", "Secret"),
            ("a leading underscore", "_secret"),
            ("a leading hyphen", "-secret"),
            ("a dot", "my.secret"),
            ("a space", "my%20secret"),
            ("129 characters", too_long.as_str()),
        ];
        for (what, id) in bad_ids {
            let requests = [
                ("GET", app.request(Method::GET, &format!("/v1/secrets/{id}"), Some(&app.bootstrap_key))),
                ("PUT", app.request(Method::PUT, &format!("/v1/secrets/{id}"), Some(&app.bootstrap_key)).json(&json!({"value": "v"}))),
                ("DELETE", app.request(Method::DELETE, &format!("/v1/secrets/{id}"), Some(&app.bootstrap_key))),
            ];
            for (method, request) in requests {
                let res = request.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{method} with {what}");
                assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
            }
        }
        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert!(ids.is_empty(), "nothing stored: {ids:?}");

        // The edges of the pattern are accepted.
        let longest = "z".repeat(128);
        for id in ["0", "a_b-c", longest.as_str()] {
            let res = put_secret(&app, &app.bootstrap_key, id, &json!({"value": "edge"}), None).await;
            assert_eq!(res.status(), StatusCode::CREATED, "PUT {id}");
            let (_, shown) = read(&app, id).await;
            assert_eq!(shown["id"], id);
        }
    }
}

backend_test! {
    async fn list_shows_metadata_only_and_pages_through_every_secret(app) {
        let values = ["list-value-alpha-1", "list-value-bravo-2", "list-value-charlie-3"];
        let mut expected = Vec::new();
        for (n, value) in values.iter().enumerate() {
            let body = json!({"value": value, "description": format!("secret {n}")});
            let id = if n == 0 {
                let res = put_secret(&app, &app.bootstrap_key, "by-put", &body, None).await;
                assert_eq!(res.status(), StatusCode::CREATED);
                "by-put".to_owned()
            } else {
                create(&app, body).await.id
            };
            expected.push(id);
        }
        expected.sort();

        let res = app.get("/v1/secrets", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.unwrap();
        for value in values {
            assert!(!shows(&text, value), "the list shows {value}: {text}");
        }
        let page: Value = serde_json::from_str(&text).unwrap();
        let data = page["data"].as_array().expect("data");
        assert_eq!(data.len(), 3, "{page}");
        for item in data {
            assert_metadata(item, "list item");
        }
        assert!(page["next_cursor"].is_null(), "one page: {page}");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/secrets?limit=1&cursor={c}"),
                None => "/v1/secrets?limit=1".to_owned(),
            };
            let res = app.get(&path, &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let text = res.text().await.unwrap();
            for value in values {
                assert!(!shows(&text, value), "{path} shows {value}: {text}");
            }
            let page: Value = serde_json::from_str(&text).unwrap();
            let data = page["data"].as_array().expect("data");
            assert_eq!(data.len(), 1, "{path}: {page}");
            assert_metadata(&data[0], &path);
            seen.push(data[0]["id"].as_str().unwrap().to_owned());
            pages += 1;
            assert!(pages <= 10, "pagination does not end");
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "3 secrets in pages of 1");
        assert_eq!(seen, expected, "every secret once, by id");

        for query in ["limit=0", "limit=101", "limit=x", "cursor=%21%21"] {
            let res = app.get(&format!("/v1/secrets?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        }
    }
}

backend_test! {
    async fn requests_without_a_key_are_unauthorized(app) {
        let created = create(&app, json!({"value": "unauthorized-value-1"})).await;
        let path = format!("/v1/secrets/{}", created.id);
        let requests = [
            ("create_secret", app.request(Method::POST, "/v1/secrets", None).json(&json!({"value": "x"}))),
            ("list_secrets", app.request(Method::GET, "/v1/secrets", None)),
            ("get_secret", app.request(Method::GET, &path, None)),
            ("put_secret", app.request(Method::PUT, &path, None).json(&json!({"value": "x"}))),
            ("delete_secret", app.request(Method::DELETE, &path, None)),
        ];
        for (what, request) in requests {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            let body = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
            assert!(!body.to_string().contains("unauthorized-value-1"), "{what}: {body}");
        }
        let (_, shown) = read(&app, &created.id).await;
        assert_eq!(shown["value"], "unauthorized-value-1", "nothing changed");
    }
}

backend_test! {
    async fn roles_decide_who_may_list_write_and_read_secrets(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let existing = create(&app, json!({"value": "role-value-existing"})).await;
        let path = format!("/v1/secrets/{}", existing.id);

        // serving: list only.
        let res = app.get("/v1/secrets", &serving).await;
        assert_eq!(res.status(), StatusCode::OK, "serving lists");
        let text = res.text().await.unwrap();
        assert!(text.contains(&existing.id) && !text.contains("role-value-existing"), "{text}");
        let refused = [
            ("get_secret", app.request(Method::GET, &path, Some(&serving))),
            ("create_secret", app.request(Method::POST, "/v1/secrets", Some(&serving)).json(&json!({"value": "role-value-serving"}))),
            ("put_secret", app.request(Method::PUT, "/v1/secrets/by-serving", Some(&serving)).json(&json!({"value": "role-value-serving"}))),
            ("put_secret", app.request(Method::PUT, &path, Some(&serving)).json(&json!({"value": "role-value-serving"}))),
            ("delete_secret", app.request(Method::DELETE, &path, Some(&serving))),
        ];
        for (operation, request) in refused {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "serving calling {operation}");
            let body = assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
            assert_eq!(body["missing_permission"], operation, "serving calling {operation}");
            assert!(!body.to_string().contains("role-value"), "{body}");
        }
        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert_eq!(ids, vec![existing.id.clone()], "serving changed nothing");
        let (tag, shown) = read(&app, &existing.id).await;
        assert_eq!(shown["value"], "role-value-existing");
        assert_eq!(tag, existing.etag);

        // serving_and_indexing: writes, but never reads a value.
        let res = post_secret(&app, &indexing, &json!({"value": "role-value-indexing"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "serving_and_indexing creates");
        let text = res.text().await.unwrap();
        assert!(!text.contains("role-value-indexing"), "{text}");
        let made: Value = serde_json::from_str(&text).unwrap();
        let made_id = made["id"].as_str().unwrap().to_owned();
        let res = put_secret(&app, &indexing, "by-indexing", &json!({"value": "role-value-put"}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED, "serving_and_indexing puts a new id");
        let res = put_secret(&app, &indexing, &existing.id, &json!({"value": "role-value-replaced"}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "serving_and_indexing replaces");
        for id in [existing.id.as_str(), made_id.as_str(), "by-indexing"] {
            let res = app.get(&format!("/v1/secrets/{id}"), &indexing).await;
            let body = assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
            assert_eq!(body["missing_permission"], "get_secret", "serving_and_indexing reading {id}");
            assert!(!body.to_string().contains("role-value"), "{body}");
        }
        let res = app.get("/v1/secrets", &indexing).await;
        assert_eq!(res.status(), StatusCode::OK, "serving_and_indexing lists");
        let res = delete_secret(&app, &indexing, &made_id, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "serving_and_indexing deletes");

        // The personal key reads what the others wrote.
        let (_, shown) = read(&app, &existing.id).await;
        assert_eq!(shown["value"], "role-value-replaced");
        let (_, shown) = read(&app, "by-indexing").await;
        assert_eq!(shown["value"], "role-value-put");
        let res = app.get(&format!("/v1/secrets/{made_id}"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn a_policy_decides_whether_a_personal_key_reads_values(app) {
        let first = create(&app, json!({"value": "policy-value-first"})).await;
        let second = create(&app, json!({"value": "policy-value-second"})).await;
        let reader = app
            .create_key(&app.bootstrap_key, json!({
                "name": "reader", "api_key_role": "personal",
                "api_policy": {"allowed_operations": {"get_secret": {}}}
            }))
            .await;
        let lister = app
            .create_key(&app.bootstrap_key, json!({
                "name": "lister", "api_key_role": "personal",
                "api_policy": {"allowed_operations": {"list_secrets": {}}}
            }))
            .await;
        let one_reader = app
            .create_key(&app.bootstrap_key, json!({
                "name": "one reader", "api_key_role": "personal",
                "api_policy": {"allowed_operations": {"get_secret": {
                    "allow_any_resource": false,
                    "allowed_resources": {"secret_id": [first.id]}
                }}}
            }))
            .await;
        let reader = reader["key"].as_str().unwrap();
        let lister = lister["key"].as_str().unwrap();
        let one_reader = one_reader["key"].as_str().unwrap();

        for (created, value) in [(&first, "policy-value-first"), (&second, "policy-value-second")] {
            let res = app.get(&format!("/v1/secrets/{}", created.id), reader).await;
            assert_eq!(res.status(), StatusCode::OK, "a policy allowing get_secret reads");
            let shown: Value = res.json().await.unwrap();
            assert_eq!(shown["value"], value);
        }

        let res = app.get("/v1/secrets", lister).await;
        assert_eq!(res.status(), StatusCode::OK, "the lister lists");
        let res = app.get(&format!("/v1/secrets/{}", first.id), lister).await;
        let body = assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        assert_eq!(body["missing_permission"], "get_secret");
        assert!(!body.to_string().contains("policy-value"), "{body}");

        let res = app.get(&format!("/v1/secrets/{}", first.id), one_reader).await;
        assert_eq!(res.status(), StatusCode::OK, "the listed secret is readable");
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["value"], "policy-value-first");
        let res = app.get(&format!("/v1/secrets/{}", second.id), one_reader).await;
        let body = assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        assert_eq!(body["missing_permission"], "get_secret");
        assert!(!body.to_string().contains("policy-value"), "{body}");
    }
}

backend_test! {
    async fn another_organizations_secret_is_not_found(app) {
        let ours = create(&app, json!({"value": "org-value-root"})).await;
        let res = put_secret(&app, &app.bootstrap_key, "shared-name", &json!({"value": "org-value-root-named"}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let named_tag = header(&res, "etag");

        let res = app.post("/v1/organizations", &app.bootstrap_key, &json!({"name": "acme"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create organization");
        let acme: Value = res.json().await.unwrap();
        let acme_org = acme["organization"]["id"].as_str().unwrap().to_owned();
        let acme_key = acme["api_key"]["key"].as_str().unwrap().to_owned();

        let (ids, _) = list_ids(&app, &acme_key, 100).await;
        assert!(ids.is_empty(), "acme lists none of ours: {ids:?}");
        for (id, tag) in [(ours.id.as_str(), ours.etag.as_str()), ("shared-name", named_tag.as_str())] {
            let path = format!("/v1/secrets/{id}");
            let res = app.get(&path, &acme_key).await;
            let body = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            assert!(!body.to_string().contains("org-value"), "{body}");
            let res = delete_secret(&app, &acme_key, id, None).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            let res = delete_secret(&app, &acme_key, id, Some(tag)).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }

        // The same id in acme is acme's own secret.
        let res = put_secret(&app, &acme_key, "shared-name", &json!({"value": "org-value-acme"}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED, "acme's own shared-name is new to acme");
        let put: Value = res.json().await.unwrap();
        assert_eq!(put["secret"]["organization_id"], acme_org.as_str());
        let res = app.get("/v1/secrets/shared-name", &acme_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["value"], "org-value-acme");

        let (tag, shown) = read(&app, "shared-name").await;
        assert_eq!(shown["value"], "org-value-root-named", "ours is untouched");
        assert_eq!(tag, named_tag);
        assert_ne!(shown["organization_id"], acme_org.as_str());
        let (_, shown) = read(&app, &ours.id).await;
        assert_eq!(shown["value"], "org-value-root");
        let (ids, _) = list_ids(&app, &acme_key, 100).await;
        assert_eq!(ids, vec!["shared-name".to_owned()], "acme lists its own");
    }
}

backend_test! {
    async fn a_stale_if_match_refuses_put_and_delete_and_changes_nothing(app) {
        let created = create(&app, json!({"value": "stale-value-1", "description": "one"})).await;
        let stale = created.etag.clone();
        let res = put_secret(&app, &app.bootstrap_key, &created.id, &json!({"value": "stale-value-2", "description": "two"}), None).await;
        assert_eq!(res.status(), StatusCode::OK, "unconditional PUT");
        let (current, before) = read(&app, &created.id).await;
        assert_ne!(current, stale);

        let res = put_secret(&app, &app.bootstrap_key, &created.id, &json!({"value": "stale-value-3", "description": "three"}), Some(&stale)).await;
        let body = assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        assert!(!body.to_string().contains("stale-value"), "{body}");
        let res = delete_secret(&app, &app.bootstrap_key, &created.id, Some(&stale)).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

        let (tag, after) = read(&app, &created.id).await;
        assert_eq!(after["value"], "stale-value-2", "a refused PUT leaves the value");
        assert_eq!(after, before, "refused writes change nothing");
        assert_eq!(tag, current, "refused writes leave the ETag");

        let res = delete_secret(&app, &app.bootstrap_key, &created.id, Some(&current)).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "DELETE with the current If-Match");
        let res = app.get(&format!("/v1/secrets/{}", created.id), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn unknown_secrets_are_not_found(app) {
        let kept = create(&app, json!({"value": "kept-value"})).await;
        for id in ["no-such-secret", "sec_00000000000000000000000000000000"] {
            let res = app.get(&format!("/v1/secrets/{id}"), &app.bootstrap_key).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            let res = delete_secret(&app, &app.bootstrap_key, id, None).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            let res = delete_secret(&app, &app.bootstrap_key, id, Some(&kept.etag)).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        let res = delete_secret(&app, &app.bootstrap_key, &kept.id, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = delete_secret(&app, &app.bootstrap_key, &kept.id, None).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get(&format!("/v1/secrets/{}", kept.id), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    // RFC 9110 13.1.1: If-Match (a tag or `*`) is false when there is no
    // current representation, so a conditional PUT never creates.
    async fn a_put_with_if_match_never_creates(app) {
        let other = create(&app, json!({"value": "other-value"})).await;
        for tag in [other.etag.as_str(), "*"] {
            let res = put_secret(&app, &app.bootstrap_key, "never-made", &json!({"value": "conditional-value"}), Some(tag)).await;
            assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
            let res = app.get("/v1/secrets/never-made", &app.bootstrap_key).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
}

backend_test! {
    async fn each_write_and_each_read_of_a_value_is_audited_without_the_value(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let created = create(&app, json!({"value": "audit-value-created", "description": "audited"})).await;
        let res = put_secret(&app, &app.bootstrap_key, "audited-put", &json!({"value": "audit-value-put"}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = put_secret(&app, &app.bootstrap_key, "audited-put", &json!({"value": "audit-value-replaced"}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        read(&app, &created.id).await;
        read(&app, &created.id).await;
        read(&app, "audited-put").await;
        let res = delete_secret(&app, &app.bootstrap_key, &created.id, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        // Reads of metadata are not audited; a refused read of a value is.
        list_ids(&app, &app.bootstrap_key, 1).await;
        let res = app.get("/v1/secrets/audited-put", &serving).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        let (text, events) = secret_events(&app).await;
        for value in ["audit-value-created", "audit-value-put", "audit-value-replaced"] {
            assert!(!shows(&text, value), "an audit event shows {value}: {text}");
        }
        let count = |action: &str, id: &str, outcome: &str| {
            events
                .iter()
                .filter(|e| e["action"] == action && e["resource_id"] == id && e["outcome"] == outcome)
                .count()
        };
        let expected = [
            ("create_secret", created.id.as_str(), "success", 1),
            ("get_secret", created.id.as_str(), "success", 2),
            ("delete_secret", created.id.as_str(), "success", 1),
            ("put_secret", "audited-put", "success", 2),
            ("get_secret", "audited-put", "success", 1),
            ("get_secret", "audited-put", "denied", 1),
        ];
        for (action, id, outcome, n) in expected {
            assert_eq!(count(action, id, outcome), n, "{outcome} {action} events for {id}: {events:#?}");
        }
        assert_eq!(events.len(), 8, "no other secret events (list is not audited): {events:#?}");
        for event in &events {
            assert_eq!(event["resource_type"], "secret", "{event}");
        }
    }
}

backend_test! {
    async fn values_are_encrypted_at_rest(app) {
        let values = [
            "at-rest-plaintext-AAAA-1111-created",
            "at-rest-plaintext-BBBB-2222-put",
            "at-rest-plaintext-CCCC-3333-replaced",
            "at-rest-plaintext-🔑-unicode",
        ];
        // Descriptions are stored in the clear: they show the scan finds text.
        let description = "at-rest-description-in-the-clear";
        create(&app, json!({"value": values[0], "description": description})).await;
        let res = put_secret(&app, &app.bootstrap_key, "at-rest", &json!({"value": values[1]}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = put_secret(&app, &app.bootstrap_key, "at-rest", &json!({"value": values[2]}), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        create(&app, json!({"value": values[3]})).await;

        let rows = stored_rows(&app);
        assert_eq!(rows.len(), 3, "three rows");
        for row in &rows {
            assert_eq!(row.value.first(), Some(&1u8), "{}: an envelope of format 1", row.id);
            for value in values {
                assert!(!contains(&row.value, value.as_bytes()), "{}: the column holds {value}", row.id);
            }
        }
        let by_id = |id: &str| rows.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("row {id}"));
        // version, key id, nonce, ciphertext, tag
        assert_eq!(by_id("at-rest").value.len(), 1 + 4 + 12 + values[2].len() + 16, "envelope length");

        if let Some(path) = &app.sqlite_path {
            let mut bytes = std::fs::read(path).expect("database file");
            let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
            if let Ok(more) = std::fs::read(&wal) {
                bytes.extend(more);
            }
            assert!(contains(&bytes, description.as_bytes()), "the scan sees the clear description");
            for value in values {
                assert!(!contains(&bytes, value.as_bytes()), "the database files hold {value}");
            }
        }
    }
}

backend_test! {
    async fn a_ciphertext_copied_to_another_row_does_not_open(app) {
        let a = create(&app, json!({"value": "copied-value-of-a"})).await;
        let b = create(&app, json!({"value": "overwritten-value-of-b"})).await;
        let changed = execute(
            &app,
            &format!(
                "UPDATE secrets SET value = (SELECT value FROM secrets WHERE id = '{}') WHERE id = '{}'",
                a.id, b.id
            ),
        );
        assert_eq!(changed, 1, "one row changed");

        let res = app.get(&format!("/v1/secrets/{}", b.id), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "a moved envelope does not open");
        let body = assert_problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
        let text = body.to_string();
        assert!(!text.contains("copied-value-of-a") && !text.contains("overwritten-value-of-b"), "{text}");

        let (_, shown) = read(&app, &a.id).await;
        assert_eq!(shown["value"], "copied-value-of-a", "A still opens in its own row");
        // The list still works: metadata does not need the value.
        let (ids, _) = list_ids(&app, &app.bootstrap_key, 100).await;
        assert_eq!(ids.len(), 2);
    }
}

/// A keygate of our own on an SQLite file, for tests of start-up.
struct Server {
    address: String,
    client: reqwest::Client,
    bootstrap_key: String,
}

/// Builds and spawns an application, panicking if it does not start.
fn start(settings: &Settings) -> Server {
    Server {
        address: crate::helpers::start(settings),
        client: reqwest::Client::new(),
        bootstrap_key: settings.bootstrap_key.clone().unwrap(),
    }
}

impl Server {
    async fn create(&self, value: &str) -> String {
        let res = self
            .client
            .post(format!("{}/v1/secrets", self.address))
            .bearer_auth(&self.bootstrap_key)
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "create_secret");
        let body: Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    async fn value(&self, id: &str) -> String {
        let res = self
            .client
            .get(format!("{}/v1/secrets/{id}", self.address))
            .bearer_auth(&self.bootstrap_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "get_secret");
        let body: Value = res.json().await.unwrap();
        body["value"].as_str().unwrap().to_owned()
    }
}

#[actix_web::test]
async fn a_start_with_another_master_key_or_none_is_refused_naming_both_key_ids() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let first_key = MasterKey::generate_base64();
    let other_key = MasterKey::generate_base64();
    let first_id = MasterKey::from_base64(&first_key).unwrap().id();
    let other_id = MasterKey::from_base64(&other_key).unwrap().id();
    assert_ne!(first_id, other_id);

    let first = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Inline(first_key.clone())),
        &bootstrap,
    ));
    let id = first.create("sealed-under-the-first-key").await;
    // One server an SQLite file.
    crate::helpers::stop(&first.address).await;

    let mut settings = sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Inline(other_key.clone())),
        &bootstrap,
    );
    settings.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let error = refused(&settings);
    assert!(
        error.contains("KEYGATE_MASTER_KEY"),
        "names the variable: {error}"
    );
    assert!(
        error.contains(&first_id),
        "names the database's key id {first_id}: {error}"
    );
    assert!(
        error.contains(&other_id),
        "names the configured key id {other_id}: {error}"
    );
    assert!(
        !error.contains(&first_key) && !error.contains(&other_key),
        "never the key text: {error}"
    );

    let error = refused(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Absent),
        &bootstrap,
    ));
    assert!(
        error.contains("KEYGATE_MASTER_KEY"),
        "names the variable: {error}"
    );
    assert!(
        error.contains(&first_id),
        "names the database's key id: {error}"
    );
    assert!(!error.contains(&first_key), "never the key text: {error}");

    // Nothing was damaged: the right key still reads the value.
    let again = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Inline(first_key)),
        &bootstrap,
    ));
    assert_eq!(again.value(&id).await, "sealed-under-the-first-key");
}

#[actix_web::test]
async fn an_empty_database_starts_without_a_master_key_and_refuses_to_store_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let server = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Absent),
        &bootstrap,
    ));
    let res = server
        .client
        .post(format!("{}/v1/secrets", server.address))
        .bearer_auth(&bootstrap)
        .json(&json!({"value": "no-key-value"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "master_key_missing").await;
    assert!(
        !dir.path().join("master.key").exists(),
        "Absent creates no file"
    );
}

#[actix_web::test]
async fn the_sqlite_default_creates_a_private_master_key_file_and_reuses_it() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let settings = sqlite_settings(dir.path(), None, &bootstrap);
    let key_path = dir.path().join("master.key");
    match &settings.master_key {
        MasterKeySource::BesideDatabase(path) => {
            assert_eq!(path, &key_path, "master.key beside the database")
        }
        other => panic!("the SQLite default is BesideDatabase, not {other:?}"),
    }
    match MasterKeySource::default_for(&settings.database) {
        MasterKeySource::BesideDatabase(path) => assert_eq!(path, key_path),
        other => panic!("default_for(SQLite) is BesideDatabase, not {other:?}"),
    }
    assert!(!key_path.exists());

    let first = start(&settings);
    let metadata = std::fs::metadata(&key_path).expect("master.key is created");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "mode 0600");
    let text = std::fs::read_to_string(&key_path).unwrap();
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64");
    assert_eq!(bytes.len(), 32, "32 bytes");
    let id = first.create("sealed-under-the-default-key").await;
    assert_eq!(first.value(&id).await, "sealed-under-the-default-key");
    crate::helpers::stop(&first.address).await;

    // A second start with the same default reads the same key.
    let second = start(&sqlite_settings(dir.path(), None, &bootstrap));
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap(),
        text,
        "the file is kept"
    );
    assert_eq!(second.value(&id).await, "sealed-under-the-default-key");
}

#[actix_web::test]
async fn with_a_larger_body_limit_the_value_limit_counts_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let mut settings = sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Inline(MasterKey::generate_base64())),
        &bootstrap,
    );
    settings.max_body_bytes = 1 << 20;
    let server = start(&settings);

    let accepted = [
        ("65,536 ASCII bytes", "b".repeat(65_536)),
        ("65,536 bytes of 4-byte characters", four_byte_value(65_536)),
    ];
    for (what, value) in accepted {
        let id = server.create(&value).await;
        assert!(
            server.value(&id).await == value,
            "{what}: the exact value comes back"
        );
    }
    let refused = [
        ("65,537 ASCII bytes", "b".repeat(65_537)),
        (
            "16,385 characters, 65,537 bytes",
            four_byte_value(65_536) + "b",
        ),
    ];
    for (what, value) in refused {
        let res = server
            .client
            .post(format!("{}/v1/secrets", server.address))
            .bearer_auth(&bootstrap)
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap();
        assert_field_error(res, "value", what).await;
    }
}

backend_test! {
    async fn every_kept_version_reads_back_exactly_and_restore_makes_a_new_one(app) {
        let values = ["first 🔑 value", "second \" value", "third\nvalue", "fourth value"];
        let created = create(&app, json!({"value": values[0], "description": "versioned"})).await;
        assert_eq!(created.body["version"], 1);
        let id = created.id;
        for value in &values[1..] {
            let res = put_secret(&app, &app.bootstrap_key, &id, &json!({"value": value, "description": "versioned"}), None).await;
            assert_eq!(res.status(), StatusCode::OK, "put_secret");
        }
        let (etag, current) = read(&app, &id).await;
        assert_eq!(current["value"], values[3]);
        assert_eq!(current["version"], 4);
        assert_eq!(current["value_version"], 4);
        for (n, value) in values.iter().enumerate() {
            let version = n + 1;
            let res = get_version(&app, &app.bootstrap_key, &id, &version.to_string()).await;
            assert_eq!(res.status(), StatusCode::OK, "version {version}");
            assert_eq!(header(&res, "etag"), etag, "the secret's ETag, whichever version");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["value"], *value, "version {version}");
            assert_eq!(body["value_version"], version);
            assert_eq!(body["version"], 4, "the secret's current version");
        }
        assert_eq!(version_numbers(&app, &id).await, [4, 3, 2, 1]);
        let res = app.get(&format!("/v1/secrets/{id}/versions"), &app.bootstrap_key).await;
        assert_eq!(header(&res, "etag"), etag, "the list carries the secret's ETag");
        let text = res.text().await.unwrap();
        for value in &values {
            assert!(!shows(&text, value), "the list shows a value: {text}");
        }
        // Earlier values are sealed at rest too.
        let sealed: Vec<StoredRow> = load_rows(&app, "SELECT id, value FROM secret_versions ORDER BY id");
        assert_eq!(sealed.len(), 3);
        for row in &sealed {
            for value in &values {
                assert!(!row.value.windows(value.len()).any(|w| w == value.as_bytes()), "{} holds plaintext", row.id);
            }
        }

        // Restore: If-Match guards it; a new version with the old value.
        let res = restore(&app, &app.bootstrap_key, &id, "2", Some("\"stale\"")).await;
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "a stale If-Match");
        let res = restore(&app, &app.bootstrap_key, &id, "2", Some(&etag)).await;
        assert_eq!(res.status(), StatusCode::OK, "restore");
        let new_etag = header(&res, "etag");
        assert_ne!(new_etag, etag, "a restore changes the ETag");
        let restored: Value = res.json().await.unwrap();
        assert_metadata(&restored, "restore");
        assert_eq!(restored["version"], 5);
        assert_eq!(restored["description"], "versioned", "the description stays");
        let (etag_now, current) = read(&app, &id).await;
        assert_eq!(etag_now, new_etag);
        assert_eq!(current["value"], values[1], "the restored value is current");
        assert_eq!(current["value_version"], 5);
        let res = get_version(&app, &app.bootstrap_key, &id, "4").await;
        assert_eq!(res.json::<Value>().await.unwrap()["value"], values[3], "the replaced value is kept");
        assert_eq!(version_numbers(&app, &id).await, [5, 4, 3, 2, 1]);
        let res = put_secret(&app, &app.bootstrap_key, &id, &json!({"value": "x"}), Some(&etag)).await;
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED, "the old ETag no longer matches");
        let (_, events) = secret_events(&app).await;
        assert_eq!(
            events.iter().filter(|e| e["resource_id"] == id).count(),
            1 + 3 + 1 + 4 + 1 + 1 + 1,
            "create, 3 puts, a read, 4 version reads, a restore, a read and a version read are audited (refused writes are not): {events:?}"
        );

        // Unknown and bad versions.
        let res = get_version(&app, &app.bootstrap_key, &id, "6").await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = restore(&app, &app.bootstrap_key, &id, "99", None).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        for bad in ["0", "-1"] {
            let res = get_version(&app, &app.bootstrap_key, &id, bad).await;
            assert_field_error(res, "version", &format!("?version={bad}")).await;
            let res = restore(&app, &app.bootstrap_key, &id, bad, None).await;
            assert_field_error(res, "version", &format!("restore {bad}")).await;
        }
        for (bad, code) in [("abc", "invalid_query_parameter"), ("1.5", "invalid_query_parameter")] {
            let res = get_version(&app, &app.bootstrap_key, &id, bad).await;
            let body = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            assert_eq!(body["errors"][0]["field"], "version", "{body}");
            assert!(!body.to_string().contains(bad), "echoes the value: {body}");
        }
        for bad in ["abc", "1.5"] {
            let res = restore(&app, &app.bootstrap_key, &id, bad, None).await;
            let body = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
            assert_eq!(body["errors"][0]["field"], "version", "{body}");
        }
        let res = get_version(&app, &app.bootstrap_key, "no-such-secret", "1").await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // Roles: a serving key lists versions but reads or restores none.
        let (_, serving) = app.key_with_role("serving").await;
        assert_eq!(app.get(&format!("/v1/secrets/{id}/versions"), &serving).await.status(), StatusCode::OK);
        assert_eq!(get_version(&app, &serving, &id, "1").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(restore(&app, &serving, &id, "1", None).await.status(), StatusCode::FORBIDDEN);

        // Another organization sees none of it.
        let (_, other) = app.other_organization("versions-other").await;
        assert_problem(get_version(&app, &other, &id, "1").await, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get(&format!("/v1/secrets/{id}/versions"), &other).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_problem(restore(&app, &other, &id, "1", None).await, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(read(&app, &id).await.1["value"], values[1], "unchanged by the other organization");

        // Deleting the secret keeps its versions for the recovery window
        // (an undelete brings them back); the purge removes them with it.
        let res = delete_secret(&app, &app.bootstrap_key, &id, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let kept = execute(&app, "UPDATE secret_versions SET version = version");
        assert!(kept > 0);
        let mut conn = any_connection(&app);
        let after_now = chrono::Utc::now() + chrono::Duration::days(1);
        assert_eq!(keygate::resources::secrets::repo::purge_deleted(&mut conn, after_now).unwrap(), 1);
        assert_eq!(execute(&app, "UPDATE secret_versions SET version = version"), 0);
    }
}

/// Versions beyond `KEYGATE_SECRET_VERSIONS` are pruned by the write that
/// makes them too many; 0 keeps none.
async fn versions_are_pruned_at_the_limit(backend: keygate::config::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| s.secret_versions = 2).await else {
        return;
    };
    let id = create(&app, json!({"value": "v1"})).await.id;
    for n in 2..=5 {
        let res = put_secret(
            &app,
            &app.bootstrap_key,
            &id,
            &json!({"value": format!("v{n}")}),
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let kept = (n - 1).min(2) as usize;
        assert_eq!(
            execute(&app, "UPDATE secret_versions SET version = version"),
            kept,
            "after v{n}"
        );
    }
    assert_eq!(version_numbers(&app, &id).await, [5, 4, 3]);
    for (version, value) in [("3", "v3"), ("4", "v4"), ("5", "v5")] {
        let res = get_version(&app, &app.bootstrap_key, &id, version).await;
        assert_eq!(res.json::<Value>().await.unwrap()["value"], value);
    }
    for pruned in ["1", "2"] {
        assert_problem(
            get_version(&app, &app.bootstrap_key, &id, pruned).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_problem(
            restore(&app, &app.bootstrap_key, &id, pruned, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // A restore is a new version and prunes too.
    assert_eq!(
        restore(&app, &app.bootstrap_key, &id, "3", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(version_numbers(&app, &id).await, [6, 5, 4]);
    assert_eq!(read(&app, &id).await.1["value"], "v3");

    let Some(none) = TestApp::spawn_with(backend, |s| s.secret_versions = 0).await else {
        return;
    };
    let id = create(&none, json!({"value": "v1"})).await.id;
    let res = put_secret(
        &none,
        &none.bootstrap_key,
        &id,
        &json!({"value": "v2"}),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(version_numbers(&none, &id).await, [2]);
    assert_problem(
        get_version(&none, &none.bootstrap_key, &id, "1").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn versions_are_pruned_at_the_limit_sqlite() {
    versions_are_pruned_at_the_limit(keygate::config::Backend::Sqlite).await;
}

#[actix_web::test]
async fn versions_are_pruned_at_the_limit_postgres() {
    versions_are_pruned_at_the_limit(keygate::config::Backend::Postgres).await;
}
