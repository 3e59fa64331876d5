//! The Vectara dialect (`/v2/api_keys`): its committed document, create
//! with `secret_key` once and `corpus_keys` as resource scopes, paging with
//! `page_key` to a `null` end, filters, get, disable and enable, delete
//! with 204, the same keys natively both ways, `Request-Timeout-Millis`,
//! and every error in Vectara's `{messages, request_id}`, never
//! problem+json.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

#[test]
fn committed_document_matches_the_generated_one() {
    crate::dialects::check_committed("vectara", &keygate::dialects::vectara::document_pretty());
}

/// A request as the SDK sends it (`x-api-key`, `Request-Timeout-Millis`).
async fn vectara(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = app
        .client
        .request(method, format!("{}/v2/api_keys{path}", app.address))
        .header("x-api-key", key)
        .header("request-timeout-millis", "5000")
        .header("accept", "*/*");
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

async fn assert_ok(res: Response, status: StatusCode, what: &str) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

/// Asserts an error in Vectara's envelope: status, JSON (never
/// problem+json), `messages`, the request id and keygate's code.
async fn assert_vectara_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(header(&res, "content-type"), "application/json");
    let id = header(&res, "x-request-id");
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string)),
        "{body}"
    );
    body
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        crate::dialects::assert_served(&app, "vectara").await;
    }
}

backend_test! {
    async fn the_sdk_calls_create_get_disable_enable_and_delete_the_native_key(app) {
        let key = &app.bootstrap_key;
        let body = json!({"name": "docs search", "api_key_role": "serving", "corpus_keys": ["docs", "faq"]});
        let res = vectara(&app, Method::POST, "", key, Some(&body)).await;
        let location = header(&res, "location");
        let created = assert_ok(res, StatusCode::CREATED, "create").await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("aky_"));
        assert_eq!(location, format!("/v2/api_keys/{id}"));
        let secret = created["secret_key"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("kg_ak_"));
        assert_eq!(created["corpus_keys"], json!(["docs", "faq"]));
        assert_eq!(created["api_key_role"], "serving");

        // Natively, the same key, scoped; verify reports the scopes.
        let res = app.get(&format!("/v1/api_keys/{id}"), key).await;
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["resource_scopes"], json!(["docs", "faq"]));
        let res = app.post("/v1/verify", key, &json!({"key": secret})).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resource_scopes"], json!(["docs", "faq"]));

        let path = format!("/{id}");
        let got = assert_ok(vectara(&app, Method::GET, &path, key, None).await, StatusCode::OK, "get").await;
        assert!(got.get("secret_key").is_none(), "shown once: {got}");
        let off = assert_ok(vectara(&app, Method::PATCH, &path, key, Some(&json!({"enabled": false}))).await, StatusCode::OK, "disable").await;
        assert_eq!(off["enabled"], false);
        let res = app.get("/v1/me", &secret).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a disabled key is refused");
        let same = assert_ok(vectara(&app, Method::PATCH, &path, key, Some(&json!({}))).await, StatusCode::OK, "{}").await;
        assert_eq!(same["enabled"], false);
        let on = assert_ok(vectara(&app, Method::PATCH, &path, key, Some(&json!({"enabled": true}))).await, StatusCode::OK, "enable").await;
        assert_eq!(on["enabled"], true);

        // A policy comes back named, each operation with allow_any_resource.
        let res = app.post("/v1/api_keys", key, &json!({"name": "narrow", "api_key_role": "serving", "api_policy": {"allowed_operations": {"get_me": {}}}})).await;
        let narrow: Value = res.json().await.unwrap();
        let res = vectara(&app, Method::GET, &format!("/{}", narrow["id"].as_str().unwrap()), key, None).await;
        let narrow = assert_ok(res, StatusCode::OK, "get narrow").await;
        assert_eq!(narrow["api_policy"]["name"], "serving", "{narrow}");
        assert_eq!(narrow["api_policy"]["allowed_operations"]["get_me"]["allow_any_resource"], true, "{narrow}");

        let res = vectara(&app, Method::DELETE, &path, key, None).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = vectara(&app, Method::GET, &path, key, None).await;
        assert_vectara_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(app.get(&format!("/v1/api_keys/{id}"), key).await.status(), StatusCode::NOT_FOUND);

        let res = app.get(&format!("/v1/audit_events?limit=100&resource_id={id}"), key).await;
        let page: Value = res.json().await.unwrap();
        let actions: Vec<&str> = page["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"vectara_create_api_key") && actions.contains(&"vectara_delete_api_key"), "{actions:?}");
    }
}

backend_test! {
    async fn the_pager_follows_page_key_to_a_null_end_and_filters_apply(app) {
        let key = &app.bootstrap_key;
        for n in 0..5 {
            let corpus = if n % 2 == 0 { "docs" } else { "my_docs" };
            let body = json!({"name": format!("k{n}"), "api_key_role": "serving", "corpus_keys": [corpus]});
            assert_ok(vectara(&app, Method::POST, "", key, Some(&body)).await, StatusCode::CREATED, "create").await;
        }
        let mut seen = Vec::new();
        let mut page_key: Option<String> = None;
        let mut pages = 0;
        loop {
            let query = match &page_key {
                Some(k) => format!("?limit=2&page_key={k}"),
                None => "?limit=2".to_owned(),
            };
            let page = assert_ok(vectara(&app, Method::GET, &query, key, None).await, StatusCode::OK, "page").await;
            pages += 1;
            seen.extend(page["api_keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()));
            match page["metadata"]["page_key"].as_str() {
                Some(next) => page_key = Some(next.to_owned()),
                None => {
                    assert!(page["metadata"]["page_key"].is_null());
                    break;
                }
            }
        }
        assert_eq!((seen.len(), pages), (6, 3), "the bootstrap key and five: {seen:?}");
        let page = assert_ok(vectara(&app, Method::GET, "", key, None).await, StatusCode::OK, "default limit").await;
        assert_eq!(page["api_keys"].as_array().unwrap().len(), 6);
        // `_` is no wildcard and scopes are case-sensitive.
        let page = assert_ok(vectara(&app, Method::GET, "?corpus_key=docs", key, None).await, StatusCode::OK, "corpus").await;
        assert_eq!(page["api_keys"].as_array().unwrap().len(), 3, "{page}");
        let page = assert_ok(vectara(&app, Method::GET, "?corpus_key=my_docs", key, None).await, StatusCode::OK, "corpus").await;
        assert_eq!(page["api_keys"].as_array().unwrap().len(), 2, "{page}");
        let page = assert_ok(vectara(&app, Method::GET, "?corpus_key=DOCS", key, None).await, StatusCode::OK, "case").await;
        assert!(page["api_keys"].as_array().unwrap().is_empty(), "{page}");
        let page = assert_ok(vectara(&app, Method::GET, "?api_key_role=personal", key, None).await, StatusCode::OK, "role").await;
        assert_eq!(page["api_keys"].as_array().unwrap().len(), 1, "{page}");
        for (query, code) in [("?limit=0", "validation_failed"), ("?limit=101", "validation_failed"), ("?page_key=%21", "validation_failed"), ("?corpus_key=a%20b", "validation_failed"), ("?api_key_role=owner", "invalid_query_parameter")] {
            let res = vectara(&app, Method::GET, query, key, None).await;
            let body = assert_vectara_error(res, StatusCode::BAD_REQUEST, code).await;
            assert!(!body.to_string().contains("cursor"), "vendor names: {body}");
        }
    }
}

backend_test! {
    async fn every_error_is_in_vectara_envelope_never_problem_json(app) {
        let key = &app.bootstrap_key;
        let res = vectara(&app, Method::GET, "", "kg_ak_nottherightkey", None).await;
        assert_vectara_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = vectara(&app, Method::GET, "", &serving, None).await;
        assert_vectara_error(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let cases = [
            (json!({"name": "p", "api_key_role": "personal", "corpus_keys": ["docs"]}), "corpus_keys"),
            (json!({"name": "e", "api_key_role": "serving", "corpus_keys": []}), "corpus_keys"),
            (json!({"name": "", "api_key_role": "serving"}), "name"),
        ];
        for (body, field) in cases {
            let res = vectara(&app, Method::POST, "", key, Some(&body)).await;
            let err = assert_vectara_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
            assert!(err["messages"][0].as_str().unwrap().starts_with(field), "{err}");
        }
        let res = vectara(&app, Method::POST, "", key, Some(&json!({"name": "r", "api_key_role": "serving", "api_roles": ["owner"]}))).await;
        assert_vectara_error(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        let res = vectara(&app, Method::PATCH, "/aky_00000000000000000000000000000000", key, Some(&json!({"enabled": false}))).await;
        assert_vectara_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = vectara(&app, Method::DELETE, "/not-an-id", key, None).await;
        assert_vectara_error(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
        let res = vectara(&app, Method::PUT, "", key, None).await;
        assert_vectara_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        let res = app.client.get(format!("{}/v2/api_keys", app.address)).header("x-api-key", key).header("request-timeout-millis", "0").send().await.unwrap();
        let body = assert_vectara_error(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(body["messages"][0].as_str().unwrap().starts_with("Request-Timeout-Millis"), "{body}");
    }
}
