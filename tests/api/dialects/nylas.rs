//! The Nylas dialect (`/v3/connectors/{provider}/creds`): its committed
//! document, create (idempotent as natively), offset paging with
//! `order_by`, find, update replacing `credential_data`, destroy with 200
//! and `{request_id}`, the same credentials natively both ways, and every
//! error in Nylas's `{request_id, error: {type, message}}`, never
//! problem+json.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

#[test]
fn committed_document_matches_the_generated_one() {
    crate::dialects::check_committed("nylas", &keygate::dialects::nylas::document_pretty());
}

/// A request as the SDK sends it (`Authorization: Bearer`, `Accept: */*`).
async fn nylas(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = app
        .client
        .request(method, format!("{}/v3/connectors{path}", app.address))
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "*/*");
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

/// Asserts a status and Nylas's success envelope, whose `request_id` is
/// the response's `X-Request-Id`; returns the body.
async fn assert_ok(res: Response, status: StatusCode, what: &str) -> Value {
    let got = res.status();
    let id = header(&res, "x-request-id");
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    assert_eq!(body["request_id"], id.as_str(), "{what}: {body}");
    body
}

/// Asserts an error in Nylas's envelope: status, JSON (never
/// problem+json), the request id and `error.type`; returns the body.
async fn assert_nylas_error(res: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(header(&res, "content-type"), "application/json");
    let id = header(&res, "x-request-id");
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

fn connector(name: &str, secret: &str) -> Value {
    json!({"name": name, "credential_type": "connector", "credential_data": {"client_id": "id-1", "client_secret": secret}})
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        crate::dialects::assert_served(&app, "nylas").await;
    }
}

backend_test! {
    async fn the_sdk_calls_create_find_update_and_destroy_the_native_credential(app) {
        let key = &app.bootstrap_key;
        let res = nylas(&app, Method::POST, "/google/creds", key, Some(&connector("app #2", "s3cr3t-value"))).await;
        let location = header(&res, "location");
        let created = assert_ok(res, StatusCode::CREATED, "create").await;
        let data = &created["data"];
        let id = data["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/v3/connectors/google/creds/{id}"));
        assert_eq!(data["name"], "app #2");
        assert_eq!(data["credential_type"], "connector");
        assert!(data["created_at"].is_i64() && data["updated_at"].is_i64(), "unix seconds: {data}");
        assert!(data.get("credential_data").is_none(), "{data}");
        assert!(!created.to_string().contains("s3cr3t-value"));

        // The same body again is the same credential (200).
        let res = nylas(&app, Method::POST, "/google/creds", key, Some(&connector("app #2", "s3cr3t-value"))).await;
        assert_eq!(assert_ok(res, StatusCode::OK, "again").await["data"]["id"], id.as_str());
        let res = nylas(&app, Method::POST, "/google/creds", key, Some(&connector("app #2", "other"))).await;
        assert_nylas_error(res, StatusCode::CONFLICT, "already_exists").await;

        // Natively, the same credential.
        let res = app.get(&format!("/v1/providers/google/credentials/{id}"), key).await;
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["name"], "app #2");
        let at = chrono::DateTime::parse_from_rfc3339(native["created_at"].as_str().unwrap()).unwrap();
        assert_eq!(at.timestamp(), data["created_at"].as_i64().unwrap());

        let res = nylas(&app, Method::GET, &format!("/google/creds/{id}"), key, None).await;
        assert_eq!(assert_ok(res, StatusCode::OK, "find").await["data"]["id"], id.as_str());

        // PATCH replaces the data wholesale: a key left out is 400.
        let path = format!("/google/creds/{id}");
        let res = nylas(&app, Method::PATCH, &path, key, Some(&json!({"credential_data": {"client_id": "only"}}))).await;
        let err = assert_nylas_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(err["error"]["message"].as_str().unwrap().contains("credential_data.client_secret"), "{err}");
        let res = nylas(&app, Method::PATCH, &path, key, Some(&json!({"name": "renamed", "credential_data": {"client_id": "id-2", "client_secret": "new-secret"}}))).await;
        assert_eq!(assert_ok(res, StatusCode::OK, "update").await["data"]["name"], "renamed");

        // A credential made natively is found through the dialect too.
        let res = app.post("/v1/providers/google/credentials", key, &connector("native one", "n")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let native_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let res = nylas(&app, Method::GET, &format!("/google/creds/{native_id}"), key, None).await;
        assert_eq!(assert_ok(res, StatusCode::OK, "find native").await["data"]["name"], "native one");

        // The active credential cannot be destroyed.
        let res = app.patch("/v1/providers/google", key, &json!({"active_credential_id": id})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = nylas(&app, Method::DELETE, &path, key, None).await;
        assert_nylas_error(res, StatusCode::CONFLICT, "still_referenced").await;
        let res = app.patch("/v1/providers/google", key, &json!({"active_credential_id": null})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = nylas(&app, Method::DELETE, &path, key, None).await;
        let deleted = assert_ok(res, StatusCode::OK, "destroy").await;
        assert_eq!(deleted.as_object().unwrap().len(), 1, "only request_id: {deleted}");
        let res = nylas(&app, Method::GET, &path, key, None).await;
        assert_nylas_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get(&format!("/v1/providers/google/credentials/{id}"), key).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        // The audit trail names the dialect operations.
        let res = app.get(&format!("/v1/audit_events?limit=100&resource_id={id}"), key).await;
        let page: Value = res.json().await.unwrap();
        let actions: Vec<&str> = page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"nylas_update_credential") && actions.contains(&"nylas_destroy_credential"), "{actions:?}");
    }
}

backend_test! {
    async fn list_pages_by_offset_in_either_order(app) {
        let key = &app.bootstrap_key;
        let mut ids = Vec::new();
        for n in 0..5 {
            let res = nylas(&app, Method::POST, "/microsoft/creds", key, Some(&connector(&format!("c{n}"), "s"))).await;
            ids.push(assert_ok(res, StatusCode::CREATED, "create").await["data"]["id"].as_str().unwrap().to_owned());
        }
        let page = |query: &'static str| {
            let app = &app;
            async move {
                let res = nylas(app, Method::GET, &format!("/microsoft/creds{query}"), key, None).await;
                let body = assert_ok(res, StatusCode::OK, query).await;
                body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(page("").await, newest_first);
        assert_eq!(page("?limit=2&offset=0&sort_by=created_at&order_by=desc").await, newest_first[..2]);
        assert_eq!(page("?limit=2&offset=2&sort_by=created_at&order_by=desc").await, newest_first[2..4]);
        assert_eq!(page("?limit=2&offset=4").await, newest_first[4..]);
        assert_eq!(page("?limit=3&offset=1&order_by=asc").await, ids[1..4]);
        assert!(page("?offset=10").await.is_empty());
        let res = nylas(&app, Method::GET, "/microsoft/creds?limit=200", key, None).await;
        let body = assert_ok(res, StatusCode::OK, "limit 200").await;
        assert_eq!((body["limit"].as_i64(), body["offset"].as_i64()), (Some(200), Some(0)));
        for (bad, kind) in [
            ("?limit=0", "validation_failed"),
            ("?limit=201", "validation_failed"),
            ("?offset=-1", "validation_failed"),
            ("?order_by=sideways", "invalid_query_parameter"),
            ("?limit=x", "invalid_query_parameter"),
        ] {
            let res = nylas(&app, Method::GET, &format!("/microsoft/creds{bad}"), key, None).await;
            assert_nylas_error(res, StatusCode::BAD_REQUEST, kind).await;
        }
    }
}

backend_test! {
    async fn every_error_is_in_nylas_envelope_never_problem_json(app) {
        let key = &app.bootstrap_key;
        let res = nylas(&app, Method::GET, "/google/creds", "kg_ak_nottherightkey", None).await;
        assert_nylas_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let res = app.client.get(format!("{}/v3/connectors/google/creds", app.address)).send().await.unwrap();
        assert_nylas_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = nylas(&app, Method::POST, "/google/creds", &serving, Some(&connector("x", "s"))).await;
        assert_nylas_error(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        // Any id that names nothing is 404, malformed or not, and is not
        // repeated.
        for id in ["crd_00000000000000000000000000000000", "not-an-id", "a%20b"] {
            let res = nylas(&app, Method::GET, &format!("/google/creds/{id}"), key, None).await;
            let body = assert_nylas_error(res, StatusCode::NOT_FOUND, "not_found").await;
            assert!(!body.to_string().contains("not-an-id"), "{body}");
            let res = nylas(&app, Method::DELETE, &format!("/google/creds/{id}"), key, None).await;
            assert_nylas_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        let res = nylas(&app, Method::GET, "/nylas/creds", key, None).await;
        assert_nylas_error(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
        let res = nylas(&app, Method::GET, "/google/nothing", key, None).await;
        assert_nylas_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = nylas(&app, Method::PUT, "/google/creds", key, None).await;
        assert_nylas_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        // Extra data keys are refused, naming the key, not dropped.
        let mut body = connector("extra", "s");
        body["credential_data"]["project_id"] = json!("p");
        let res = nylas(&app, Method::POST, "/google/creds", key, Some(&body)).await;
        let err = assert_nylas_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(err["error"]["message"].as_str().unwrap().contains("credential_data.project_id"), "{err}");
        let res = nylas(&app, Method::POST, "/google/creds", key, Some(&json!({"name": "n", "credential_type": "serviceaccount", "credential_data": {"private_key": "SECRET-PEM"}}))).await;
        let err = assert_nylas_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(!err.to_string().contains("SECRET-PEM"), "{err}");
        let res = app.client.post(format!("{}/v3/connectors/google/creds", app.address)).bearer_auth(key).header("content-type", "application/json").body("{").send().await.unwrap();
        assert_nylas_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
}
