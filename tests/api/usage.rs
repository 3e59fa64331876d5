//! Usage control (issue 19): identities, rate limits and credits enforced by
//! `POST /v1/verify` and on keygate's own `/v1` calls, on one node and on
//! three nodes sharing one PostgreSQL database.

use std::time::Duration;

use keygate::config::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

/// Verifies `key` with `extra` members merged into the body; the answer.
async fn verify(app: &TestApp, caller: &str, key: &str, extra: Value) -> Value {
    let mut body = json!({"key": key});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let res = app.post("/v1/verify", caller, &body).await;
    assert_eq!(res.status(), StatusCode::OK, "verify");
    res.json().await.unwrap()
}

/// Creates an identity, asserting 201.
async fn create_identity(app: &TestApp, body: Value) -> Value {
    let res = app.post("/v1/identities", &app.bootstrap_key, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create identity {body}");
    res.json().await.unwrap()
}

/// Creates a serving key with `extra` settings; returns (id, secret).
async fn limited_key(app: &TestApp, extra: Value) -> (String, String) {
    let mut body = json!({"name": "limited", "api_key_role": "serving"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = app.create_key(&app.bootstrap_key, body).await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

fn codes(answers: &[Value]) -> Vec<String> {
    answers
        .iter()
        .map(|a| a["code"].as_str().unwrap().to_owned())
        .collect()
}

backend_test! {
    async fn identities_are_created_found_changed_and_deleted(app) {
        let admin = app.bootstrap_key.clone();
        let created = create_identity(&app, json!({"external_id": "customer-42", "name": "Acme", "metadata": {"plan": "pro"}})).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("idn_"), "{created}");
        assert_eq!(created["ratelimits"], json!([]));
        assert!(created["credits"].is_null());

        let res = app.post("/v1/identities", &admin, &json!({"external_id": "customer-42"})).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        let res = app.post("/v1/identities", &admin, &json!({"external_id": "x", "metadata": {"a": "b".repeat(5000)}})).await;
        assert_invalid(res, "validation_failed", "metadata").await;
        let res = app.post("/v1/identities", &admin, &json!({"external_id": "x", "ratelimits": [{"name": "r", "limit": 0, "duration": 1000}]})).await;
        assert_invalid(res, "validation_failed", "ratelimits[0].limit").await;

        let res = app.get("/v1/identities?external_id=customer-42", &admin).await;
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        assert_eq!(page["data"][0]["id"], id.as_str());

        let res = app.patch(&format!("/v1/identities/{id}"), &admin, &json!({"metadata": null, "credits": {"remaining": 5}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let changed: Value = res.json().await.unwrap();
        assert!(changed["metadata"].is_null());
        assert_eq!(changed["credits"]["remaining"], 5);

        // Another organization sees nothing of it.
        let (_, other) = app.other_organization("other").await;
        let res = app.get(&format!("/v1/identities/{id}"), &other).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post("/v1/api_keys", &other, &json!({"name": "k", "api_key_role": "serving", "identity_id": id})).await;
        assert_invalid(res, "validation_failed", "identity_id").await;

        let (key_id, _) = limited_key(&app, json!({"identity_id": id})).await;
        let res = app.get(&format!("/v1/api_keys/{key_id}"), &admin).await;
        let key: Value = res.json().await.unwrap();
        assert_eq!(key["identity_id"], id.as_str());
        let res = app.delete(&format!("/v1/identities/{id}"), &admin).await;
        assert_problem(res, StatusCode::CONFLICT, "still_referenced").await;
        let res = app.patch(&format!("/v1/api_keys/{key_id}"), &admin, &json!({"identity_id": null})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.delete(&format!("/v1/identities/{id}"), &admin).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.get(&format!("/v1/identities/{id}"), &admin).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get("/v1/audit_events?resource_type=identity", &admin).await;
        let events: Value = res.json().await.unwrap();
        let actions: Vec<&str> = events["data"].as_array().unwrap().iter()
            .filter(|e| e["resource_id"] == id.as_str() && e["outcome"] == "success")
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["create_identity", "update_identity", "delete_identity"], "{events}");
    }
}

backend_test! {
    async fn a_key_limited_to_ten_a_second_verifies_ten_times_then_is_rate_limited(app) {
        let (_, key) = limited_key(&app, json!({"ratelimits": [{"name": "requests", "limit": 10, "duration": 1000}]})).await;
        // Eleven verifies inside one window: start just after a second
        // begins, and run again if a window boundary still fell inside.
        for attempt in 0.. {
            let now = chrono::Utc::now();
            let into = now.timestamp_subsec_millis() as u64;
            actix_web::rt::time::sleep(Duration::from_millis(1005 - into)).await;
            let mut answers = Vec::new();
            for _ in 0..11 {
                answers.push(verify(&app, &app.bootstrap_key, &key, json!({})).await);
            }
            let resets: Vec<&Value> = answers.iter().map(|a| &a["ratelimits"][0]["reset_at"]).collect();
            if resets.iter().any(|r| *r != resets[0]) && attempt < 3 {
                continue;
            }
            let mut expected = vec!["VALID".to_owned(); 10];
            expected.push("RATE_LIMITED".to_owned());
            assert_eq!(codes(&answers), expected);
            let first = &answers[0]["ratelimits"][0];
            assert_eq!(first["remaining"], 9);
            assert_eq!(first["scope"], "key");
            let last = &answers[10]["ratelimits"][0];
            assert_eq!(last["exceeded"], true);
            assert_eq!(last["remaining"], 0);
            assert!(!answers[10]["valid"].as_bool().unwrap());
            // The window is the current whole second: it resets at the next.
            let reset = chrono::DateTime::parse_from_rfc3339(last["reset_at"].as_str().unwrap()).unwrap();
            assert_eq!(reset.timestamp_subsec_millis(), 0, "{reset}");
            let until = reset.timestamp_millis() - now.timestamp_millis();
            assert!((1000..=2100).contains(&until), "resets {until} ms after the start");
            break;
        }
        // A verify may name the limits it applies: none named, none counted.
        let answer = verify(&app, &app.bootstrap_key, &key, json!({"ratelimits": ["other"]})).await;
        assert_eq!(answer["code"], "VALID");
        assert_eq!(answer["ratelimits"], json!([]));
    }
}

backend_test! {
    async fn two_keys_of_one_identity_share_its_limit(app) {
        let identity = create_identity(&app, json!({"external_id": "acme", "metadata": {"plan": "pro"}, "ratelimits": [{"name": "requests", "limit": 5, "duration": 60000}]})).await;
        let id = identity["id"].as_str().unwrap();
        let (_, a) = limited_key(&app, json!({"identity_id": id})).await;
        let (_, b) = limited_key(&app, json!({"identity_id": id})).await;
        let mut answers = Vec::new();
        for key in [&a, &b, &a, &b, &a, &b, &a] {
            answers.push(verify(&app, &app.bootstrap_key, key, json!({})).await);
        }
        assert_eq!(codes(&answers), ["VALID", "VALID", "VALID", "VALID", "VALID", "RATE_LIMITED", "RATE_LIMITED"]);
        assert_eq!(answers[0]["identity"]["external_id"], "acme");
        assert_eq!(answers[0]["identity"]["metadata"], json!({"plan": "pro"}));
        assert_eq!(answers[0]["ratelimits"][0]["scope"], "identity");
        assert_eq!(answers[4]["ratelimits"][0]["remaining"], 0);
        // A change to the identity reaches its keys' cached records at once.
        let res = app.patch(&format!("/v1/identities/{id}"), &app.bootstrap_key, &json!({"ratelimits": [{"name": "requests", "limit": 50, "duration": 60000}], "metadata": {"plan": "max"}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let answer = verify(&app, &app.bootstrap_key, &a, json!({})).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["identity"]["metadata"], json!({"plan": "max"}));
        // And a change to a key's own limits reaches its record too.
        let res = app.get("/v1/api_keys?limit=100", &app.bootstrap_key).await;
        let keys: Value = res.json().await.unwrap();
        let a_id = keys["data"].as_array().unwrap().iter()
            .find(|k| k["identity_id"] == id).unwrap()["id"].as_str().unwrap().to_owned();
        let res = app.patch(&format!("/v1/api_keys/{a_id}"), &app.bootstrap_key, &json!({"ratelimits": [{"name": "own", "limit": 1, "duration": 60000}]})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["ratelimits"][0]["name"], "own");
        let first = verify(&app, &app.bootstrap_key, &a, json!({})).await;
        assert_eq!(first["code"], "VALID", "{first}");
        assert_eq!(first["ratelimits"].as_array().unwrap().len(), 2, "its own and its identity's: {first}");
        let third = verify(&app, &app.bootstrap_key, &a, json!({})).await;
        assert_eq!(third["code"], "RATE_LIMITED", "{third}");
        assert_eq!(third["ratelimits"][0]["scope"], "key", "{third}");
        // A cost counts that many units.
        let (_, c) = limited_key(&app, json!({"ratelimits": [{"name": "tokens", "limit": 10, "duration": 60000}]})).await;
        let answer = verify(&app, &app.bootstrap_key, &c, json!({"cost": 7})).await;
        assert_eq!(answer["ratelimits"][0]["remaining"], 3);
        let answer = verify(&app, &app.bootstrap_key, &c, json!({"cost": 4})).await;
        assert_eq!(answer["code"], "RATE_LIMITED");
        let res = app.post("/v1/verify", &app.bootstrap_key, &json!({"key": c, "cost": -1})).await;
        assert_invalid(res, "validation_failed", "cost").await;
    }
}

backend_test! {
    async fn credits_run_out_exactly_and_can_be_set_added_and_taken(app) {
        let admin = app.bootstrap_key.clone();
        let (id, key) = limited_key(&app, json!({"credits": {"remaining": 5}, "ratelimits": [{"name": "requests", "limit": 100, "duration": 60000}]})).await;
        let mut answers = Vec::new();
        for _ in 0..7 {
            answers.push(verify(&app, &admin, &key, json!({})).await);
        }
        assert_eq!(codes(&answers), ["VALID", "VALID", "VALID", "VALID", "VALID", "USAGE_EXCEEDED", "USAGE_EXCEEDED"]);
        let left: Vec<i64> = answers[..5].iter().map(|a| a["credits"][0]["remaining"].as_i64().unwrap()).collect();
        assert_eq!(left, [4, 3, 2, 1, 0]);
        // A refused verify counts against no limit.
        assert_eq!(answers[6]["ratelimits"][0]["remaining"], 95);

        let path = format!("/v1/api_keys/{id}/credits");
        let res = app.post(&path, &admin, &json!({"operation": "increment", "value": 2})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let balance: Value = res.json().await.unwrap();
        assert_eq!(balance["remaining"], 2);
        let a = verify(&app, &admin, &key, json!({"cost": 2})).await;
        assert_eq!(a["code"], "VALID");
        assert_eq!(verify(&app, &admin, &key, json!({})).await["code"], "USAGE_EXCEEDED");
        let res = app.post(&path, &admin, &json!({"operation": "set", "value": 10})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.post(&path, &admin, &json!({"operation": "decrement", "value": 4})).await;
        let balance: Value = res.json().await.unwrap();
        assert_eq!(balance["remaining"], 6);
        let res = app.get(&format!("/v1/api_keys/{id}"), &admin).await;
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["credits"]["remaining"], 6);
        let res = app.post(&path, &admin, &json!({"operation": "double", "value": 4})).await;
        assert_invalid(res, "invalid_body", "operation").await;

        let (plain, _) = limited_key(&app, json!({})).await;
        let res = app.post(&format!("/v1/api_keys/{plain}/credits"), &admin, &json!({"operation": "increment", "value": 1})).await;
        assert_problem(res, StatusCode::CONFLICT, "no_credits").await;
        let res = app.get("/v1/audit_events?resource_type=api_key", &admin).await;
        let events: Value = res.json().await.unwrap();
        let changed = events["data"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "change_api_key_credits" && e["outcome"] == "success")
            .count();
        assert_eq!(changed, 3, "{events}");
    }
}

backend_test! {
    async fn a_limited_key_gets_429_with_the_rate_limit_headers_on_its_own_calls(app) {
        let created = app.create_key(&app.bootstrap_key, json!({"name": "ui", "api_key_role": "personal", "ratelimits": [{"name": "api", "limit": 2, "duration": 60000}]})).await;
        let key = created["key"].as_str().unwrap();
        for _ in 0..2 {
            assert_eq!(app.get("/v1/me", key).await.status(), StatusCode::OK);
        }
        let res = app.get("/v1/me", key).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: i64 = header(&res, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(header(&res, "ratelimit-policy"), "\"api\";q=2;w=60");
        assert_eq!(header(&res, "ratelimit"), format!("\"api\";r=0;t={retry}"));
        let body = assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        assert!(!body.to_string().contains(key));
        // The admin key is not limited.
        assert_eq!(app.get("/v1/me", &app.bootstrap_key).await.status(), StatusCode::OK);
    }
}

/// Three nodes on one PostgreSQL database.
async fn three_nodes() -> Option<Vec<TestApp>> {
    let master = keygate::crypto::envelope::MasterKey::generate_base64();
    let first = master.clone();
    let a = TestApp::spawn_with(Backend::Postgres, |s| {
        s.master_key = keygate::config::MasterKeySource::Inline(first);
    })
    .await?;
    let mut nodes = vec![a];
    for _ in 0..2 {
        let shared = nodes[0].database_target.clone();
        let master = master.clone();
        nodes.push(
            TestApp::spawn_with(Backend::Postgres, |s| {
                s.database.target = shared;
                s.master_key = keygate::config::MasterKeySource::Inline(master);
            })
            .await
            .unwrap(),
        );
    }
    Some(nodes)
}

#[actix_web::test]
async fn credits_are_never_overspent_by_many_writers_on_three_nodes() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    let admin = nodes[0].bootstrap_key.clone();
    let (_, key) = limited_key(&nodes[0], json!({"credits": {"remaining": 300}})).await;
    // 16 concurrent callers per node, 450 verifies in all.
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for _ in 0..16 {
            let (address, admin, key) = (node.address.clone(), admin.clone(), key.clone());
            tasks.push(actix_web::rt::spawn(async move {
                let client = reqwest::Client::new();
                let mut valid = 0;
                for _ in 0..(if n == 0 { 10 } else { 9 }) {
                    let res = client
                        .post(format!("{address}/v1/verify"))
                        .bearer_auth(&admin)
                        .json(&json!({"key": key}))
                        .send()
                        .await
                        .unwrap();
                    let answer: Value = res.json().await.unwrap();
                    if answer["code"] == "VALID" {
                        valid += 1;
                    } else {
                        assert_eq!(answer["code"], "USAGE_EXCEEDED", "{answer}");
                    }
                }
                valid
            }));
        }
    }
    let mut valid = 0;
    for task in tasks {
        valid += task.await.unwrap();
    }
    // Leases are taken from the database under a row lock and spent only
    // by the node holding them: never more than the balance.
    assert!(valid <= 300, "{valid} of 300 credits spent");
    // A node may still hold leased credits another node could not have;
    // verifying on each node until it refuses spends them: all of them.
    for node in &nodes {
        loop {
            match verify(node, &admin, &key, json!({})).await["code"].as_str() {
                Some("VALID") => valid += 1,
                Some("USAGE_EXCEEDED") => break,
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(valid, 300, "every credit was spent, none twice");
}

#[actix_web::test]
async fn each_of_three_nodes_counts_a_limit_exactly_and_together_they_admit_at_most_n_times_it() {
    let Some(nodes) = three_nodes().await else {
        return;
    };
    let admin = nodes[0].bootstrap_key.clone();
    let (_, key) = limited_key(
        &nodes[0],
        json!({"ratelimits": [{"name": "requests", "limit": 10, "duration": 3600000}]}),
    )
    .await;
    let mut total = 0;
    for node in &nodes {
        let mut answers = Vec::new();
        for _ in 0..12 {
            answers.push(verify(node, &admin, &key, json!({})).await);
        }
        let valid = codes(&answers).iter().filter(|c| *c == "VALID").count();
        assert_eq!(valid, 10, "each node counts exactly");
        total += valid;
    }
    assert_eq!(total, 30, "with N nodes at most N x L per window");
}

backend_test! {
    async fn analytics_count_a_scripted_run_by_identity_and_outcome(app) {
        let start = chrono::Utc::now() - chrono::Duration::minutes(1);
        let identity = create_identity(&app, json!({"external_id": "counted", "ratelimits": [{"name": "requests", "limit": 3, "duration": 3600000}]})).await;
        let id = identity["id"].as_str().unwrap();
        let (_, a) = limited_key(&app, json!({"identity_id": id})).await;
        let (_, b) = limited_key(&app, json!({"identity_id": id, "credits": {"remaining": 1}})).await;
        // a: VALID, VALID; b: VALID, then over the shared limit; a: over it.
        let script = [(&a, "VALID"), (&a, "VALID"), (&b, "VALID"), (&b, "RATE_LIMITED"), (&a, "RATE_LIMITED")];
        for (key, code) in script {
            assert_eq!(verify(&app, &app.bootstrap_key, key, json!({})).await["code"], code);
        }
        // A key whose balance is empty.
        let (_, c) = limited_key(&app, json!({"credits": {"remaining": 0}})).await;
        assert_eq!(verify(&app, &app.bootstrap_key, &c, json!({})).await["code"], "USAGE_EXCEEDED");
        let end = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let path = format!("/v1/analytics/verifications?start={}&end={end}&bucket=hour&group_by=identity,outcome", start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let body = crate::analytics::analytics_once(&app, &app.bootstrap_key, &path, 6).await;
        let of_identity: i64 = body["data"].as_array().unwrap().iter()
            .filter(|r| r["identity_id"] == id)
            .map(|r| r["count"].as_i64().unwrap())
            .sum();
        assert_eq!(of_identity, 5, "{body}");
        let outcomes = crate::analytics::by(&body, "outcome");
        assert_eq!(outcomes["VALID"], 3, "{body}");
        assert_eq!(outcomes["RATE_LIMITED"], 2, "{body}");
        assert_eq!(outcomes["USAGE_EXCEEDED"], 1, "{body}");
    }
}

backend_test! {
    /// JSON Schema's `integer` admits a zero fraction (`60000.0`): every
    /// whole number of the usage bodies accepts it; a real fraction is 400
    /// naming the field.
    async fn usage_numbers_accept_a_zero_fraction_and_refuse_a_real_one(app) {
        let admin = app.bootstrap_key.clone();
        let identity = create_identity(&app, json!({
            "external_id": "whole",
            "ratelimits": [{"name": "requests", "limit": 2.0, "duration": 60000.0}],
            "credits": {"remaining": 10.0, "refill": {"interval": 60000.0, "amount": 10.0}},
        })).await;
        assert_eq!(identity["ratelimits"], json!([{"name": "requests", "limit": 2, "duration": 60000}]));
        assert_eq!(identity["credits"]["remaining"], 10);
        assert_eq!(identity["credits"]["refill"], json!({"interval": 60000, "amount": 10}));
        let id = identity["id"].as_str().unwrap().to_owned();
        let (key_id, key) = limited_key(&app, json!({
            "identity_id": id,
            "ratelimits": [{"name": "own", "limit": 5.0, "duration": 1000.0}],
            "credits": {"remaining": 3.0},
        })).await;
        let answer = verify(&app, &admin, &key, json!({"cost": 1.0, "ratelimits": ["requests"]})).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["ratelimits"][0]["remaining"], 1, "{answer}");

        let res = app.post(&format!("/v1/api_keys/{key_id}/credits"), &admin, &json!({"operation": "set", "value": 7.0})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["remaining"], 7);
        let res = app.post(&format!("/v1/identities/{id}/credits"), &admin, &json!({"operation": "increment", "value": 5.0})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["remaining"], 14);
        let res = app.patch(&format!("/v1/identities/{id}"), &admin, &json!({"ratelimits": [{"name": "requests", "limit": 3.0, "duration": 1000.0}]})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["ratelimits"][0]["limit"], 3);

        let fractions = [
            ("/v1/verify".to_owned(), json!({"key": key, "cost": 1.5}), "cost"),
            (format!("/v1/api_keys/{key_id}/credits"), json!({"operation": "set", "value": 2.5}), "value"),
            (format!("/v1/identities/{id}/credits"), json!({"operation": "set", "value": 1e20}), "value"),
            ("/v1/identities".to_owned(), json!({"external_id": "f", "ratelimits": [{"name": "r", "limit": 1.5, "duration": 1000}]}), "ratelimits[0].limit"),
            ("/v1/identities".to_owned(), json!({"external_id": "f", "credits": {"remaining": 1, "refill": {"interval": 60000.5, "amount": 1}}}), "credits.refill.interval"),
        ];
        for (path, body, field) in fractions {
            let res = app.post(&path, &admin, &body).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            assert_invalid(res, "invalid_body", field).await;
        }
    }
}

backend_test! {
    /// The `external_id` filter has the lengths the document states.
    async fn the_external_id_filter_is_1_to_255_characters(app) {
        let admin = app.bootstrap_key.clone();
        create_identity(&app, json!({"external_id": "e".repeat(255)})).await;
        let res = app.get(&format!("/v1/identities?external_id={}", "e".repeat(255)), &admin).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["data"].as_array().unwrap().len(), 1);
        for (query, case) in [("external_id=", "empty"), (&*format!("external_id={}", "e".repeat(256)), "256 characters")] {
            let res = app.get(&format!("/v1/identities?{query}"), &admin).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{case}");
            assert_invalid(res, "validation_failed", "external_id").await;
        }
    }
}

/// Free-form metadata is an object with `additionalProperties: true`:
/// without it openapi-generator warns that it cannot type the map.
#[test]
fn identity_metadata_is_documented_as_a_free_form_object() {
    let doc = keygate::resources::document();
    for schema in [
        "CreateIdentity",
        "UpdateIdentity",
        "Identity",
        "VerifiedIdentity",
    ] {
        let metadata = &doc["components"]["schemas"][schema]["properties"]["metadata"];
        assert_eq!(
            metadata["type"],
            json!(["object", "null"]),
            "{schema}: {metadata}"
        );
        assert_eq!(
            metadata["additionalProperties"],
            json!(true),
            "{schema}: {metadata}"
        );
    }
}

#[actix_web::test]
async fn concurrent_sets_of_an_unlimited_balance_all_succeed_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    for owner in ["api_key", "identity"] {
        let path = if owner == "api_key" {
            let (id, _) = limited_key(&app, json!({})).await;
            format!("/v1/api_keys/{id}/credits")
        } else {
            let identity = create_identity(&app, json!({"external_id": "racing"})).await;
            format!(
                "/v1/identities/{}/credits",
                identity["id"].as_str().unwrap()
            )
        };
        let mut tasks = Vec::new();
        for n in 0..8 {
            let (address, admin, path) =
                (app.address.clone(), app.bootstrap_key.clone(), path.clone());
            tasks.push(actix_web::rt::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{address}{path}"))
                    .bearer_auth(&admin)
                    .json(&json!({"operation": "set", "value": 100 + n}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for task in tasks {
            assert_eq!(
                task.await.unwrap(),
                StatusCode::OK,
                "{owner}: every set of one balance succeeds"
            );
        }
    }
}

backend_test! {
    async fn a_verify_that_fails_on_the_database_counts_against_no_limit(app) {
        let (_, key) = limited_key(&app, json!({"ratelimits": [{"name": "requests", "limit": 5, "duration": 3600000}], "credits": {"remaining": 10}})).await;
        // The first verify caches the key; then leasing credits fails.
        assert_eq!(verify(&app, &app.bootstrap_key, &key, json!({"cost": 0})).await["code"], "VALID");
        execute(&app, "ALTER TABLE credits RENAME TO credits_away");
        let res = app.post("/v1/verify", &app.bootstrap_key, &json!({"key": key})).await;
        assert!(res.status().is_server_error(), "{}", res.status());
        execute(&app, "ALTER TABLE credits_away RENAME TO credits");
        let answer = verify(&app, &app.bootstrap_key, &key, json!({})).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
        assert_eq!(answer["ratelimits"][0]["remaining"], 4, "the failed verify took nothing: {answer}");
    }
}
