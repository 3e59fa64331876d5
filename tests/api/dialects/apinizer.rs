//! The Apinizer dialect (`/apiops/.../settings/keys/`): its committed
//! document, the seed's three calls answering exactly `{"success": true}`
//! on the native proxy, `null` as not given, the trailing slash, and the
//! seed's errors in `{error, error_description}`, never problem+json.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

#[test]
fn committed_document_matches_the_generated_one() {
    crate::dialects::check_committed("apinizer", &keygate::dialects::apinizer::document_pretty());
}

async fn apinizer(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let mut req = app
        .client
        .request(method, format!("{}/apiops{path}", app.address))
        .header("authorization", format!("Bearer {key}"));
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

async fn assert_apinizer_error(res: Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(header(&res, "content-type"), "application/json");
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

const KEYS: &str = "/projects/MyProject/apiProxies/MyAPI/settings/keys/";

async fn setup(app: &TestApp) {
    let key = &app.bootstrap_key;
    assert_eq!(
        app.post("/v1/projects", key, &json!({"name": "MyProject"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .post(
            "/v1/projects/MyProject/api_proxies",
            key,
            &json!({"name": "MyAPI"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

backend_test! {
    async fn served_document_is_the_committed_one(app) {
        crate::dialects::assert_served(&app, "apinizer").await;
    }
}

backend_test! {
    async fn the_seed_calls_set_the_native_proxy_keys(app) {
        setup(&app).await;
        let key = &app.bootstrap_key;
        let native = || async { app.get("/v1/projects/MyProject/api_proxies/MyAPI", key).await.json::<Value>().await.unwrap() };
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"publicKey": "ak_1234567890abcdef", "secretKey": "sk_9876543210fedcba"}))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        let view = native().await;
        assert_eq!((view["public_key"].as_str(), view["secret_key_last4"].as_str()), (Some("ak_1234567890abcdef"), Some("dcba")), "{view}");
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"publicKey": "ak_new_public_key", "secretKey": null}))).await;
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        let view = native().await;
        assert_eq!((view["public_key"].as_str(), view["secret_key_last4"].as_str()), (Some("ak_new_public_key"), Some("dcba")), "null keeps the secret: {view}");
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"secretKey": "sk_new_secret_value", "deploy": false}))).await;
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        assert_eq!(native().await["secret_key_last4"], "alue");
        let res = app.get("/v1/audit_events?limit=100&action=apinizer_update_api_proxy_keys", key).await;
        let text = res.text().await.unwrap();
        assert!(text.contains("apinizer_update_api_proxy_keys"), "{text}");
        assert!(!text.contains("sk_new_secret_value"));
    }
}

backend_test! {
    async fn the_seed_errors_are_in_apinizer_envelope(app) {
        setup(&app).await;
        let key = &app.bootstrap_key;
        for body in [json!({}), json!({"publicKey": null, "secretKey": null})] {
            let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&body)).await;
            let err = assert_apinizer_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
            assert_eq!(err["error_description"], "At least one key (publicKey or secretKey) must be provided");
        }
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"secretKey": "   "}))).await;
        let err = assert_apinizer_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(err["error_description"].as_str().unwrap().starts_with("secretKey"), "{err}");
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"publicKey": "k", "deploy": true}))).await;
        assert_apinizer_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
        let res = apinizer(&app, Method::PATCH, KEYS, "kg_ak_nottherightkey", Some(&json!({"publicKey": "k"}))).await;
        assert_apinizer_error(res, StatusCode::UNAUTHORIZED, "unauthorized_client").await;
        let res = apinizer(&app, Method::PATCH, "/projects/MyProject/apiProxies/Other/settings/keys/", key, Some(&json!({"publicKey": "k"}))).await;
        let err = assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(err["error_description"], "ApiProxy (name: Other) was not found!");
        // Without the trailing slash the path is not Apinizer's: 404.
        let res = apinizer(&app, Method::PATCH, "/projects/MyProject/apiProxies/MyAPI/settings/keys", key, Some(&json!({"publicKey": "k"}))).await;
        assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        // A key another proxy holds is a conflict.
        app.post("/v1/projects/MyProject/api_proxies", key, &json!({"name": "Second"})).await;
        apinizer(&app, Method::PATCH, "/projects/MyProject/apiProxies/Second/settings/keys/", key, Some(&json!({"publicKey": "taken-key"}))).await;
        let res = apinizer(&app, Method::PATCH, KEYS, key, Some(&json!({"publicKey": "taken-key"}))).await;
        assert_apinizer_error(res, StatusCode::CONFLICT, "conflict").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = apinizer(&app, Method::PATCH, KEYS, &serving, Some(&json!({"publicKey": "k"}))).await;
        assert_apinizer_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
}
