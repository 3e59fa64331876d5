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

const CREATE: &str = "/projects/MyProject/apiProxies/url/";

fn reverse_proxy(name: &str, address: &str) -> Value {
    json!({
        "apiProxyName": name,
        "apiProxyDescription": "Orders API for partners",
        "apiProxyCreationType": "REVERSE_PROXY",
        "clientRoute": {"relativePathList": ["/orders"], "virtualHostList": []},
        "routingInfo": {"routingAddressList": [{"address": address, "weight": 100, "healthCheckEnabled": false}], "routingEnabled": true, "mirrorEnabled": false},
        "deploy": false,
        "deployTargetEnvironmentNameList": []
    })
}

backend_test! {
    async fn the_calls_around_the_seed_are_the_native_projects_and_proxies(app) {
        setup(&app).await;
        let key = &app.bootstrap_key;
        // Projects made natively are listed in Apinizer's shape.
        let res = apinizer(&app, Method::GET, "/projects/", key, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let list: Value = res.json().await.unwrap();
        assert_eq!(list["status"], "SUCCESS");
        assert_eq!(list["resultCount"], 1);
        assert_eq!(list["resultList"][0], json!({"name": "MyProject", "description": null}));

        // A proxy made through the dialect is the native proxy.
        let res = apinizer(&app, Method::POST, CREATE, key, Some(&reverse_proxy("OrdersAPI", "https://orders.internal.example.com/v2"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        let res = app.get("/v1/projects/MyProject/api_proxies/OrdersAPI", key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let native: Value = res.json().await.unwrap();
        assert_eq!(native["upstream_url"], "https://orders.internal.example.com/v2");
        assert_eq!(native["description"], "Orders API for partners");

        // Native proxies (MyAPI from setup, Alpha made last) and dialect ones list alike, ordered by name as Apinizer orders them.
        app.post("/v1/projects/MyProject/api_proxies", key, &json!({"name": "Alpha"})).await;
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/", key, None).await;
        let list: Value = res.json().await.unwrap();
        assert_eq!(list["resultCount"], 3, "{list}");
        let names: Vec<&str> = list["resultList"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Alpha", "MyAPI", "OrdersAPI"]);
        assert_eq!(list["resultList"][2]["type"], "REST");
        app.delete("/v1/projects/MyProject/api_proxies/Alpha", key).await;

        // Get shows the upstream as the routing address and the keys as native does.
        apinizer(&app, Method::PATCH, "/projects/MyProject/apiProxies/OrdersAPI/settings/keys/", key, Some(&json!({"publicKey": "ak_orders_public", "secretKey": "sk_orders_secret"}))).await;
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/OrdersAPI/", key, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.unwrap();
        assert!(!text.contains("sk_orders_secret"), "the secret key is never shown");
        let detail: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(detail["name"], "OrdersAPI");
        assert_eq!(detail["routing"]["routingAddressList"][0]["address"], "https://orders.internal.example.com/v2");
        assert_eq!(detail["publicKey"], "ak_orders_public");
        assert_eq!(detail["secretKeyLast4"], "cret");
        // A proxy made natively is found through the dialect.
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/MyAPI/", key, None).await;
        let detail: Value = res.json().await.unwrap();
        assert_eq!(detail["routing"]["routingAddressList"], json!([]));

        // Delete through the dialect removes the native proxy.
        let res = apinizer(&app, Method::DELETE, "/projects/MyProject/apiProxies/OrdersAPI/", key, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true, "deploymentResult": {"success": true, "deploymentResults": []}}));
        assert_eq!(app.get("/v1/projects/MyProject/api_proxies/OrdersAPI", key).await.status(), StatusCode::NOT_FOUND);
        // ... and a proxy deleted natively is gone for the dialect.
        app.delete("/v1/projects/MyProject/api_proxies/MyAPI", key).await;
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/", key, None).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resultCount"], 0);

        // Audit events name the dialect operations.
        let text = app.get("/v1/audit_events?limit=100", key).await.text().await.unwrap();
        for action in ["apinizer_create_api_proxy", "apinizer_update_api_proxy_keys", "apinizer_delete_api_proxy"] {
            assert!(text.contains(action), "{action}: {text}");
        }
    }
}

backend_test! {
    async fn the_calls_around_the_seed_answer_apinizer_errors(app) {
        setup(&app).await;
        let key = &app.bootstrap_key;
        let create = |body: Value| {
            let app = &app;
            async move { apinizer(app, Method::POST, CREATE, &app.bootstrap_key, Some(&body)).await }
        };
        let mut body = reverse_proxy("OrdersAPI", "https://orders.example.com");
        body["apiProxyCreationType"] = json!("OPEN_API");
        body["specUrl"] = json!("https://example.com/openapi.json");
        let err = assert_apinizer_error(create(body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(err["error_description"].as_str().unwrap().starts_with("apiProxyCreationType"), "{err}");
        let mut body = reverse_proxy("OrdersAPI", "https://orders.example.com");
        body["specUrl"] = json!("https://example.com/openapi.json");
        let err = assert_apinizer_error(create(body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(err["error_description"].as_str().unwrap().starts_with("specUrl"), "{err}");
        let mut body = reverse_proxy("OrdersAPI", "https://orders.example.com");
        body["routingInfo"]["routingAddressList"] = json!([{"address": "https://a.example.com"}, {"address": "https://b.example.com"}]);
        let err = assert_apinizer_error(create(body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        assert!(err["error_description"].as_str().unwrap().starts_with("routingInfo.routingAddressList"), "{err}");
        let err = assert_apinizer_error(create(reverse_proxy("Orders API", "ftp://orders")).await, StatusCode::BAD_REQUEST, "bad_request").await;
        let description = err["error_description"].as_str().unwrap();
        assert!(description.contains("apiProxyName") && description.contains("routingInfo.routingAddressList[0].address"), "{err}");
        assert!(!description.contains("ftp://orders"), "no value is echoed: {err}");
        let mut body = reverse_proxy("OrdersAPI", "https://orders.example.com");
        body["deploy"] = json!(true);
        assert_apinizer_error(create(body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        let mut body = reverse_proxy("OrdersAPI", "https://orders.example.com");
        body["rateLimit"] = json!(10);
        assert_apinizer_error(create(body).await, StatusCode::BAD_REQUEST, "bad_request").await;
        // The name is taken natively: a conflict.
        let res = create(reverse_proxy("MyAPI", "https://orders.example.com")).await;
        assert_apinizer_error(res, StatusCode::CONFLICT, "conflict").await;
        let res = apinizer(&app, Method::POST, "/projects/NoSuchProject/apiProxies/url/", key, Some(&reverse_proxy("OrdersAPI", "https://orders.example.com"))).await;
        assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = apinizer(&app, Method::GET, "/projects/NoSuchProject/apiProxies/", key, None).await;
        assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        for method in [Method::GET, Method::DELETE] {
            let res = apinizer(&app, method, "/projects/MyProject/apiProxies/Other/", key, None).await;
            let err = assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
            assert_eq!(err["error_description"], "ApiProxy (name: Other) was not found!");
        }
        // Without Apinizer's trailing slash: 404 in Apinizer's envelope.
        for path in ["/projects", "/projects/MyProject/apiProxies", "/projects/MyProject/apiProxies/MyAPI"] {
            let res = apinizer(&app, Method::GET, path, key, None).await;
            assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        let res = apinizer(&app, Method::GET, "/projects/", "kg_ak_nottherightkey", None).await;
        assert_apinizer_error(res, StatusCode::UNAUTHORIZED, "unauthorized_client").await;
        let (_, serving) = app.key_with_role("serving").await;
        let res = apinizer(&app, Method::POST, CREATE, &serving, Some(&reverse_proxy("OrdersAPI", "https://orders.example.com"))).await;
        assert_apinizer_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = apinizer(&app, Method::DELETE, "/projects/MyProject/apiProxies/MyAPI/", &serving, None).await;
        assert_apinizer_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        // A serving key may read.
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/MyAPI/", &serving, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Nothing was created by the refused calls.
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/", key, None).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resultCount"], 1);
    }
}

backend_test! {
    async fn another_organization_sees_none_of_the_proxies(app) {
        setup(&app).await;
        let (_, other) = app.other_organization("acme").await;
        let res = apinizer(&app, Method::GET, "/projects/", &other, None).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resultCount"], 0);
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/MyAPI/", &other, None).await;
        assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = apinizer(&app, Method::DELETE, "/projects/MyProject/apiProxies/MyAPI/", &other, None).await;
        assert_apinizer_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(app.get("/v1/projects/MyProject/api_proxies/MyAPI", &app.bootstrap_key).await.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn apinizer_documented_create_fields_are_accepted_off_and_refused_on(app) {
        setup(&app).await;
        let key = &app.bootstrap_key;
        // Apinizer's full create example (create-api-proxy-from-url.md) as a reverse proxy.
        let documented = json!({
            "apiProxyName": "petstore-api",
            "apiProxyDescription": "Petstore API Proxy",
            "apiProxyCreationType": "REVERSE_PROXY",
            "clientRoute": {"relativePathList": ["/api/v1"], "virtualHostList": ["api.example.com"]},
            "routingInfo": {"routingAddressList": [{"address": "https://backend.example.com", "weight": 100, "healthCheckEnabled": true}], "routingEnabled": true, "mirrorEnabled": false},
            "deploy": false,
            "deployTargetEnvironmentNameList": ["production"],
            "reParse": false,
            "soapToRest": false,
            "enableWSA": false,
            "enableWSRM": false,
            "backendApiVersion": "v1",
            "maintenanceModeSetting": {"enabled": false, "httpStatusCode": 503, "contentType": "application/json", "message": "Service is under maintenance"},
            "specAuthorizationValueList": []
        });
        let turned_on = [
            ("reParse", json!(true)),
            ("soapToRest", json!(true)),
            ("enableWSA", json!(true)),
            ("enableWSRM", json!(true)),
            ("maintenanceModeSetting", json!({"enabled": true})),
            ("specAuthorizationValueList", json!([{"headerName": "Authorization", "headerValue": "Bearer token123"}])),
        ];
        for (field, value) in turned_on {
            let mut body = documented.clone();
            body[field] = value;
            let res = apinizer(&app, Method::POST, CREATE, key, Some(&body)).await;
            let err = assert_apinizer_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
            let description = err["error_description"].as_str().unwrap();
            assert!(description.starts_with(field), "{field}: {err}");
            assert!(!description.contains("token123"), "no value is echoed: {err}");
        }
        let res = apinizer(&app, Method::GET, "/projects/MyProject/apiProxies/", key, None).await;
        assert_eq!(res.json::<Value>().await.unwrap()["resultCount"], 1, "the refused calls created nothing");
        let res = apinizer(&app, Method::POST, CREATE, key, Some(&documented)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        let native: Value = app.get("/v1/projects/MyProject/api_proxies/petstore-api", key).await.json().await.unwrap();
        assert_eq!(native["upstream_url"], "https://backend.example.com");
        assert_eq!(native["description"], "Petstore API Proxy");
    }
}
