//! Import of keys issued elsewhere by their SHA-256: an imported key
//! authenticates and verifies by its hash whatever its shape; bad hashes,
//! duplicates and oversized imports are refused, naming the field.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backend_test;
use crate::helpers::{assert_invalid, assert_problem};

fn hex_of(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

backend_test! {
    async fn an_imported_hash_verifies_and_authenticates(app) {
        let by_hex = "sk_live_Zq8r2M1cXyA0bT7uV3wE5n";
        let by_base64 = "legacy-token-0123456789";
        let body = json!({"keys": [
            {"key_sha256": hex_of(by_hex), "key_prefix": "sk_live_", "key_last4": "wE5n", "name": "billing", "api_key_role": "personal"},
            {"key_sha256": STANDARD.encode(Sha256::digest(by_base64.as_bytes())), "key_prefix": "legacy-", "key_last4": "6789", "name": "reports", "api_key_role": "serving"}
        ]});
        // Presented before the import: the "no such key" answer it gets is
        // cached, and the import drops it (the key verifies at once below).
        let res = app.post("/v1/verify", &app.bootstrap_key, &json!({"key": by_hex})).await;
        let verdict: Value = res.json().await.unwrap();
        assert_eq!(verdict["code"], "MALFORMED", "{verdict}");
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let imported: Value = res.json().await.unwrap();
        let data = imported["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["key_prefix"], "sk_live_");
        assert!(!imported.to_string().contains(&hex_of(by_hex)), "no hash is shown");
        for (key, role) in [(by_hex, "personal"), (by_base64, "serving")] {
            let res = app.post("/v1/verify", &app.bootstrap_key, &json!({"key": key})).await;
            let verdict: Value = res.json().await.unwrap();
            assert_eq!(verdict["code"], "VALID", "{key}: {verdict}");
            assert_eq!(verdict["api_key_role"], role);
            let res = app.get("/v1/me", key).await;
            assert_eq!(res.status(), StatusCode::OK, "{key} authenticates");
        }
        // Text of neither shape that keygate does not hold is still malformed.
        let res = app.post("/v1/verify", &app.bootstrap_key, &json!({"key": "no-such-imported-key"})).await;
        let verdict: Value = res.json().await.unwrap();
        assert_eq!(verdict["code"], "MALFORMED");
        // Rotating an imported key replaces it with a keygate key.
        let id = data[1]["id"].as_str().unwrap();
        let rotated: Value = app
            .post(&format!("/v1/api_keys/{id}/rotate"), &app.bootstrap_key, &json!({"grace_period_seconds": 0}))
            .await
            .json()
            .await
            .unwrap();
        assert!(rotated["key"].as_str().unwrap().starts_with("kg_ak_"));
        assert_problem(app.get("/v1/me", by_base64).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // The same hash twice: nothing imported.
        let again = json!({"keys": [
            {"key_sha256": hex_of("fresh-key-abcdefgh"), "key_prefix": "f", "key_last4": "efgh", "name": "fresh", "api_key_role": "serving"},
            {"key_sha256": hex_of(by_hex), "key_prefix": "sk_live_", "key_last4": "wE5n", "name": "billing", "api_key_role": "personal"}
        ]});
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &again).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        let res = app.get("/v1/me", "fresh-key-abcdefgh").await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let events: Value = app.get("/v1/audit_events?action=import_api_keys", &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(events["data"].as_array().unwrap().len(), 2, "one event a key");
    }
}

backend_test! {
    async fn bad_imports_are_refused_naming_the_field(app) {
        let good = || json!({"key_sha256": hex_of("abcdefgh-1"), "key_prefix": "a", "key_last4": "h-1", "name": "n", "api_key_role": "serving"});
        let mut bad_hash = good();
        bad_hash["key_sha256"] = json!("abc");
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &json!({"keys": [good(), bad_hash]})).await;
        assert_invalid(res, "validation_failed", "keys[1].key_sha256").await;
        let mut bad_name = good();
        bad_name["name"] = json!("");
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &json!({"keys": [bad_name]})).await;
        assert_invalid(res, "validation_failed", "keys[0].name").await;
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &json!({"keys": []})).await;
        assert_invalid(res, "validation_failed", "keys").await;
        let many: Vec<Value> = (0..1001).map(|i| {
            let mut k = good();
            k["key_sha256"] = json!(hex_of(&format!("key-number-{i}")));
            k
        }).collect();
        let res = app.post("/v1/api_keys/import", &app.bootstrap_key, &json!({"keys": many})).await;
        assert_invalid(res, "validation_failed", "keys").await;
        // Other methods on the import path are 405, never another route's.
        let res = app.patch("/v1/api_keys/import", &app.bootstrap_key, &json!({"name": "x"})).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "POST");
        let res = app.get("/v1/api_keys/import", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.post("/v1/api_keys/import", &serving, &json!({"keys": [good()]})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
    }
}
