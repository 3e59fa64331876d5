//! HTTP conventions every operation shares: problem+json for unknown routes,
//! wrong methods, media types, body limits and malformed JSON; `X-Request-Id`;
//! authentication headers and 401s; health endpoints.

use keygate::keys::format::{self as key_format, KeyKind};
use regex::Regex;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

fn is_generated_id(id: &str) -> bool {
    Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .unwrap()
        .is_match(id)
}

backend_test! {
    async fn unknown_routes_are_404_problems(app) {
        let cases = [
            ("unknown /v1 path, with a key", "/v1/nope", Some(app.bootstrap_key.as_str())),
            ("unknown /v1 path, without a key", "/v1/nope", None),
            ("unknown root path", "/nope", None),
            ("too deep under a known path", "/v1/api_keys/aky_00000000000000000000000000000000/extra", Some(app.bootstrap_key.as_str())),
        ];
        for (what, path, key) in cases {
            let res = app.request(Method::GET, path, key).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
            let body = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            assert_eq!(body["instance"], path, "{what}");
            assert_eq!(body["type"], "urn:keygate:problem:not_found", "{what}");
        }
    }
}

backend_test! {
    async fn wrong_methods_are_405_with_allow(app) {
        let cases = [
            (Method::PUT, "/v1/api_keys", "GET, POST"),
            (Method::DELETE, "/v1/me", "GET"),
            (Method::POST, "/v1/api_keys/aky_00000000000000000000000000000000", "DELETE, GET, PATCH"),
            (Method::POST, "/healthz", "GET"),
        ];
        for (method, path, allow) in cases {
            for key in [Some(app.bootstrap_key.as_str()), None] {
                let what = format!("{method} {path} (key: {})", key.is_some());
                let res = app.request(method.clone(), path, key).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{what}");
                assert_eq!(header(&res, "allow").as_deref(), Some(allow), "{what}");
                let body = assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
                assert_eq!(body["instance"], path, "{what}");
            }
        }
    }
}

backend_test! {
    async fn non_json_bodies_are_415(app) {
        let body = r#"{"name": "k", "api_key_role": "serving"}"#;
        let cases = [
            ("text/plain", Some("text/plain")),
            ("form", Some("application/x-www-form-urlencoded")),
            ("no content-type", None),
        ];
        for (what, content_type) in cases {
            let mut req = app
                .request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                .body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{what}");
            assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
        }
        // The same body as JSON is accepted.
        let res = app
            .request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

backend_test! {
    async fn bodies_over_64_kib_are_413(app) {
        let body = json!({"name": "n".repeat(70_000), "api_key_role": "serving"});
        let res = app.post("/v1/api_keys", &app.bootstrap_key, &body).await;
        assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

        let res = app
            .patch("/v1/api_keys/aky_00000000000000000000000000000000", &app.bootstrap_key, &body)
            .await;
        assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
}

backend_test! {
    async fn malformed_json_is_400_invalid_json(app) {
        let cases = [
            ("truncated object", r#"{"name":"#),
            ("trailing comma", r#"{"name": "k", "api_key_role": "serving",}"#),
            ("not json", "name=k"),
            ("empty", ""),
        ];
        for (what, body) in cases {
            let res = app
                .request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_json").await;
        }
    }
}

backend_test! {
    async fn every_response_carries_a_request_id(app) {
        let (id, _) = app.key_with_role("serving").await;
        let created = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "rid", "api_key_role": "serving"}))
            .await;
        let cases = [
            ("200", app.get("/v1/me", &app.bootstrap_key).await, StatusCode::OK),
            ("201", created, StatusCode::CREATED),
            ("204", app.delete(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await, StatusCode::NO_CONTENT),
            ("health", app.request(Method::GET, "/healthz", None).send().await.unwrap(), StatusCode::OK),
            ("401", app.request(Method::GET, "/v1/me", None).send().await.unwrap(), StatusCode::UNAUTHORIZED),
            ("404", app.get("/v1/nope", &app.bootstrap_key).await, StatusCode::NOT_FOUND),
            ("405", app.request(Method::PUT, "/v1/api_keys", None).send().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED),
            ("400", app.post("/v1/api_keys", &app.bootstrap_key, &json!({})).await, StatusCode::BAD_REQUEST),
        ];
        let mut seen = Vec::new();
        for (what, res, status) in cases {
            assert_eq!(res.status(), status, "{what}");
            let rid = header(&res, "x-request-id").unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
            assert!(is_generated_id(&rid), "{what}: generated id {rid}");
            if status.is_client_error() {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["request_id"], rid.as_str(), "{what}: body request_id");
            }
            seen.push(rid);
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "each request gets its own id: {seen:?}");
    }
}

backend_test! {
    async fn a_valid_incoming_request_id_is_echoed_and_an_invalid_one_replaced(app) {
        let cases = [
            ("simple", "req-123_abc.def".to_owned(), true),
            ("with colon", "trace:42".to_owned(), true),
            ("128 chars", "a".repeat(128), true),
            ("has space", "has space".to_owned(), false),
            ("129 chars", "a".repeat(129), false),
            ("200 chars", "b".repeat(200), false),
            ("slash", "a/b".to_owned(), false),
        ];
        for (what, incoming, valid) in cases {
            for (path, key, status) in [
                ("/v1/me", Some(app.bootstrap_key.as_str()), StatusCode::OK),
                ("/v1/me", None, StatusCode::UNAUTHORIZED),
            ] {
                let res = app
                    .request(Method::GET, path, key)
                    .header("x-request-id", &incoming)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), status, "{what}");
                let rid = header(&res, "x-request-id").unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
                if valid {
                    assert_eq!(rid, incoming, "{what}: echoed");
                } else {
                    assert_ne!(rid, incoming, "{what}: replaced");
                    assert!(is_generated_id(&rid), "{what}: replaced by a generated id, got {rid}");
                }
                if status.is_client_error() {
                    let body = assert_problem(res, status, "unauthorized").await;
                    assert_eq!(body["request_id"], rid.as_str(), "{what}: body request_id");
                }
            }
        }
    }
}

backend_test! {
    async fn bad_credentials_are_401_with_www_authenticate(app) {
        let real = app.bootstrap_key.clone();
        let mut typo = real.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_ne!(typo, real);
        let unknown = key_format::generate(KeyKind::ApiKey).value;
        let cluster_key = key_format::generate(KeyKind::ClusterKey).value;

        let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("no credentials", vec![]),
            ("Basic scheme", vec![("authorization", "Basic x".to_owned())]),
            ("Basic scheme with a real key", vec![("authorization", format!("Basic {real}"))]),
            ("scheme without key", vec![("authorization", "Bearer".to_owned())]),
            ("empty bearer", vec![("authorization", "Bearer ".to_owned())]),
            ("wrong checksum", vec![("authorization", format!("Bearer {typo}"))]),
            ("wrong checksum in x-api-key", vec![("x-api-key", typo.clone())]),
            ("well-formed unknown key", vec![("authorization", format!("Bearer {unknown}"))]),
            ("unknown key in x-api-key", vec![("x-api-key", unknown.clone())]),
            ("cluster key kind", vec![("authorization", format!("Bearer {cluster_key}"))]),
            ("truncated key", vec![("authorization", format!("Bearer {}", &real[..real.len() - 1]))]),
        ];
        for (what, headers) in cases {
            let mut req = app.request(Method::GET, "/v1/me", None);
            for (name, value) in &headers {
                req = req.header(*name, value);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"), "{what}");
            let text_res = res;
            let body = assert_problem(text_res, StatusCode::UNAUTHORIZED, "unauthorized").await;
            let text = body.to_string();
            assert!(!text.contains(&real) && !text.contains(&unknown), "{what}: a key in {text}");
        }

        // The same applies to every authenticated operation.
        let res = app.request(Method::GET, "/v1/api_keys", None).send().await.unwrap();
        assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"));
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

backend_test! {
    async fn the_three_credential_forms_authenticate(app) {
        let key = app.bootstrap_key.clone();
        let res = app.get("/v1/me", &key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let expected: Value = res.json().await.unwrap();
        let cases = [
            ("Bearer", "authorization", format!("Bearer {key}")),
            ("ApiKey", "authorization", format!("ApiKey {key}")),
            ("x-api-key", "x-api-key", key.clone()),
            ("lower-case bearer", "authorization", format!("bearer {key}")),
            ("upper-case BEARER", "authorization", format!("BEARER {key}")),
            ("lower-case apikey", "authorization", format!("apikey {key}")),
        ];
        for (what, name, value) in cases {
            let res = app
                .request(Method::GET, "/v1/me", None)
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{what}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["id"], expected["id"], "{what}");
        }
    }
}

backend_test! {
    async fn health_endpoints_answer_without_credentials(app) {
        for path in ["/healthz", "/readyz"] {
            let res = app.request(Method::GET, path, None).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert!(header(&res, "x-request-id").is_some(), "{path}: X-Request-Id");
            assert!(
                header(&res, "content-type").is_some_and(|ct| ct.starts_with("application/json")),
                "{path}: JSON"
            );
            let body: Value = res.json().await.unwrap();
            let expected = match path {
                "/readyz" => json!({"status": "ok", "secrets": "available"}),
                _ => json!({"status": "ok"}),
            };
            assert_eq!(body, expected, "{path}");
        }
    }
}
