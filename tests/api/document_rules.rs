//! Behaviour the contract suite asked for: the server accepts every value
//! the document allows and refuses every value it does not.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backend_test;
use crate::helpers::*;

backend_test! {
    async fn an_empty_if_match_is_400_not_412(app) {
        let (id, _) = app.key_with_role("serving").await;
        let res = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("If-Match", "")
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_header").await;
    }
}

backend_test! {
    async fn an_invalid_body_is_400_even_with_a_stale_if_match(app) {
        let (id, _) = app.key_with_role("serving").await;
        let res = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("If-Match", "\"stale\"")
            .json(&json!({"name": ""}))
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
}

backend_test! {
    async fn a_grace_period_written_with_a_zero_fraction_is_a_whole_number(app) {
        let (id, _) = app.key_with_role("serving").await;
        let path = format!("/v1/api_keys/{id}/rotate");
        let res = app.post(&path, &app.bootstrap_key, &json!({"grace_period_seconds": 60.0})).await;
        assert_eq!(res.status(), StatusCode::OK, "60.0 is an integer in JSON Schema");
        let res = app.post(&path, &app.bootstrap_key, &json!({"grace_period_seconds": 60.5})).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
}

backend_test! {
    async fn bodies_must_be_json_objects(app) {
        let (id, _) = app.key_with_role("serving").await;
        let cases = [
            ("rotate with null", format!("/v1/api_keys/{id}/rotate"), json!(null)),
            ("rotate with an array", format!("/v1/api_keys/{id}/rotate"), json!([])),
            ("verify with an array", "/v1/verify".to_owned(), json!(["kg_ak_x"])),
            ("create with a string", "/v1/api_keys".to_owned(), json!("key")),
        ];
        for (what, path, body) in cases {
            let res = app.post(&path, &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            let problem: serde_json::Value = res.json().await.unwrap();
            assert_eq!(problem["code"], "invalid_body", "{what}: {problem}");
        }
        let res = app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await;
        let key: serde_json::Value = res.json().await.unwrap();
        assert_eq!(key["pending_keys"], json!([]), "no refused body rotated the key");
    }
}

backend_test! {
    async fn a_cursor_keygate_did_not_issue_pages_from_its_position(app) {
        // "AA" decodes to a NUL byte, "_w" to a non-UTF-8 byte.
        for cursor in ["0", "zzzz", "YWt5X3p6eg", "AA", "_w"] {
            for list in ["api_keys", "audit_events", "secrets", "connectors"] {
                let res = app.get(&format!("/v1/{list}?cursor={cursor}"), &app.bootstrap_key).await;
                assert_eq!(res.status(), StatusCode::OK, "{list} with cursor {cursor}");
            }
        }
        let res = app.get("/v1/api_keys?cursor=a.b", &app.bootstrap_key).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
}

backend_test! {
    async fn audit_filters_enforce_their_documented_lengths(app) {
        for filter in ["resource_type", "resource_id", "actor_key_id", "action"] {
            let res = app.get(&format!("/v1/audit_events?{filter}="), &app.bootstrap_key).await;
            let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], filter, "{body}");
        }
    }
}

backend_test! {
    async fn request_timeout_in_seconds_is_at_most_a_day(app) {
        let ok = app
            .request(Method::GET, "/v1/me", Some(&app.bootstrap_key))
            .header("Request-Timeout", "86400")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let res = app
            .request(Method::GET, "/v1/me", Some(&app.bootstrap_key))
            .header("Request-Timeout", "86401")
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
}

backend_test! {
    async fn strings_with_a_nul_character_are_refused_not_stored(app) {
        let cases = [
            ("name", json!({"name": "a\u{0}b", "api_key_role": "serving"})),
            (
                "policy resource id",
                json!({"name": "n", "api_key_role": "serving", "api_policy": {"allowed_operations": {
                    "get_api_key": {"allow_any_resource": false, "allowed_resources": {"api_key_id": ["a\u{0}"]}}
                }}}),
            ),
        ];
        for (what, body) in cases {
            let res = app.post("/v1/api_keys", &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        }
        let res = app.get("/v1/audit_events?action=a%00b", &app.bootstrap_key).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query_parameter").await;
        let doc = keygate::resources::document();
        assert_eq!(
            doc["components"]["schemas"]["CreateApiKey"]["properties"]["name"]["pattern"],
            keygate::openapi::NO_NUL_PATTERN,
            "the document states the rule"
        );
    }
}
