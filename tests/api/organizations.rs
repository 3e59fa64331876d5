//! `/v1/organizations`: creating one with its first key, who may, reading
//! one's own, and that no full key is ever written to the database file.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_problem, header, TestApp};

/// Creates an organization with the bootstrap key, asserting 201; returns the body.
async fn create_organization(app: &TestApp, name: &str) -> Value {
    let res = app
        .post(
            "/v1/organizations",
            &app.bootstrap_key,
            &json!({"name": name}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "create organization {name}"
    );
    res.json().await.unwrap()
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a string, got {value}"))
}

backend_test! {
    async fn create_returns_the_organization_and_a_working_personal_key(app) {
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "acme"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = res.json().await.unwrap();

        let organization = &body["organization"];
        let org_id = str_of(&organization["id"], "organization.id").to_owned();
        let id_rule = regex::Regex::new("^org_[0-9a-f]{32}$").unwrap();
        assert!(id_rule.is_match(&org_id), "organization id {org_id}");
        assert_eq!(location, Some(format!("/v1/organizations/{org_id}")), "Location");
        assert_eq!(organization["name"], "acme");
        let created_at = str_of(&organization["created_at"], "created_at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
            "created_at is RFC 3339: {created_at}"
        );
        assert_eq!(
            organization.as_object().unwrap().len(),
            3,
            "organization has exactly id, name, created_at: {organization}"
        );

        let api_key = &body["api_key"];
        assert_eq!(api_key["api_key_role"], "personal", "{api_key}");
        assert_eq!(api_key["organization_id"], org_id.as_str(), "{api_key}");
        assert_eq!(api_key["enabled"], true, "{api_key}");
        assert!(api_key["api_policy"].is_null(), "{api_key}");
        let key = str_of(&api_key["key"], "api_key.key").to_owned();
        assert!(key.starts_with("kg_ak_"), "a keygate API key");
        assert_ne!(key, app.bootstrap_key);

        let res = app.get("/v1/me", &key).await;
        assert_eq!(res.status(), StatusCode::OK, "the new key authenticates");
        let me: Value = res.json().await.unwrap();
        assert_eq!(me["id"], api_key["id"]);
        assert_eq!(me["organization_id"], org_id.as_str());
        assert!(me.get("key").is_none(), "the secret is not shown again: {me}");

        let res = app.get(&format!("/v1/organizations/{org_id}"), &key).await;
        assert_eq!(res.status(), StatusCode::OK, "the new key reads its organization");
        let fetched: Value = res.json().await.unwrap();
        assert_eq!(&fetched, organization);
    }
}

backend_test! {
    async fn create_rejects_a_duplicate_name(app) {
        create_organization(&app, "twice").await;
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "twice"}))
            .await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
        // The root organization's own name is taken too.
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "default"}))
            .await;
        assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
    }
}

backend_test! {
    async fn create_rejects_invalid_names(app) {
        let cases: [(Value, &str, &str); 8] = [
            (json!({"name": ""}), "validation_failed", "empty name"),
            (json!({"name": "a".repeat(101)}), "validation_failed", "101 characters"),
            (json!({"name": "has space"}), "validation_failed", "a space"),
            (json!({"name": "-leading"}), "validation_failed", "leading '-'"),
            (json!({"name": ".leading"}), "validation_failed", "leading '.'"),
            (json!({"name": "ok-name", "extra": 1}), "invalid_body", "unknown field"),
            (json!({}), "invalid_body", "name missing"),
            (json!({"name": 7}), "invalid_body", "name not a string"),
        ];
        for (body, code, why) in cases {
            let res = app.post("/v1/organizations", &app.bootstrap_key, &body).await;
            let status = res.status();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            if code == "validation_failed" {
                assert_eq!(problem["errors"][0]["field"], "name", "{why}: {problem}");
            }
        }
        // The edges of the rule are accepted.
        for name in ["a".repeat(100), "9".to_owned(), "a.b_c-d".to_owned()] {
            create_organization(&app, &name).await;
        }
    }
}

backend_test! {
    async fn only_personal_keys_of_the_root_organization_may_create_organizations(app) {
        let created = create_organization(&app, "tenant").await;
        let tenant_key = str_of(&created["api_key"]["key"], "key").to_owned();
        let (_, serving_key) = app.key_with_role("serving").await;
        let (_, indexing_key) = app.key_with_role("serving_and_indexing").await;

        let cases = [
            (tenant_key.as_str(), "not_root_organization", "a personal key of another organization"),
            (serving_key.as_str(), "insufficient_role", "a serving key of the root organization"),
            (indexing_key.as_str(), "insufficient_role", "a serving_and_indexing key of the root organization"),
        ];
        for (n, (key, code, why)) in cases.into_iter().enumerate() {
            let name = format!("refused-{n}");
            let res = app.post("/v1/organizations", key, &json!({"name": name})).await;
            let status = res.status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
            let body = assert_problem(res, StatusCode::FORBIDDEN, code).await;
            assert_eq!(body["missing_permission"], "create_organization", "{why}");
            // Nothing was created: the name is still free.
            create_organization(&app, &name).await;
        }
    }
}

backend_test! {
    async fn get_shows_only_the_callers_own_organization(app) {
        let res = app.get("/v1/me", &app.bootstrap_key).await;
        let me: Value = res.json().await.unwrap();
        let root_org = str_of(&me["organization_id"], "organization_id").to_owned();
        let other = create_organization(&app, "other").await;
        let other_org = str_of(&other["organization"]["id"], "id").to_owned();

        let res = app.get(&format!("/v1/organizations/{root_org}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "own organization");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["id"], root_org.as_str());
        assert_eq!(body["name"], "default");

        let cases = [
            (format!("/v1/organizations/{other_org}"), StatusCode::NOT_FOUND, "not_found", "another organization"),
            (
                "/v1/organizations/org_0123456789abcdef0123456789abcdef".to_owned(),
                StatusCode::NOT_FOUND,
                "not_found",
                "a well-formed unknown id",
            ),
            ("/v1/organizations/acme".to_owned(), StatusCode::BAD_REQUEST, "invalid_path_parameter", "not an id"),
            (
                "/v1/organizations/org_0123456789ABCDEF0123456789ABCDEF".to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_path_parameter",
                "upper-case hex",
            ),
            (
                "/v1/organizations/aky_0123456789abcdef0123456789abcdef".to_owned(),
                StatusCode::BAD_REQUEST,
                "invalid_path_parameter",
                "an API key id",
            ),
        ];
        for (path, status, code, why) in cases {
            let res = app.get(&path, &app.bootstrap_key).await;
            let got = res.status();
            assert_eq!(got, status, "{why}");
            assert_problem(res, status, code).await;
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[actix_web::test]
async fn no_full_key_is_stored_in_the_database_file() {
    let app = TestApp::spawn(keygate::config::Backend::Sqlite)
        .await
        .expect("sqlite app");
    let marker = "at-rest-probe-4f1c";
    let mut secrets = vec![app.bootstrap_key.clone()];
    for role in ["serving", "serving_and_indexing", "personal"] {
        let created = app
            .create_key(
                &app.bootstrap_key,
                json!({"name": format!("{marker} {role}"), "api_key_role": role}),
            )
            .await;
        secrets.push(str_of(&created["key"], "key").to_owned());
    }
    let org = create_organization(&app, marker).await;
    let org_key = str_of(&org["api_key"]["key"], "key").to_owned();
    let child = app
        .create_key(
            &org_key,
            json!({"name": "child", "api_key_role": "serving"}),
        )
        .await;
    secrets.push(org_key);
    secrets.push(str_of(&child["key"], "key").to_owned());
    // Every key was used, so any write on use has happened too.
    for key in &secrets {
        let res = app.get("/v1/me", key).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    let path = app.sqlite_path.clone().expect("sqlite path");
    let mut bytes = std::fs::read(&path).expect("read the database file");
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    if let Ok(more) = std::fs::read(&wal) {
        bytes.extend(more);
    }
    assert!(
        contains(&bytes, marker),
        "the files read hold the data just written (else this test proves nothing)"
    );
    for (n, key) in secrets.iter().enumerate() {
        assert!(
            !contains(&bytes, key),
            "full key #{n} is in the database file"
        );
        // The middle of a key is never stored, not even split from its ends.
        let middle = &key[10..key.len() - 4];
        assert!(
            !contains(&bytes, middle),
            "the body of key #{n} is in the database file"
        );
    }
}

// ------------------------------------------------------------------ subscription, terms

fn subscription_path(org: &str) -> String {
    format!("/v1/organizations/{org}/subscription")
}

fn terms_path(org: &str) -> String {
    format!("/v1/organizations/{org}/terms_and_conditions")
}

/// The caller's organization id.
async fn own_organization(app: &TestApp, key: &str) -> String {
    let me: Value = app.get("/v1/me", key).await.json().await.unwrap();
    str_of(&me["organization_id"], "organization_id").to_owned()
}

backend_test! {
    async fn subscription_starts_as_trial_and_only_the_operator_sets_it(app) {
        let root = own_organization(&app, &app.bootstrap_key).await;
        let res = app.get(&subscription_path(&root), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let first_tag = header(&res, "etag");
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown["state"], "trial");
        assert_eq!(shown["organization_id"], root.as_str());

        let res = app.patch(&subscription_path(&root), &app.bootstrap_key, &json!({"state": "active"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let second_tag = header(&res, "etag");
        assert_ne!(second_tag, first_tag);
        assert_eq!(res.json::<Value>().await.unwrap()["state"], "active");
        let shown: Value = app.get(&subscription_path(&root), &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(shown["state"], "active");

        // If-Match.
        let stale = app.request(reqwest::Method::PATCH, &subscription_path(&root), Some(&app.bootstrap_key))
            .header("If-Match", &first_tag).json(&json!({"state": "inactive"})).send().await.unwrap();
        assert_problem(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        let fresh = app.request(reqwest::Method::PATCH, &subscription_path(&root), Some(&app.bootstrap_key))
            .header("If-Match", &second_tag).json(&json!({"state": "inactive"})).send().await.unwrap();
        assert_eq!(fresh.status(), StatusCode::OK);

        for bad in [json!({"state": "paused"}), json!({}), json!({"state": "active", "plan": "gold"})] {
            let res = app.patch(&subscription_path(&root), &app.bootstrap_key, &bad).await;
            assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
        }

        // A tenant's own personal key reads its subscription but may not set it.
        let tenant = create_organization(&app, "tenant-a").await;
        let tenant_id = str_of(&tenant["organization"]["id"], "id").to_owned();
        let tenant_key = str_of(&tenant["api_key"]["key"], "key").to_owned();
        let shown: Value = app.get(&subscription_path(&tenant_id), &tenant_key).await.json().await.unwrap();
        assert_eq!(shown["state"], "trial");
        let res = app.patch(&subscription_path(&tenant_id), &tenant_key, &json!({"state": "active"})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "not_root_organization").await;
        // Another organization is 404 to the tenant, in both directions.
        let res = app.get(&subscription_path(&root), &tenant_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(&subscription_path(&root), &tenant_key, &json!({"state": "active"})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // The operator sets the tenant's state; the tenant sees it.
        let res = app.patch(&subscription_path(&tenant_id), &app.bootstrap_key, &json!({"state": "active"})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let shown: Value = app.get(&subscription_path(&tenant_id), &tenant_key).await.json().await.unwrap();
        assert_eq!(shown["state"], "active");

        // A lesser root key may read but not set.
        let serving = app.create_key(&app.bootstrap_key, json!({"name": "s", "api_key_role": "serving"})).await;
        let serving = str_of(&serving["key"], "key");
        assert_eq!(app.get(&subscription_path(&root), serving).await.status(), StatusCode::OK);
        let res = app.get(&subscription_path(&tenant_id), serving).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.patch(&subscription_path(&root), serving, &json!({"state": "active"})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        let res = app.get(&subscription_path("org_0190a0b1c2d3e4f5a6b7c8d9e0f1a2b3"), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // Three changes made it (two on the root, one on the tenant).
        let events: Value = app.get("/v1/audit_events?limit=100&action=update_organization_subscription&outcome=success", &app.bootstrap_key).await.json().await.unwrap();
        let targets: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["resource_id"].as_str().unwrap()).collect();
        assert_eq!(targets, [root.as_str(), root.as_str(), tenant_id.as_str()], "{events}");
    }
}

backend_test! {
    async fn terms_accepted_twice_keep_the_first_acceptance(app) {
        let root = own_organization(&app, &app.bootstrap_key).await;
        let res = app.get(&terms_path(&root), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let unaccepted_tag = header(&res, "etag");
        let shown: Value = res.json().await.unwrap();
        assert_eq!(shown, json!({"organization_id": root, "accepted": false}), "no accepted_at or accepted_by before");

        let (_, serving) = app.key_with_role("serving").await;
        let res = app.post(&format!("{}/accept", terms_path(&root)), &serving, &json!({})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        let first = app.create_key(&app.bootstrap_key, json!({"name": "accepter", "api_key_role": "personal"})).await;
        let first_id = str_of(&first["id"], "id").to_owned();
        let res = app.request(reqwest::Method::POST, &format!("{}/accept", terms_path(&root)), Some(str_of(&first["key"], "key"))).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let accepted_tag = header(&res, "etag");
        assert_ne!(accepted_tag, unaccepted_tag);
        let accepted: Value = res.json().await.unwrap();
        assert_eq!(accepted["accepted"], true);
        assert_eq!(accepted["accepted_by"], first_id.as_str());
        assert!(accepted["accepted_at"].is_string());

        let res = app.request(reqwest::Method::POST, &format!("{}/accept", terms_path(&root)), Some(&app.bootstrap_key)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "etag"), accepted_tag);
        assert_eq!(res.json::<Value>().await.unwrap(), accepted, "the first acceptance is kept");
        let shown: Value = app.get(&terms_path(&root), &app.bootstrap_key).await.json().await.unwrap();
        assert_eq!(shown, accepted);

        let events: Value = app.get("/v1/audit_events?limit=100&action=accept_organization_terms_and_conditions", &app.bootstrap_key).await.json().await.unwrap();
        let outcomes: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["denied", "success"], "one success, for the first acceptance: {events}");
        assert_eq!(events["data"][1]["actor_key_id"], first_id.as_str());

        // A tenant has its own terms and cannot see or accept the root's.
        let tenant = create_organization(&app, "tenant-t").await;
        let tenant_id = str_of(&tenant["organization"]["id"], "id").to_owned();
        let tenant_key = str_of(&tenant["api_key"]["key"], "key").to_owned();
        let shown: Value = app.get(&terms_path(&tenant_id), &tenant_key).await.json().await.unwrap();
        assert_eq!(shown["accepted"], false);
        let res = app.get(&terms_path(&root), &tenant_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.post(&format!("{}/accept", terms_path(&root)), &tenant_key, &json!({})).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = app.get(&terms_path(&tenant_id), &app.bootstrap_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

backend_test! {
    async fn an_organizations_first_key_is_no_wider_than_its_creator(app) {
        let expires_at = (chrono::Utc::now() + chrono::Duration::hours(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let policy = json!({"allowed_operations": {
            "create_organization": {"allow_any_resource": true, "allowed_resources": {}},
            "get_me": {"allow_any_resource": true, "allowed_resources": {}},
        }});
        let narrow = app
            .create_key(&app.bootstrap_key, json!({
                "name": "narrow operator", "api_key_role": "personal",
                "expires_at": expires_at, "allowed_cidrs": ["127.0.0.1/32"], "api_policy": policy,
            }))
            .await;
        let narrow_key = narrow["key"].as_str().unwrap();
        let res = app.post("/v1/organizations", narrow_key, &json!({"name": "narrowed"})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let first = &created["api_key"];
        assert_eq!(first["api_key_role"], "personal");
        assert_eq!(first["expires_at"], narrow["expires_at"], "{first}");
        assert_eq!(first["allowed_cidrs"], json!(["127.0.0.1/32"]), "{first}");
        assert_eq!(first["api_policy"], narrow["api_policy"], "{first}");
        // The key works within those limits only: get_me yes, anything else no.
        let first_key = first["key"].as_str().unwrap();
        assert_eq!(app.get("/v1/me", first_key).await.status(), StatusCode::OK);
        let res = app.get("/v1/api_keys", first_key).await;
        assert_problem(res, StatusCode::FORBIDDEN, "operation_not_allowed").await;
        // A creator without limits still makes an unlimited first key.
        let free = create_organization(&app, "unlimited").await;
        for field in ["expires_at", "allowed_cidrs", "api_policy"] {
            assert!(free["api_key"][field].is_null(), "{field}: {free}");
        }
    }
}
