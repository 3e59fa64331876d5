//! `/v1/providers/{provider}` and its credentials: providers that exist
//! implicitly, the active credential and its references, each credential
//! type's exact keys, provider / type compatibility, idempotent and
//! conflicting creates, wholesale replacement of `credential_data`, sorted
//! cursor pagination (ties included), delete of the active credential,
//! `If-Match`, roles, tenancy, and `credential_data` values never shown in
//! answers, audit events or the raw database.

use diesel::QueryableByName;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::*;

const PROVIDERS: [&str; 9] = [
    "google",
    "microsoft",
    "imap",
    "icloud",
    "yahoo",
    "ews",
    "zoom",
    "virtual-calendar",
    "inbox",
];

/// A well-formed credential id no credential has.
const UNKNOWN_ID: &str = "crd_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3";

fn credentials(provider: &str) -> String {
    format!("/v1/providers/{provider}/credentials")
}

fn credential(provider: &str, id: &str) -> String {
    format!("/v1/providers/{provider}/credentials/{id}")
}

fn service_account(name: &str, tag: &str) -> Value {
    json!({"name": name, "credential_type": "serviceaccount", "credential_data": {
        "private_key_id": format!("pkid-{tag}"),
        "private_key": format!("-----BEGIN PRIVATE KEY-----\nsecret-{tag}\n-----END PRIVATE KEY-----\n"),
        "client_email": format!("sa-{tag}@project.iam.gserviceaccount.com"),
    }})
}

fn client_pair(name: &str, credential_type: &str, tag: &str) -> Value {
    json!({"name": name, "credential_type": credential_type, "credential_data": {
        "client_id": format!("client-id-{tag}"),
        "client_secret": format!("client-secret-{tag}"),
    }})
}

/// Creates a credential, asserting 201; returns the view.
async fn create(app: &TestApp, provider: &str, body: &Value) -> Value {
    let res = app
        .post(&credentials(provider), &app.bootstrap_key, body)
        .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "create on {provider}: {body} -> {text}"
    );
    serde_json::from_str(&text).unwrap()
}

/// Asserts a 400 `validation_failed` whose errors are exactly these
/// (field, code) pairs.
async fn assert_errors(res: Response, expected: &[(&str, &str)], what: &str) -> Value {
    let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    let mut got: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors in {body}"))
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{what}: {body}");
    body
}

/// Every page of a list with the given query (without `cursor`).
async fn list_all(app: &TestApp, provider: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("{}?{query}", credentials(provider));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let page: Value = res.json().await.unwrap();
        for item in page["data"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("pagination does not end");
}

#[derive(QueryableByName)]
struct StoredCredential {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    credential_type: String,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    credential_data: Vec<u8>,
}

const SELECT_CREDENTIALS: &str =
    "SELECT id, name, credential_type, credential_data FROM provider_credentials ORDER BY id";

fn stored_credentials(app: &TestApp) -> Vec<StoredCredential> {
    load_rows(app, SELECT_CREDENTIALS)
}

/// Provider, body, the expected (field, code) errors, and what it shows.
type InvalidCase = (
    &'static str,
    Value,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

backend_test! {
    async fn an_unknown_provider_is_a_400_naming_the_allowed_values(app) {
        let key = app.bootstrap_key.clone();
        let body = client_pair("x", "connector", "x");
        let cases = [
            app.get("/v1/providers/gmail", &key).await,
            app.patch("/v1/providers/gmail", &key, &json!({"active_credential_id": null})).await,
            app.get(&credentials("Google"), &key).await,
            app.post(&credentials("outlook"), &key, &body).await,
            app.get(&credential("virtual_calendar", UNKNOWN_ID), &key).await,
            send(&app, Method::DELETE, &credential("nylas", UNKNOWN_ID), &key, None, None).await,
        ];
        for res in cases {
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
            let detail = problem["detail"].as_str().unwrap();
            for provider in PROVIDERS {
                assert!(detail.contains(provider), "{detail} names {provider}");
            }
        }
        let res = app.get(&credential("google", "crd_123"), &key).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    }
}

backend_test! {
    async fn every_provider_exists_before_anything_is_set(app) {
        for provider in PROVIDERS {
            let res = app.get(&format!("/v1/providers/{provider}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{provider}");
            assert!(header(&res, "etag").starts_with('"'));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body, json!({"provider": provider, "active_credential_id": null, "updated_at": null}));
            let res = app.get(&credentials(provider), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.json::<Value>().await.unwrap(), json!({"data": [], "next_cursor": null}));
        }
    }
}

backend_test! {
    async fn each_type_is_created_with_exactly_its_keys(app) {
        let cases = [
            ("google", service_account("sa", "a"), "serviceaccount", vec!["client_email", "private_key", "private_key_id"]),
            ("microsoft", client_pair("consent", "adminconsent", "b"), "adminconsent", vec!["client_id", "client_secret"]),
            ("zoom", client_pair("override", "connector", "c"), "connector", vec!["client_id", "client_secret"]),
        ];
        let id_pattern = regex::Regex::new("^crd_[0-9a-f]{32}$").unwrap();
        for (provider, body, credential_type, keys) in cases {
            let res = app.post(&credentials(provider), &app.bootstrap_key, &body).await;
            assert_eq!(res.status(), StatusCode::CREATED, "{body}");
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let etag = header(&res, "etag");
            let view: Value = res.json().await.unwrap();
            let id = view["id"].as_str().unwrap();
            assert!(id_pattern.is_match(id), "{id}");
            assert_eq!(location, credential(provider, id));
            let mut fields: Vec<&str> = view.as_object().unwrap().keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(fields, ["created_at", "credential_data_keys", "credential_type", "id", "name", "provider", "updated_at"]);
            assert_eq!(view["provider"], provider);
            assert_eq!(view["credential_type"], credential_type);
            assert_eq!(view["credential_data_keys"], json!(keys));
            let res = app.get(&location, &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(header(&res, "etag"), etag);
            assert_eq!(res.json::<Value>().await.unwrap(), view);
            // A credential is found under its own provider only.
            let other = if provider == "google" { "imap" } else { "google" };
            let res = app.get(&credential(other, id), &app.bootstrap_key).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
}

backend_test! {
    async fn missing_unknown_non_string_and_blank_keys_are_all_reported(app) {
        let key = app.bootstrap_key.clone();
        let long = "k".repeat(16_385);
        let cases: Vec<InvalidCase> = vec![
            ("google", json!({"name": "a", "credential_type": "serviceaccount", "credential_data": {}}),
                vec![("credential_data.client_email", "required"), ("credential_data.private_key", "required"), ("credential_data.private_key_id", "required")],
                "no keys"),
            ("google", json!({"name": "a", "credential_type": "serviceaccount", "credential_data": {"private_key_id": "p", "private_key": "k", "client_email": "e", "project_id": "x"}}),
                vec![("credential_data.project_id", "unknown_field")], "an extra key"),
            ("google", json!({"name": "a", "credential_type": "serviceaccount", "credential_data": {"private_key_id": " ", "private_key": "", "client_email": "\t\n"}}),
                vec![("credential_data.client_email", "blank"), ("credential_data.private_key", "blank"), ("credential_data.private_key_id", "blank")], "blank values"),
            ("microsoft", json!({"name": "a", "credential_type": "adminconsent", "credential_data": {"client_id": 42, "client_secret": null, "tenant": "t"}}),
                vec![("credential_data.client_id", "type"), ("credential_data.client_secret", "type"), ("credential_data.tenant", "unknown_field")], "wrong types and an extra key"),
            ("imap", json!({"name": "a", "credential_type": "connector", "credential_data": {"client_id": ["x"], "client_secret": {"v": "x"}}}),
                vec![("credential_data.client_id", "type"), ("credential_data.client_secret", "type")], "arrays and objects"),
            ("imap", json!({"name": "a", "credential_type": "connector", "credential_data": {"client_id": long, "client_secret": "s"}}),
                vec![("credential_data.client_id", "length")], "a value over 16384 characters"),
            ("imap", json!({"name": "", "credential_type": "connector", "credential_data": {"client_secret": " "}}),
                vec![("name", "length"), ("credential_data.client_id", "required"), ("credential_data.client_secret", "blank")], "name and data at once"),
            ("imap", json!({"name": "n".repeat(256), "credential_type": "oauth", "credential_data": {"client_id": ""}}),
                vec![("name", "length"), ("credential_type", "one_of"), ("credential_data.client_id", "blank")], "an unknown type"),
        ];
        for (provider, body, expected, what) in cases {
            let res = app.post(&credentials(provider), &key, &body).await;
            let problem = assert_errors(res, &expected, what).await;
            for message in problem["errors"].as_array().unwrap() {
                assert!(!message.to_string().contains(&long), "{what}: a value is echoed");
            }
        }
        // Shapes serde refuses before any field check.
        for body in [
            json!({"name": "a", "credential_type": "connector"}),
            json!({"name": "a", "credential_type": "connector", "credential_data": null}),
            json!({"name": "a", "credential_type": "connector", "credential_data": ["client_id"]}),
            json!({"name": "a", "credential_type": "connector", "credential_data": {"client_id": "i", "client_secret": "s"}, "hashed_data": "x"}),
        ] {
            let res = app.post(&credentials("imap"), &key, &body).await;
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        }
        let res = app.get(&credentials("imap"), &key).await;
        assert_eq!(res.json::<Value>().await.unwrap()["data"], json!([]), "nothing was stored");
    }
}

backend_test! {
    async fn the_longest_documented_values_are_accepted_whatever_their_bytes(app) {
        // Three values of 16,384 four-byte characters: about 196 KB of
        // body, over the server's default limit, which the document's
        // maxLength allows.
        let longest = "🔑".repeat(16_384);
        let body = json!({"name": "longest", "credential_type": "serviceaccount", "credential_data": {
            "private_key_id": longest, "private_key": longest, "client_email": longest}});
        let view = create(&app, "google", &body).await;
        let res = app.post(&credentials("google"), &app.bootstrap_key, &body).await;
        assert_eq!(res.status(), StatusCode::OK, "the equal create compares the longest data");
        let res = app.patch(&credential("google", view["id"].as_str().unwrap()), &app.bootstrap_key,
            &json!({"credential_data": body["credential_data"]})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn types_belong_to_their_providers_and_connector_to_any(app) {
        let key = app.bootstrap_key.clone();
        for provider in PROVIDERS {
            if provider != "google" {
                let res = app.post(&credentials(provider), &key, &service_account("sa", provider)).await;
                assert_errors(res, &[("credential_type", "incompatible_provider")], provider).await;
            }
            if provider != "microsoft" {
                let res = app.post(&credentials(provider), &key, &client_pair("ac", "adminconsent", provider)).await;
                assert_errors(res, &[("credential_type", "incompatible_provider")], provider).await;
            }
            let view = create(&app, provider, &client_pair("override", "connector", provider)).await;
            assert_eq!(view["provider"], provider);
        }
    }
}

backend_test! {
    async fn an_equal_create_returns_the_existing_credential_and_a_different_one_conflicts(app) {
        let key = app.bootstrap_key.clone();
        let body = service_account("primary", "idem");
        let first = create(&app, "google", &body).await;
        // Same content with the keys in another order: the same credential.
        let reordered = json!({"credential_data": {
            "client_email": body["credential_data"]["client_email"],
            "private_key": body["credential_data"]["private_key"],
            "private_key_id": body["credential_data"]["private_key_id"],
        }, "credential_type": "serviceaccount", "name": "primary"});
        for again in [&body, &reordered] {
            let res = app.post(&credentials("google"), &key, again).await;
            assert_eq!(res.status(), StatusCode::OK, "an equal create is 200");
            assert!(res.headers().get("location").is_none());
            let etag = header(&res, "etag");
            let view: Value = res.json().await.unwrap();
            assert_eq!(view, first, "the existing credential");
            let res = app.get(&credential("google", first["id"].as_str().unwrap()), &key).await;
            assert_eq!(header(&res, "etag"), etag, "nothing changed");
        }
        let mut other_value = body.clone();
        other_value["credential_data"]["private_key"] = json!("another key");
        let res = app.post(&credentials("google"), &key, &other_value).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        let res = app.post(&credentials("google"), &key, &client_pair("primary", "connector", "idem")).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        // Names are unique per provider: another provider may use it.
        create(&app, "imap", &client_pair("primary", "connector", "idem")).await;
        let listed = list_all(&app, "google", "limit=100").await;
        assert_eq!(listed, [first["id"].as_str().unwrap()], "one google credential");
        // Every attempt is an audit event: the answered ones `success`,
        // the taken name `denied`, each naming the existing credential.
        let res = app.get("/v1/audit_events?action=create_provider_credential&limit=100", &key).await;
        let events: Value = res.json().await.unwrap();
        let events = events["data"].as_array().unwrap();
        let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["success", "success", "success", "denied", "denied", "success"], "{events:?}");
        for event in &events[..5] {
            assert_eq!(event["resource_id"], first["id"]);
            assert_eq!(event["resource_type"], "provider_credential");
        }
    }
}

backend_test! {
    async fn a_key_that_may_not_read_values_learns_nothing_from_a_repeated_create(app) {
        let (_, writer) = app.key_with_role("serving_and_indexing").await;
        let body = client_pair("guessed", "connector", "guess");
        let path = credentials("imap");
        let res = app.post(&path, &writer, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let made: Value = res.json().await.unwrap();
        let mut wrong = body.clone();
        wrong["credential_data"]["client_secret"] = json!("a wrong guess");
        // The right and the wrong guess get the same answer.
        let mut answers = Vec::new();
        for guess in [&body, &wrong] {
            let res = app.post(&path, &writer, guess).await;
            let mut problem = assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
            problem["request_id"] = Value::Null;
            answers.push(problem);
        }
        assert_eq!(answers[0], answers[1], "the answer depends on the name only");
        // A personal key may compare: the equal create is answered.
        let res = app.post(&path, &app.bootstrap_key, &body).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.post(&path, &app.bootstrap_key, &wrong).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        // Every attempt is audited, with its outcome.
        let res = app.get("/v1/audit_events?action=create_provider_credential&limit=100", &app.bootstrap_key).await;
        let events: Value = res.json().await.unwrap();
        let events = events["data"].as_array().unwrap();
        let outcomes: Vec<&str> = events.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["success", "denied", "denied", "success", "denied"], "{events:?}");
        assert!(events.iter().all(|e| e["resource_id"] == made["id"]), "{events:?}");
    }
}

backend_test! {
    async fn concurrent_equal_creates_make_one_credential_and_return_it_to_all(app) {
        for round in 0..5 {
            let body = client_pair(&format!("raced-{round}"), "connector", "raced");
            let path = credentials("imap");
            let answers = futures_util::future::join_all(
                (0..6).map(|_| app.post(&path, &app.bootstrap_key, &body)),
            )
            .await;
            let mut created = 0;
            let mut ids = Vec::new();
            for res in answers {
                let status = res.status();
                let text = res.text().await.unwrap();
                assert!(status == StatusCode::CREATED || status == StatusCode::OK, "an equal create is never refused: {status} {text}");
                created += usize::from(status == StatusCode::CREATED);
                ids.push(serde_json::from_str::<Value>(&text).unwrap()["id"].clone());
            }
            assert_eq!(created, 1, "round {round}: one create writes");
            assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: one credential: {ids:?}");
        }
        assert_eq!(list_all(&app, "imap", "limit=100").await.len(), 5);
    }
}

backend_test! {
    async fn patch_replaces_credential_data_wholesale_and_checks_it_against_the_type(app) {
        let key = app.bootstrap_key.clone();
        let created = create(&app, "microsoft", &client_pair("consent", "adminconsent", "old")).await;
        let id = created["id"].as_str().unwrap();
        let path = credential("microsoft", id);

        // A partial object is refused, never merged with the stored keys.
        let res = app.patch(&path, &key, &json!({"credential_data": {"client_secret": "new-secret-only"}})).await;
        assert_errors(res, &[("credential_data.client_id", "required")], "a left-out key").await;
        let res = app.patch(&path, &key, &json!({"credential_data": {
            "private_key_id": "p", "private_key": "k", "client_email": "e"}})).await;
        assert_errors(res, &[
            ("credential_data.client_email", "unknown_field"), ("credential_data.private_key", "unknown_field"),
            ("credential_data.private_key_id", "unknown_field"), ("credential_data.client_id", "required"),
            ("credential_data.client_secret", "required")], "another type's keys").await;
        let res = app.patch(&path, &key, &json!({"credential_data": {"client_id": " ", "client_secret": 7}})).await;
        assert_errors(res, &[("credential_data.client_id", "blank"), ("credential_data.client_secret", "type")], "bad values").await;

        let res = app.patch(&path, &key, &json!({"credential_data": {"client_id": "client-id-new", "client_secret": "client-secret-new"}})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let patched: Value = res.json().await.unwrap();
        assert_eq!(patched["credential_data_keys"], json!(["client_id", "client_secret"]));
        assert_eq!(patched["name"], "consent");
        assert_ne!(patched["updated_at"], created["updated_at"]);
        // The stored data is the new object: an equal create now matches the
        // new values and conflicts with the old ones.
        let res = app.post(&credentials("microsoft"), &key, &client_pair("consent", "adminconsent", "new")).await;
        assert_eq!(res.status(), StatusCode::OK, "the new data is stored");
        let res = app.post(&credentials("microsoft"), &key, &client_pair("consent", "adminconsent", "old")).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;

        // Renaming keeps the data.
        let res = app.patch(&path, &key, &json!({"name": "renamed"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.post(&credentials("microsoft"), &key, &client_pair("renamed", "adminconsent", "new")).await;
        assert_eq!(res.status(), StatusCode::OK, "the data survived the rename");
    }
}

backend_test! {
    async fn patch_needs_a_field_a_free_name_and_a_current_etag(app) {
        let key = app.bootstrap_key.clone();
        let a = create(&app, "imap", &client_pair("a", "connector", "a")).await;
        create(&app, "imap", &client_pair("b", "connector", "b")).await;
        let path = credential("imap", a["id"].as_str().unwrap());
        let res = app.patch(&path, &key, &json!({})).await;
        assert_errors(res, &[("credential_data", "required"), ("name", "required")], "empty").await;
        for body in [json!({"name": null}), json!({"credential_data": null}), json!({"credential_type": "connector"})] {
            let res = app.patch(&path, &key, &body).await;
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        }
        let res = app.patch(&path, &key, &json!({"name": ""})).await;
        assert_errors(res, &[("name", "length")], "empty name").await;
        let res = app.patch(&path, &key, &json!({"name": "b"})).await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        let res = app.patch(&credential("imap", UNKNOWN_ID), &key, &json!({"name": "c"})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        let res = app.get(&path, &key).await;
        let etag = header(&res, "etag");
        let res = send(&app, Method::PATCH, &path, &key, Some("\"stale\""), Some(&json!({"name": "c"}))).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let res = send(&app, Method::PATCH, &path, &key, Some(&etag), Some(&json!({"name": "c"}))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_ne!(header(&res, "etag"), etag);
        let res = send(&app, Method::DELETE, &path, &key, Some(&etag), None).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    }
}

backend_test! {
    async fn lists_sort_by_either_timestamp_in_either_order_and_page_through_ties(app) {
        let key = app.bootstrap_key.clone();
        let mut ids = Vec::new();
        for n in 0..5 {
            let view = create(&app, "google", &client_pair(&format!("cred-{n}"), "connector", &n.to_string())).await;
            ids.push(view["id"].as_str().unwrap().to_owned());
        }
        create(&app, "imap", &client_pair("elsewhere", "connector", "x")).await;
        let reversed: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(list_all(&app, "google", "limit=2").await, reversed, "created_at desc by default");
        assert_eq!(list_all(&app, "google", "limit=2&sort_by=created_at&order=asc").await, ids);
        assert_eq!(list_all(&app, "google", "limit=1&order=desc").await, reversed);
        // Changing the first credential moves it last by updated_at.
        let res = app.patch(&credential("google", &ids[0]), &key, &json!({"name": "changed"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut by_update: Vec<String> = ids[1..].to_vec();
        by_update.push(ids[0].clone());
        assert_eq!(list_all(&app, "google", "limit=2&sort_by=updated_at&order=asc").await, by_update);
        by_update.reverse();
        assert_eq!(list_all(&app, "google", "limit=3&sort_by=updated_at").await, by_update);

        // Every row with the same timestamp: the id orders them and no page
        // repeats or skips one.
        let changed = execute(&app, "UPDATE provider_credentials SET created_at = '2026-01-02 03:04:05.123456', updated_at = '2026-01-02 03:04:05'");
        assert_eq!(changed, 6);
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(list_all(&app, "google", "limit=1&order=asc").await, sorted);
        assert_eq!(list_all(&app, "google", "limit=2&sort_by=updated_at&order=asc").await, sorted);
        sorted.reverse();
        assert_eq!(list_all(&app, "google", "limit=1").await, sorted);
        assert_eq!(list_all(&app, "google", "limit=3&sort_by=updated_at&order=desc").await, sorted);

        // A cursor belongs to its sort.
        let res = app.get(&format!("{}?limit=1&sort_by=created_at&order=asc", credentials("google")), &key).await;
        let page: Value = res.json().await.unwrap();
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        for query in ["order=desc", "sort_by=updated_at&order=asc", ""] {
            let res = app.get(&format!("{}?cursor={cursor}&{query}", credentials("google")), &key).await;
            assert_errors(res, &[("cursor", "sort_mismatch")], query).await;
        }
        let res = app.get(&format!("{}?cursor=bm90LWEtY3Vyc29y", credentials("google")), &key).await;
        assert_errors(res, &[("cursor", "invalid_cursor")], "not a cursor").await;
        for query in ["sort_by=name", "order=up", "limit=0", "limit=101"] {
            let res = app.get(&format!("{}?{query}", credentials("google")), &key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        }
    }
}

backend_test! {
    async fn the_active_credential_must_be_the_providers_own_and_cannot_be_deleted(app) {
        let key = app.bootstrap_key.clone();
        let google = create(&app, "google", &service_account("sa", "active")).await;
        let google_id = google["id"].as_str().unwrap().to_owned();
        let imap = create(&app, "imap", &client_pair("imap", "connector", "active")).await;
        let provider_path = "/v1/providers/google";

        let res = app.get(provider_path, &key).await;
        let unset_etag = header(&res, "etag");
        for (id, what) in [(UNKNOWN_ID, "no such credential"), (imap["id"].as_str().unwrap(), "another provider's credential")] {
            let res = app.patch(provider_path, &key, &json!({"active_credential_id": id})).await;
            assert_errors(res, &[("active_credential_id", "reference_not_found")], what).await;
        }
        let res = app.patch(provider_path, &key, &json!({"active_credential_id": "google"})).await;
        assert_errors(res, &[("active_credential_id", "pattern")], "malformed").await;
        for body in [json!({}), json!({"active_credential_id": 1}), json!({"other": null})] {
            let res = app.patch(provider_path, &key, &body).await;
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        }

        let res = send(&app, Method::PATCH, provider_path, &key, Some(&unset_etag), Some(&json!({"active_credential_id": google_id}))).await;
        assert_eq!(res.status(), StatusCode::OK);
        let set_etag = header(&res, "etag");
        assert_ne!(set_etag, unset_etag);
        let settings: Value = res.json().await.unwrap();
        assert_eq!(settings["active_credential_id"], google_id.as_str());
        assert!(settings["updated_at"].is_string());
        let res = app.get(provider_path, &key).await;
        assert_eq!(header(&res, "etag"), set_etag);
        assert_eq!(res.json::<Value>().await.unwrap(), settings);
        let res = send(&app, Method::PATCH, provider_path, &key, Some(&unset_etag), Some(&json!({"active_credential_id": null}))).await;
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

        let path = credential("google", &google_id);
        let res = app.delete(&path, &key).await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "still_referenced").await;
        assert!(problem["detail"].as_str().unwrap().contains("active_credential_id"), "{problem}");
        let res = app.get(&path, &key).await;
        assert_eq!(res.status(), StatusCode::OK, "still there");
        // Other providers are untouched.
        let res = app.get("/v1/providers/imap", &key).await;
        assert_eq!(res.json::<Value>().await.unwrap()["active_credential_id"], Value::Null);

        let res = app.patch(provider_path, &key, &json!({"active_credential_id": null})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap()["active_credential_id"], Value::Null);
        let res = app.delete(&path, &key).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = app.get(&path, &key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.delete(&path, &key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(provider_path, &key, &json!({"active_credential_id": google_id})).await;
        assert_errors(res, &[("active_credential_id", "reference_not_found")], "deleted").await;
    }
}

backend_test! {
    async fn roles_and_organizations_bound_who_sees_and_changes_credentials(app) {
        let key = app.bootstrap_key.clone();
        let created = create(&app, "google", &client_pair("mine", "connector", "mine")).await;
        let id = created["id"].as_str().unwrap();
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let res = app.get(&credential("google", id), &serving).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.get(&credentials("google"), &serving).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.get("/v1/providers/google", &serving).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.post(&credentials("google"), &serving, &client_pair("s", "connector", "s")).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.patch("/v1/providers/google", &serving, &json!({"active_credential_id": id})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.delete(&credential("google", id), &serving).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.post(&credentials("google"), &indexing, &client_pair("i", "connector", "i")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = app.patch("/v1/providers/google", &indexing, &json!({"active_credential_id": id})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.request(Method::GET, &credentials("google"), None).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

        let res = app.post("/v1/organizations", &key, &json!({"name": "acme"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let other: Value = res.json().await.unwrap();
        let other = other["api_key"]["key"].as_str().unwrap().to_owned();
        let res = app.get(&credential("google", id), &other).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(list_all_with(&app, &other).await, 0, "another organization lists none");
        let res = app.patch("/v1/providers/google", &other, &json!({"active_credential_id": id})).await;
        assert_errors(res, &[("active_credential_id", "reference_not_found")], "another organization's").await;
        let res = app.get("/v1/providers/google", &other).await;
        assert_eq!(res.json::<Value>().await.unwrap()["active_credential_id"], Value::Null, "settings are per organization");
        // The same name in another organization is another credential.
        let res = app.post(&credentials("google"), &other, &client_pair("mine", "connector", "theirs")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
}

async fn list_all_with(app: &TestApp, key: &str) -> usize {
    let res = app
        .get(&format!("{}?limit=100", credentials("google")), key)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .len()
}

backend_test! {
    async fn credential_data_values_appear_in_no_answer_event_or_stored_row(app) {
        let key = app.bootstrap_key.clone();
        let mut texts = String::new();
        let bodies = [
            ("google", service_account("leak-sa", "LEAKCHECK-a1")),
            ("microsoft", client_pair("leak-ac", "adminconsent", "LEAKCHECK-b2")),
            ("ews", client_pair("leak-co", "connector", "LEAKCHECK-c3")),
        ];
        let mut ids = Vec::new();
        for (provider, body) in &bodies {
            for _ in 0..2 {
                let res = app.post(&credentials(provider), &key, body).await;
                assert!(res.status().is_success());
                let text = res.text().await.unwrap();
                ids.push((provider, serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_owned()));
                texts.push_str(&text);
            }
        }
        let (provider, id) = ids[4].clone();
        let replaced = client_pair("leak-co", "connector", "LEAKCHECK-d4");
        let res = app.patch(&credential(provider, &id), &key, &json!({"credential_data": replaced["credential_data"]})).await;
        assert_eq!(res.status(), StatusCode::OK);
        texts.push_str(&res.text().await.unwrap());
        // Refused bodies echo no value either.
        let mut conflicting = bodies[0].1.clone();
        conflicting["credential_data"]["private_key"] = json!("LEAKCHECK-e5");
        let res = app.post(&credentials("google"), &key, &conflicting).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        texts.push_str(&res.text().await.unwrap());
        let res = app.post(&credentials("google"), &key, &json!({"name": "x", "credential_type": "serviceaccount",
            "credential_data": {"private_key": "LEAKCHECK-f6", "extra": "LEAKCHECK-g7", "client_email": 1}})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        texts.push_str(&res.text().await.unwrap());
        for (provider, id) in &ids {
            texts.push_str(&app.get(&credential(provider, id), &key).await.text().await.unwrap());
            texts.push_str(&app.get(&credentials(provider), &key).await.text().await.unwrap());
        }
        let events = app.get("/v1/audit_events?limit=100", &key).await.text().await.unwrap();
        assert!(events.contains("create_provider_credential") && events.contains("update_provider_credential"), "{events}");
        assert!(texts.contains("credential_data_keys"), "the scan sees the answers");
        for (what, text) in [("answers", &texts), ("audit events", &events)] {
            assert!(!text.contains("LEAKCHECK"), "{what} show a credential_data value: {text}");
            assert!(!shows(text, "BEGIN PRIVATE KEY"), "{what} show a private key");
        }

        let rows = stored_credentials(&app);
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!(row.credential_data.first(), Some(&1u8), "{}: an envelope", row.id);
            assert!(!contains(&row.credential_data, b"LEAKCHECK"), "{}: plaintext data", row.id);
            assert!(!contains(&row.credential_data, b"client_id"), "{}: plaintext key names", row.id);
            assert!(!row.name.contains("LEAKCHECK") && !row.credential_type.contains("LEAKCHECK"));
        }
        if let Some(path) = &app.sqlite_path {
            let mut bytes = std::fs::read(path).expect("database file");
            if let Ok(more) = std::fs::read(format!("{}-wal", path.display())) {
                bytes.extend(more);
            }
            assert!(contains(&bytes, b"leak-sa"), "the scan sees names, stored in the clear");
            assert!(!contains(&bytes, b"LEAKCHECK"), "the database files hold a credential_data value");
            assert!(!contains(&bytes, b"BEGIN PRIVATE KEY"), "the database files hold a private key");
        }
    }
}

backend_test! {
    async fn data_moved_to_another_row_does_not_open(app) {
        let key = app.bootstrap_key.clone();
        let a = create(&app, "imap", &client_pair("a", "connector", "moved-a")).await;
        let b = create(&app, "imap", &client_pair("b", "connector", "moved-b")).await;
        let changed = execute(&app, &format!(
            "UPDATE provider_credentials SET credential_data = (SELECT credential_data FROM provider_credentials WHERE id = '{}') WHERE id = '{}'",
            a["id"].as_str().unwrap(), b["id"].as_str().unwrap()));
        assert_eq!(changed, 1);
        // Comparing an equal create opens the stored data: a moved envelope
        // is an opaque 500, never a match or a value.
        let res = app.post(&credentials("imap"), &key, &client_pair("b", "connector", "moved-a")).await;
        let problem = assert_problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
        assert!(!problem.to_string().contains("moved-a"));
        let res = app.post(&credentials("imap"), &key, &client_pair("a", "connector", "moved-a")).await;
        assert_eq!(res.status(), StatusCode::OK, "A still opens in its own row");
    }
}

/// A request to a server of the test's own at `address`.
async fn call(
    client: &reqwest::Client,
    method: Method,
    address: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Response {
    let mut builder = client
        .request(method, format!("{address}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        builder = builder.json(body);
    }
    builder.send().await.unwrap()
}

#[actix_web::test]
async fn credentials_need_a_master_key_to_be_written_and_pin_it() {
    use keygate::config::MasterKeySource;
    use keygate::crypto::envelope::MasterKey;
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = keygate::keys::format::generate(keygate::keys::format::KeyKind::ApiKey).value;
    let client = reqwest::Client::new();
    let body = client_pair("pinned", "connector", "pinned");

    // No master key: reads answer, writes are 503 and store nothing.
    let address = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Absent),
        &bootstrap,
    ));
    let res = call(
        &client,
        Method::POST,
        &address,
        &credentials("imap"),
        &bootstrap,
        Some(&body),
    )
    .await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "master_key_missing").await;
    let patch = json!({"credential_data": body["credential_data"]});
    let path = credential("imap", UNKNOWN_ID);
    let res = call(
        &client,
        Method::PATCH,
        &address,
        &path,
        &bootstrap,
        Some(&patch),
    )
    .await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "master_key_missing").await;
    let res = call(
        &client,
        Method::GET,
        &address,
        &credentials("imap"),
        &bootstrap,
        None,
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["data"], json!([]));
    // One server an SQLite file.
    stop(&address).await;

    // With a key, a credential is stored, and the key is recorded.
    let key = MasterKey::generate_base64();
    let address = start(&sqlite_settings(
        dir.path(),
        Some(MasterKeySource::Inline(key.clone())),
        &bootstrap,
    ));
    let res = call(
        &client,
        Method::POST,
        &address,
        &credentials("imap"),
        &bootstrap,
        Some(&body),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    stop(&address).await;

    // The database now holds envelopes: another key, or none, is refused
    // at start, naming the key the data is sealed under.
    let expected = MasterKey::from_base64(&key).unwrap().id();
    for other in [
        MasterKeySource::Inline(MasterKey::generate_base64()),
        MasterKeySource::Absent,
    ] {
        let error = refused(&sqlite_settings(dir.path(), Some(other), &bootstrap));
        assert!(error.contains(&expected), "{error}");
    }
}

// Moved here from the providers dto: it reads the whole native document,
// which the resource rooms below `resources` must not import.
#[test]
fn the_document_states_each_data_value_rule_as_the_server_checks_it() {
    use keygate::resources::providers::dto::DATA_VALUE_PATTERN;
    use keygate::resources::providers::model::{CredentialType, MAX_VALUE_CHARS};
    // The schema attributes repeat the pattern as literals (utoipa takes
    // no constant there); this keeps every copy equal to the server's.
    let schemas = &keygate::resources::document()["components"]["schemas"];
    for (schema, keys) in [
        (
            "ServiceAccountCredentialData",
            CredentialType::ServiceAccount.keys(),
        ),
        ("ClientCredentialData", CredentialType::Connector.keys()),
    ] {
        let properties = schemas[schema]["properties"].as_object().unwrap();
        let mut documented: Vec<&str> = properties.keys().map(String::as_str).collect();
        documented.sort_unstable();
        assert_eq!(documented, keys, "{schema}");
        for (key, property) in properties {
            assert_eq!(property["pattern"], DATA_VALUE_PATTERN, "{schema}.{key}");
            assert_eq!(property["minLength"], 1, "{schema}.{key}");
            assert_eq!(property["maxLength"], MAX_VALUE_CHARS, "{schema}.{key}");
        }
    }
}

backend_test! {
    async fn a_cursor_with_a_time_out_of_range_is_refused(app) {
        // PostgreSQL stores no timestamp before 4713 BC; such a cursor was a
        // 500 there. Times outside the years 1 to 9999 come from
        // no row: 400 on both backends.
        use base64::Engine;
        let made = create(&app, "google", &service_account("sa", "cursor")).await;
        let id = made["id"].as_str().unwrap();
        for year in [-10_000, 0, 10_000, 200_000] {
            let micros = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros();
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("v1.created_at.desc.{micros}.{id}"));
            let res = app
                .get(&format!("{}?cursor={cursor}", credentials("google")), &app.bootstrap_key)
                .await;
            assert_errors(res, &[("cursor", "invalid_cursor")], &format!("year {year}")).await;
        }
    }
}

backend_test! {
    async fn a_deleted_credential_is_gone_until_undeleted(app) {
        let key = &app.bootstrap_key;
        let made = create(&app, "google", &service_account("workspace", "r1")).await;
        let id = made["id"].as_str().unwrap().to_owned();
        let path = credential("google", &id);
        assert_eq!(app.delete(&path, key).await.status(), StatusCode::NO_CONTENT);
        assert_problem(app.get(&path, key).await, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(&path, key, &json!({"name": "renamed"})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        assert_problem(app.delete(&path, key).await, StatusCode::NOT_FOUND, "not_found").await;
        // A deleted credential cannot become the provider's active one.
        let res = app.patch("/v1/providers/google", key, &json!({"active_credential_id": id})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(!list_all(&app, "google", "").await.contains(&id));
        assert!(list_all(&app, "google", "include_deleted=true").await.contains(&id));
        let page: Value = app.get(&format!("{}?include_deleted=true", credentials("google")), key).await.json().await.unwrap();
        let shown = page["data"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap().clone();
        assert!(shown["deleted_at"].is_string(), "{shown}");
        // Nylas's dialect sees what the native API sees: nothing.
        let res = app.get(&format!("/v3/connectors/google/creds/{id}"), key).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.post(&format!("{path}/undelete"), &serving, &json!({})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.post(&format!("{}/undelete", credential("google", UNKNOWN_ID)), key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post(&format!("{}/undelete", credential("zoom", &id)), key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post(&format!("{path}/undelete"), key, &json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let back: Value = res.json().await.unwrap();
        assert!(back.get("deleted_at").is_none(), "{back}");
        assert_eq!(back["name"], "workspace");
        assert_eq!(app.get(&path, key).await.status(), StatusCode::OK);
        // It is whole again: it can be the active credential.
        let res = app.patch("/v1/providers/google", key, &json!({"active_credential_id": id})).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(app.post(&format!("{path}/undelete"), key, &json!({})).await.status(), StatusCode::OK, "a live one is answered as it is");
    }
}

backend_test! {
    async fn a_new_credential_takes_the_name_of_a_deleted_one_and_the_window_ends(app) {
        let key = &app.bootstrap_key;
        let old = create(&app, "google", &service_account("workspace", "r2")).await;
        let old_id = old["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&credential("google", &old_id), key).await.status(), StatusCode::NO_CONTENT);
        let new = create(&app, "google", &service_account("workspace", "r3")).await;
        assert_ne!(new["id"], old["id"]);
        let res = app.post(&format!("{}/undelete", credential("google", &old_id)), key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        // A rename to a deleted one's name takes it too.
        let other = create(&app, "google", &service_account("other", "r4")).await;
        let other_id = other["id"].as_str().unwrap().to_owned();
        assert_eq!(app.delete(&credential("google", &other_id), key).await.status(), StatusCode::NO_CONTENT);
        let new_id = new["id"].as_str().unwrap().to_owned();
        let res = app.patch(&credential("google", &new_id), key, &json!({"name": "other"})).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
        // After the window it is purged.
        assert_eq!(app.delete(&credential("google", &new_id), key).await.status(), StatusCode::NO_CONTENT);
        let past = (chrono::Utc::now() - chrono::Duration::days(31)).naive_utc().format("%Y-%m-%d %H:%M:%S");
        assert_eq!(execute(&app, &format!("UPDATE provider_credentials SET deleted_at = '{past}' WHERE id = '{new_id}'")), 1);
        let res = app.post(&format!("{}/undelete", credential("google", &new_id)), key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let mut conn = any_connection(&app);
        let cutoff = chrono::Utc::now() - chrono::Duration::days(30);
        assert_eq!(keygate::resources::providers::repo::purge_deleted(&mut conn, cutoff).unwrap(), 1);
        assert_eq!(execute(&app, &format!("UPDATE provider_credentials SET name = name WHERE id = '{new_id}'")), 0);
    }
}
