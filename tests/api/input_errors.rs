//! Input errors name the field and never repeat the value: bodies, query and path parameters, duplicate
//! members, duplicate credentials headers, a body that never arrives, a
//! long URL, percent-encoded paths.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

const CIDR: &str = "must be an IPv4 or IPv6 CIDR network such as 10.0.0.0/8";
const TIMESTAMP: &str = "must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z";

/// Sends a raw JSON text.
async fn send_text(app: &TestApp, method: Method, path: &str, body: &str) -> reqwest::Response {
    app.request(method, path, Some(&app.bootstrap_key))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

backend_test! {
    async fn body_errors_name_the_field_and_repeat_no_value(app) {
        let (id, _) = app.key_with_role("serving").await;
        let key_path = format!("/v1/api_keys/{id}");
        let rotate_path = format!("/v1/api_keys/{id}/rotate");
        // (what, method, path, body, field, field code, message)
        let cases: [(&str, Method, &str, &str, &str, &str, &str); 13] = [
            ("a fraction for a whole number", Method::POST, &rotate_path,
                r#"{"grace_period_seconds": 987654321.5}"#, "grace_period_seconds", "invalid_value", "must be a whole number"),
            ("a CIDR out of range", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "allowed_cidrs": ["10.0.0.0/33"]}"#,
                "allowed_cidrs[0]", "invalid_value", CIDR),
            ("a second CIDR that is a secret", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "allowed_cidrs": ["10.0.0.0/8", "SECRET-cidr"]}"#,
                "allowed_cidrs[1]", "invalid_value", CIDR),
            ("a timestamp in words", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "expires_at": "tomorrow SECRET"}"#,
                "expires_at", "invalid_value", TIMESTAMP),
            ("a string for a boolean", Method::PATCH, &key_path,
                r#"{"enabled": "yes"}"#, "enabled", "invalid_type", "must be a boolean"),
            ("a quoted secret for a boolean", Method::PATCH, &key_path,
                r#"{"enabled": "x\"SECRET"}"#, "enabled", "invalid_type", "must be a boolean"),
            ("a number for a boolean", Method::PATCH, &key_path,
                r#"{"enabled": 987654321}"#, "enabled", "invalid_type", "must be a boolean"),
            ("an unknown role", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "SECRET"}"#,
                "api_key_role", "invalid_value", "must be one of `serving`, `serving_and_indexing`, `personal`"),
            ("a missing field", Method::POST, "/v1/api_keys",
                r#"{"name": "k"}"#, "api_key_role", "required", "is required"),
            ("an unknown member named like a key", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "kg_ak_SECRET": true}"#,
                "*", "unknown_field", "a member of this object is not one of its fields; expected one of `name`, `api_key_role`, `api_policy`, `allowed_cidrs`, `expires_at`, `enabled`, `resource_scopes`, `identity_id`, `ratelimits`, `credits`"),
            ("a nested wrong type", Method::POST, "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "api_policy": {"allowed_operations": {"get_api_key": {"allow_any_resource": "SECRET"}}}}"#,
                "api_policy.allowed_operations.get_api_key.allow_any_resource", "invalid_type", "must be a boolean"),
            ("malformed JSON inside a member", Method::POST, "/v1/api_keys",
                r#"{"name": "SECRET", "api_key_role": serving}"#,
                "api_key_role", "invalid_json", "is not valid JSON: expected value (line 1, column 36)"),
            ("an array for a body", Method::POST, "/v1/api_keys",
                r#"["SECRET"]"#, "body", "invalid_type", "must be a JSON object"),
        ];
        for (what, method, path, body, field, field_code, message) in cases {
            let res = send_text(&app, method, path, body).await;
            let code = if field_code == "invalid_json" { "invalid_json" } else { "invalid_body" };
            let text = res.text().await.unwrap();
            assert!(!text.contains("SECRET") && !text.contains("987654321"), "{what}: {text}");
            let problem: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(problem["code"], code, "{what}: {problem}");
            assert_names_fields(&problem);
            assert_eq!(
                problem["errors"],
                json!([{"field": field, "code": field_code, "message": message}]),
                "{what}"
            );
            assert_eq!(problem["detail"], format!("{field}: {message}"), "{what}");
        }
    }
}

backend_test! {
    async fn query_and_path_errors_name_the_parameter(app) {
        let cases = [
            ("limit=abc", "/v1/api_keys?limit=abc", "invalid_query_parameter", "limit", "must be an integer"),
            ("a secret limit", "/v1/api_keys?limit=SECRET", "invalid_query_parameter", "limit", "must be an integer"),
            ("an unknown role", "/v1/api_keys?api_key_role=SECRET", "invalid_query_parameter", "api_key_role",
                "must be one of `serving`, `serving_and_indexing`, `personal`"),
            ("a malformed key id", "/v1/api_keys/SECRET", "invalid_path_parameter", "api_key_id",
                "must be aky_ followed by 32 lowercase hex digits"),
            ("a malformed secret id", "/v1/secrets/SECRET", "invalid_path_parameter", "secret_id",
                "must be a lowercase letter or digit, then up to 127 lowercase letters, digits, '_' or '-'"),
            ("a parameter given twice", "/v1/api_keys?limit=1&limit=2", "invalid_query_parameter", "limit",
                "is given more than once"),
            ("a NUL in a query value", "/v1/api_keys?cursor=a%00SECRET", "invalid_query_parameter", "cursor",
                "must not contain the NUL character (%00)"),
        ];
        for (what, path, code, field, message) in cases {
            let res = app.get(path, &app.bootstrap_key).await;
            let mut problem: Value = res.json().await.unwrap();
            // `instance` is the path as sent (docs/API-DESIGN.md); nothing
            // else repeats it.
            assert_eq!(problem["instance"], path.split('?').next().unwrap(), "{what}");
            problem["instance"] = Value::Null;
            assert!(!problem.to_string().contains("SECRET"), "{what}: {problem}");
            assert_eq!(problem["status"], 400, "{what}: {problem}");
            assert_eq!(problem["code"], code, "{what}: {problem}");
            assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
            assert_eq!(problem["errors"][0]["message"], message, "{what}: {problem}");
            assert_eq!(problem["detail"], format!("{field}: {message}"), "{what}");
        }
        // A value out of range is the rule's own error, on the same field.
        let res = app.get("/v1/api_keys?limit=500", &app.bootstrap_key).await;
        assert_invalid(res, "validation_failed", "limit").await;
    }
}

backend_test! {
    async fn duplicate_json_members_are_refused(app) {
        let cases = [
            ("a role given twice", "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "api_key_role": "personal"}"#, "api_key_role"),
            ("a nested member given twice", "/v1/api_keys",
                r#"{"name": "k", "api_key_role": "serving", "api_policy": {"allowed_operations": {"get_me": {}, "get_me": {}}}}"#,
                "api_policy.allowed_operations.get_me"),
            ("a credential key given twice", "/v1/providers/google/credentials",
                r#"{"name": "c", "credential_type": "connector", "credential_data": {"client_id": "a", "client_secret": "SECRET1", "client_secret": "SECRET2"}}"#,
                "credential_data.client_secret"),
        ];
        for (what, path, body, field) in cases {
            let res = send_text(&app, Method::POST, path, body).await;
            let text = res.text().await.unwrap();
            assert!(!text.contains("SECRET"), "{what}: {text}");
            let problem: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(problem["status"], 400, "{what}: {problem}");
            assert_eq!(problem["code"], "invalid_body", "{what}: {problem}");
            assert_eq!(
                problem["errors"],
                json!([{"field": field, "code": "duplicate_member", "message": "must appear only once in its object"}]),
                "{what}"
            );
        }
        // Nothing was made: no personal key named k exists.
        let list: Value = app.get("/v1/api_keys?limit=100", &app.bootstrap_key).await.json().await.unwrap();
        assert!(list["data"].as_array().unwrap().iter().all(|k| k["name"] != "k"), "{list}");
    }
}

backend_test! {
    async fn two_credentials_headers_are_401(app) {
        let (_, other) = app.key_with_role("serving").await;
        let cases = [
            ("Authorization twice, the same key", vec![("authorization", format!("Bearer {}", app.bootstrap_key)), ("authorization", format!("Bearer {}", app.bootstrap_key))]),
            ("Authorization twice, two keys", vec![("authorization", format!("Bearer {other}")), ("authorization", format!("Bearer {}", app.bootstrap_key))]),
            ("Authorization and x-api-key", vec![("authorization", format!("Bearer {}", app.bootstrap_key)), ("x-api-key", app.bootstrap_key.clone())]),
            ("x-api-key twice", vec![("x-api-key", app.bootstrap_key.clone()), ("x-api-key", app.bootstrap_key.clone())]),
        ];
        for (what, headers) in cases {
            let mut req = app.request(Method::GET, "/v1/me", None);
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(header(&res, "www-authenticate"), "Bearer", "{what}");
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        // One header works.
        assert_eq!(app.get("/v1/me", &app.bootstrap_key).await.status(), StatusCode::OK);
    }
}

/// Sends a request head announcing a body that never comes; returns the
/// raw answer and how long it took (the server closes the connection).
fn send_head_without_body(address: &str, key: &str) -> (String, Duration) {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /v1/api_keys HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\""
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

async fn a_body_that_never_arrives_is_408(backend: keygate::config::Backend) {
    // The default app waits 10 s; this one 300 ms.
    let Some(app) =
        TestApp::spawn_with(backend, |s| s.body_timeout = Duration::from_millis(300)).await
    else {
        return;
    };
    let address = app.address.clone();
    let key = app.bootstrap_key.clone();
    let (answer, took) =
        actix_web::rt::task::spawn_blocking(move || send_head_without_body(&address, &key))
            .await
            .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains(r#""code":"body_timeout""#), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "answered and closed after {took:?}"
    );
}

mod a_body_that_never_arrives_is_408 {
    #[actix_web::test]
    async fn sqlite() {
        super::a_body_that_never_arrives_is_408(keygate::config::Backend::Sqlite).await;
    }

    #[actix_web::test]
    async fn postgres() {
        super::a_body_that_never_arrives_is_408(keygate::config::Backend::Postgres).await;
    }
}

backend_test! {
    async fn a_long_url_is_a_414_problem(app) {
        let cursor = "a".repeat(9000);
        let res = app.get(&format!("/v1/api_keys?cursor={cursor}"), &app.bootstrap_key).await;
        let body = assert_problem(res, StatusCode::URI_TOO_LONG, "uri_too_long").await;
        assert_eq!(body["detail"], "the request URL is longer than 8192 bytes");
        let res = app.request(Method::GET, &format!("/{}", "b".repeat(20_000)), None).send().await.unwrap();
        assert_problem(res, StatusCode::URI_TOO_LONG, "uri_too_long").await;
    }
}

backend_test! {
    async fn percent_encoded_paths_are_the_paths_they_spell(app) {
        let (id, _) = app.key_with_role("serving").await;
        // Unauthenticated: the same 401 as the plain path, not a 500.
        for path in ["/v1/se%63rets", "/v1/%73ecrets", "/v1/api%5Fkeys"] {
            let res = app.request(Method::GET, path, None).send().await.unwrap();
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        // Authenticated: the operation itself.
        let res = app.get("/v1/se%63rets", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let encoded_id = id.replacen('a', "%61", 1);
        let res = app.get(&format!("/v1/api%5Fkeys/{encoded_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let got: Value = res.json().await.unwrap();
        assert_eq!(got["id"], id);
        // Other encoded bytes stay as they are: no route, or a bad id.
        let res = app.get("/v1/se%ffrets", &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get("/v1/secrets/%c3", &app.bootstrap_key).await;
        assert_invalid(res, "invalid_path_parameter", "secret_id").await;
    }
}

backend_test! {
    async fn the_documented_400_examples_are_what_the_server_says(app) {
        let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        let examples = doc["components"]["responses"]["BadRequest"]["content"]["application/problem+json"]["examples"]
            .as_object()
            .expect("the 400 has examples")
            .clone();
        for (name, example) in examples {
            let req = match name.as_str() {
                "validation_failed" => app.request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                    .json(&json!({"name": "", "api_key_role": "serving"})),
                "invalid_body" => app.request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                    .json(&json!({"name": "k", "api_key_role": "serving", "allowed_cidrs": ["10.0.0.0/33"]})),
                "duplicate_member" => app.request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                    .header("content-type", "application/json")
                    .body(r#"{"name": "k", "api_key_role": "serving", "api_key_role": "personal"}"#),
                "invalid_json" => app.request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                    .header("content-type", "application/json")
                    .body(r#"{"name": }"#),
                "invalid_query_parameter" => app.request(Method::GET, "/v1/api_keys?limit=abc", Some(&app.bootstrap_key)),
                "invalid_header" => app.request(Method::GET, "/v1/api_keys", Some(&app.bootstrap_key))
                    .header("Request-Timeout", "abc"),
                other => panic!("no request for the example {other}"),
            };
            let res = req.send().await.unwrap();
            let want = &example["value"];
            let got = assert_problem(res, StatusCode::BAD_REQUEST, want["code"].as_str().unwrap()).await;
            for part in ["detail", "errors", "type", "title"] {
                assert_eq!(got[part], want[part], "{name}: {part}");
            }
        }
    }
}
