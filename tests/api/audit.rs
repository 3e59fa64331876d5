//! The audit trail: one event per successful mutation, none for reads or
//! refused input, a `denied` event for mutations refused with 401 or 403 to
//! a caller who presented a real key (none for callers without one), never
//! a secret; filters, pagination, who may read it, and the retention.

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_problem, TestApp};

/// An id that is well formed but belongs to no key.
const UNKNOWN_ID: &str = "aky_00000000000000000000000000000000";

/// Every audit event `key` may see that matches `query`, paging with
/// `limit=100`.
async fn events_as(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut path = format!("/v1/audit_events?limit=100&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&path, key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        let page: Value = res.json().await.unwrap();
        out.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
    panic!("audit event pagination does not end");
}

/// Every audit event the bootstrap key sees.
async fn all_events(app: &TestApp) -> Vec<Value> {
    events_as(app, &app.bootstrap_key, "").await
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// The events in `after` that are not in `before`.
fn added(before: &[Value], after: &[Value]) -> Vec<Value> {
    let known = ids(before);
    after
        .iter()
        .filter(|e| !known.contains(&e["id"].as_str().unwrap().to_owned()))
        .cloned()
        .collect()
}

/// The `X-Request-Id` of a response.
fn request_id(res: &Response) -> String {
    res.headers()
        .get("x-request-id")
        .expect("X-Request-Id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn occurred_at(event: &Value) -> DateTime<Utc> {
    let text = event["occurred_at"]
        .as_str()
        .unwrap_or_else(|| panic!("occurred_at of {event}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("occurred_at {text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// `GET /v1/me` of a key: (key id, organization id).
async fn whoami(app: &TestApp, key: &str) -> (String, String) {
    let res = app.get("/v1/me", key).await;
    assert_eq!(res.status(), StatusCode::OK, "GET /v1/me");
    let me: Value = res.json().await.unwrap();
    (
        me["id"].as_str().unwrap().to_owned(),
        me["organization_id"].as_str().unwrap().to_owned(),
    )
}

/// What one success event must say.
struct Expected<'a> {
    action: &'a str,
    resource_type: &'a str,
    resource_id: &'a str,
    actor_key_id: &'a str,
    organization_id: &'a str,
    request_id: &'a str,
}

/// Asserts `events` is exactly one success event as expected.
fn assert_one_success(events: &[Value], want: &Expected) {
    let what = want.action;
    assert_eq!(
        events.len(),
        1,
        "{what}: exactly one new event, got {events:?}"
    );
    let event = &events[0];
    assert_eq!(event["action"], want.action, "{what}: action in {event}");
    assert_eq!(
        event["resource_type"], want.resource_type,
        "{what}: resource_type in {event}"
    );
    assert_eq!(
        event["resource_id"], want.resource_id,
        "{what}: resource_id in {event}"
    );
    assert_eq!(
        event["actor_key_id"], want.actor_key_id,
        "{what}: actor_key_id in {event}"
    );
    assert_eq!(
        event["organization_id"], want.organization_id,
        "{what}: organization_id in {event}"
    );
    assert_eq!(
        event["request_id"], want.request_id,
        "{what}: request_id in {event}"
    );
    assert_eq!(event["outcome"], "success", "{what}: outcome in {event}");
    let regex = regex::Regex::new("^evt_[0-9a-f]{32}$").unwrap();
    assert!(
        regex.is_match(event["id"].as_str().unwrap_or_default()),
        "{what}: id in {event}"
    );
    occurred_at(event);
}

backend_test! {
    async fn each_successful_mutation_adds_exactly_one_event(app) {
        let (actor, org) = whoami(&app, &app.bootstrap_key).await;
        let mut before = all_events(&app).await;

        // create_api_key
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "audited", "api_key_role": "serving"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create");
        let rid = request_id(&res);
        let created: Value = res.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let after = all_events(&app).await;
        assert_one_success(&added(&before, &after), &Expected {
            action: "create_api_key", resource_type: "api_key", resource_id: &id,
            actor_key_id: &actor, organization_id: &org, request_id: &rid,
        });
        before = after;

        // The mutations of an existing key.
        let path = format!("/v1/api_keys/{id}");
        let mutations: Vec<(&str, RequestBuilder, StatusCode)> = vec![
            (
                "update_api_key",
                app.request(Method::PATCH, &path, Some(&app.bootstrap_key)).json(&json!({"name": "audited 2"})),
                StatusCode::OK,
            ),
            (
                "rotate_api_key",
                app.request(Method::POST, &format!("{path}/rotate"), Some(&app.bootstrap_key)),
                StatusCode::OK,
            ),
            (
                "revoke_pending_api_key",
                app.request(Method::POST, &format!("{path}/revoke_pending"), Some(&app.bootstrap_key)),
                StatusCode::OK,
            ),
            (
                "delete_api_key",
                app.request(Method::DELETE, &path, Some(&app.bootstrap_key)),
                StatusCode::NO_CONTENT,
            ),
        ];
        for (action, req, status) in mutations {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), status, "{action}");
            let rid = request_id(&res);
            let after = all_events(&app).await;
            assert_one_success(&added(&before, &after), &Expected {
                action, resource_type: "api_key", resource_id: &id,
                actor_key_id: &actor, organization_id: &org, request_id: &rid,
            });
            before = after;
        }

        // create_organization
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "audited-org"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create organization");
        let rid = request_id(&res);
        let created: Value = res.json().await.unwrap();
        let new_org = created["organization"]["id"].as_str().unwrap().to_owned();
        let after = all_events(&app).await;
        assert_one_success(&added(&before, &after), &Expected {
            action: "create_organization", resource_type: "organization", resource_id: &new_org,
            actor_key_id: &actor, organization_id: &org, request_id: &rid,
        });
    }
}

backend_test! {
    async fn reads_add_no_event(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "read me", "api_key_role": "serving"}))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let secret = created["key"].as_str().unwrap().to_owned();
        let (_, org) = whoami(&app, &app.bootstrap_key).await;
        let before = all_events(&app).await;

        let reads: Vec<(&str, RequestBuilder)> = vec![
            ("get_api_key", app.request(Method::GET, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))),
            ("list_api_keys", app.request(Method::GET, "/v1/api_keys", Some(&app.bootstrap_key))),
            ("get_me", app.request(Method::GET, "/v1/me", Some(&secret))),
            ("get_organization", app.request(Method::GET, &format!("/v1/organizations/{org}"), Some(&app.bootstrap_key))),
            ("verify_key", app.request(Method::POST, "/v1/verify", Some(&app.bootstrap_key)).json(&json!({"key": secret}))),
            ("verify_key, unknown key", app.request(Method::POST, "/v1/verify", Some(&secret)).json(&json!({"key": "kg_ak_nope"}))),
            ("list_audit_events", app.request(Method::GET, "/v1/audit_events", Some(&app.bootstrap_key))),
        ];
        for (what, req) in reads {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{what}");
        }
        let after = all_events(&app).await;
        assert_eq!(ids(&after), ids(&before), "reads add no event: {:?}", added(&before, &after));
    }
}

backend_test! {
    async fn invalid_mutations_add_no_event(app) {
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "target", "api_key_role": "serving"}))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "taken"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "first organization");
        // A tag that was current once, then a change makes it stale.
        let res = app.get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key).await;
        let stale = res.headers().get("etag").expect("ETag").to_str().unwrap().to_owned();
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "target 2"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "unconditional PATCH");

        let path = format!("/v1/api_keys/{id}");
        let unknown = format!("/v1/api_keys/{UNKNOWN_ID}");
        let key = Some(app.bootstrap_key.as_str());
        let cases: Vec<(&str, RequestBuilder, StatusCode, &str)> = vec![
            ("create with an empty name",
                app.request(Method::POST, "/v1/api_keys", key).json(&json!({"name": "", "api_key_role": "serving"})),
                StatusCode::BAD_REQUEST, "validation_failed"),
            ("create with an unknown field",
                app.request(Method::POST, "/v1/api_keys", key).json(&json!({"name": "x", "api_key_role": "serving", "colour": "red"})),
                StatusCode::BAD_REQUEST, "invalid_body"),
            ("PATCH with a bad type",
                app.request(Method::PATCH, &path, key).json(&json!({"enabled": "yes"})),
                StatusCode::BAD_REQUEST, "invalid_body"),
            ("PATCH of an unknown key",
                app.request(Method::PATCH, &unknown, key).json(&json!({"name": "x"})),
                StatusCode::NOT_FOUND, "not_found"),
            ("DELETE of an unknown key",
                app.request(Method::DELETE, &unknown, key),
                StatusCode::NOT_FOUND, "not_found"),
            ("rotate of an unknown key",
                app.request(Method::POST, &format!("{unknown}/rotate"), key),
                StatusCode::NOT_FOUND, "not_found"),
            ("duplicate organization name",
                app.request(Method::POST, "/v1/organizations", key).json(&json!({"name": "taken"})),
                StatusCode::CONFLICT, "already_exists"),
            ("PATCH with a stale If-Match",
                app.request(Method::PATCH, &path, key).header("if-match", &stale).json(&json!({"name": "x"})),
                StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            ("rotate with a stale If-Match",
                app.request(Method::POST, &format!("{path}/rotate"), key).header("if-match", &stale),
                StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            ("DELETE with a stale If-Match",
                app.request(Method::DELETE, &path, key).header("if-match", &stale),
                StatusCode::PRECONDITION_FAILED, "precondition_failed"),
        ];
        for (what, req, status, code) in cases {
            let before = all_events(&app).await;
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), status, "{what}");
            assert_problem(res, status, code).await;
            let after = all_events(&app).await;
            assert_eq!(ids(&after), ids(&before), "{what} adds no event: {:?}", added(&before, &after));
        }
    }
}

backend_test! {
    async fn an_unauthenticated_mutation_is_refused_without_an_event(app) {
        // Anyone can send these, so storing them would let anyone fill the
        // disk: they are counted and logged, not stored.
        let created = app
            .create_key(&app.bootstrap_key, json!({"name": "victim", "api_key_role": "serving"}))
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/api_keys/{id}");
        let unknown = keygate::keys::format::generate(keygate::keys::format::KeyKind::ApiKey).value;
        let cases: Vec<(&str, RequestBuilder)> = vec![
            ("no credentials", app.request(Method::DELETE, &path, None)),
            ("a malformed key", app.request(Method::DELETE, &path, Some("kg_ak_not_a_real_key"))),
            ("a well-formed key never issued", app.request(Method::DELETE, &path, Some(&unknown))),
            ("no credentials, a create", app.request(Method::POST, "/v1/secrets", None).json(&json!({}))),
        ];
        for (what, req) in cases {
            let before = all_events(&app).await;
            let res = req.send().await.unwrap();
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
            let after = all_events(&app).await;
            assert_eq!(ids(&after), ids(&before), "{what}: no event stored: {:?}", added(&before, &after));
        }
        // The key was not touched.
        let res = app.get(&path, &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "the key still exists");
    }
}

backend_test! {
    async fn a_disabled_or_expired_keys_refusal_reaches_its_own_organization(app) {
        // A tenant organization, with a key of its own that is then disabled
        // and another that has expired.
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "tenant"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let tenant: Value = res.json().await.unwrap();
        let tenant_id = tenant["organization"]["id"].as_str().unwrap().to_owned();
        let admin = tenant["api_key"]["key"].as_str().unwrap().to_owned();
        let disabled = app.create_key(&admin, json!({"name": "disabled", "api_key_role": "personal"})).await;
        let res = app
            .patch(&format!("/v1/api_keys/{}", disabled["id"].as_str().unwrap()), &admin, &json!({"enabled": false}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let expired = app.create_key(&admin, json!({"name": "expired", "api_key_role": "personal"})).await;
        // Never used yet, so no node holds it in a cache.
        crate::helpers::execute(
            &app,
            &format!("UPDATE api_keys SET expires_at = '2020-01-01 00:00:00' WHERE id = '{}'", expired["id"].as_str().unwrap()),
        );
        for (what, key) in [("disabled", &disabled), ("expired", &expired)] {
            let key_id = key["id"].as_str().unwrap();
            let res = app
                .post("/v1/secrets", key["key"].as_str().unwrap(), &json!({"value": "v"}))
                .await;
            let rid = request_id(&res);
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
            let seen = events_as(&app, &admin, "outcome=denied").await;
            let event = seen
                .iter()
                .find(|e| e["request_id"] == rid.as_str())
                .unwrap_or_else(|| panic!("{what}: the tenant sees its denied event: {seen:?}"));
            assert_eq!(event["organization_id"], tenant_id.as_str(), "{what}: {event}");
            assert_eq!(event["actor_key_id"], key_id, "{what}: {event}");
            assert_eq!(event["action"], "create_secret", "{what}: {event}");
        }
    }
}

backend_test! {
    async fn a_denied_event_whose_path_holds_nul_is_recorded(app) {
        // PostgreSQL text cannot hold NUL: the event keeps the id as sent.
        let (serving_id, serving) = app.key_with_role("serving").await;
        let before = all_events(&app).await;
        let res = app
            .request(Method::DELETE, "/v1/api_keys/aky_a%00b", Some(&serving))
            .send()
            .await
            .unwrap();
        let rid = request_id(&res);
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let new = added(&before, &all_events(&app).await);
        assert_eq!(new.len(), 1, "one denied event: {new:?}");
        let event = &new[0];
        assert_eq!(event["outcome"], "denied", "{event}");
        assert_eq!(event["actor_key_id"], serving_id.as_str(), "{event}");
        assert_eq!(event["resource_id"], "aky_a%00b", "{event}");
        assert_eq!(event["request_id"], rid.as_str(), "{event}");
    }
}

backend_test! {
    async fn audit_events_past_the_retention_are_purged(app) {
        use keygate::audit::{purge_before, AuditEvent};
        let db = keygate::db::Db::connect(&keygate::config::DatabaseSettings {
            backend: app.backend,
            target: app.database_target.clone(),
            pool_size: 1,
            timeouts: Default::default(),
        })
        .unwrap();
        let (_, org) = whoami(&app, &app.bootstrap_key).await;
        let now = Utc::now();
        let event = |at: DateTime<Utc>, request_id: &str| AuditEvent {
            id: format!("{}1", keygate::db::first_id_at("evt_", at)),
            occurred_at: at.naive_utc(),
            ..AuditEvent::success(&org, None, "create_secret", "secret", "s", request_id)
        };
        db.write_blocking(|conn| {
            event(now - chrono::Duration::days(31), "old").record(conn)?;
            event(now - chrono::Duration::days(29), "recent").record(conn)?;
            Ok(())
        })
        .unwrap();
        let purged = db
            .write_blocking(|conn| Ok(purge_before(conn, now - chrono::Duration::days(30))?))
            .unwrap();
        assert!(purged >= 1, "the old event is purged ({purged})");
        let left = all_events(&app).await;
        let requests: Vec<&str> = left.iter().filter_map(|e| e["request_id"].as_str()).collect();
        assert!(!requests.contains(&"old"), "{requests:?}");
        assert!(requests.contains(&"recent"), "{requests:?}");
        assert!(requests.contains(&"bootstrap"), "the bootstrap event is younger: {requests:?}");
    }
}

backend_test! {
    async fn a_forbidden_mutation_leaves_a_denied_event_with_its_actor(app) {
        let (_, org) = whoami(&app, &app.bootstrap_key).await;
        let (serving_id, serving) = app.key_with_role("serving").await;

        let before = all_events(&app).await;
        let res = app
            .post("/v1/api_keys", &serving, &json!({"name": "escalate", "api_key_role": "personal"}))
            .await;
        let rid = request_id(&res);
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let new = added(&before, &all_events(&app).await);
        assert_eq!(new.len(), 1, "one denied event: {new:?}");
        let event = &new[0];
        assert_eq!(event["outcome"], "denied", "{event}");
        assert_eq!(event["actor_key_id"], serving_id.as_str(), "{event}");
        assert_eq!(event["organization_id"], org.as_str(), "{event}");
        assert_eq!(event["action"], "create_api_key", "{event}");
        assert_eq!(event["resource_type"], "api_key", "{event}");
        assert!(event["resource_id"].is_null(), "a create names no resource: {event}");
        assert_eq!(event["request_id"], rid.as_str(), "{event}");

        // Refused reads are not audited.
        let reads: Vec<(&str, RequestBuilder, &str)> = vec![
            ("list_api_keys", app.request(Method::GET, "/v1/api_keys", Some(&serving)), "insufficient_role"),
            ("get_api_key", app.request(Method::GET, &format!("/v1/api_keys/{serving_id}"), Some(&serving)), "insufficient_role"),
            ("list_audit_events", app.request(Method::GET, "/v1/audit_events", Some(&serving)), "insufficient_role"),
        ];
        for (what, req, code) in reads {
            let before = all_events(&app).await;
            let res = req.send().await.unwrap();
            assert_problem(res, StatusCode::FORBIDDEN, code).await;
            let after = all_events(&app).await;
            assert_eq!(ids(&after), ids(&before), "a refused {what} adds no event: {:?}", added(&before, &after));
        }
    }
}

backend_test! {
    async fn no_event_contains_a_secret(app) {
        let mut secrets = vec![app.bootstrap_key.clone()];
        let mut key_ids = Vec::new();
        for role in ["serving", "serving_and_indexing", "personal"] {
            let (id, secret) = app.key_with_role(role).await;
            secrets.push(secret);
            key_ids.push(id);
        }
        for id in &key_ids {
            let res = app
                .request(Method::POST, &format!("/v1/api_keys/{id}/rotate"), Some(&app.bootstrap_key))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "rotate {id}");
            let body: Value = res.json().await.unwrap();
            secrets.push(body["key"].as_str().unwrap().to_owned());
        }
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "secretive"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let org: Value = res.json().await.unwrap();
        let org_key = org["api_key"]["key"].as_str().unwrap().to_owned();
        secrets.push(org_key.clone());
        // A refusal that presents a real (pending) secret.
        let res = app.post("/v1/api_keys", &secrets[1], &json!({"name": "x", "api_key_role": "serving"})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        for (who, key) in [("root", app.bootstrap_key.as_str()), ("other organization", org_key.as_str())] {
            let res = app.get("/v1/audit_events?limit=100", key).await;
            assert_eq!(res.status(), StatusCode::OK, "{who}");
            let text = res.text().await.unwrap();
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{who}: a secret appears in the audit events: {text}");
                // Not even the secret part after the prefix.
                assert!(!text.contains(&secret[10..]), "{who}: part of a secret appears in {text}");
            }
        }
        assert!(all_events(&app).await.len() >= 8, "the mutations were audited");
    }
}

backend_test! {
    async fn the_first_start_records_a_bootstrap_event(app) {
        let (_, org) = whoami(&app, &app.bootstrap_key).await;
        let events = all_events(&app).await;
        let bootstrap: Vec<&Value> = events.iter().filter(|e| e["action"] == "bootstrap").collect();
        assert_eq!(bootstrap.len(), 1, "one bootstrap event: {events:?}");
        let event = bootstrap[0];
        assert_eq!(event["resource_type"], "organization", "{event}");
        assert_eq!(event["resource_id"], org.as_str(), "{event}");
        assert_eq!(event["organization_id"], org.as_str(), "{event}");
        assert!(event["actor_key_id"].is_null(), "no key acted: {event}");
        assert_eq!(event["outcome"], "success", "{event}");
        assert!(event["request_id"].is_string(), "{event}");
        occurred_at(event);
        assert_eq!(ids(&events)[0], event["id"].as_str().unwrap(), "it is the first event");
    }
}

/// A predicate over events, for filter cases.
type Keep = Box<dyn Fn(&Value) -> bool>;

backend_test! {
    async fn audit_events_filter_by_each_field(app) {
        let (root_id, _) = whoami(&app, &app.bootstrap_key).await;
        let (personal_id, personal) = app.key_with_role("personal").await;
        // A few milliseconds apart, so a time divides them.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        let created = app
            .create_key(&personal, json!({"name": "made by personal", "api_key_role": "serving"}))
            .await;
        let target = created["id"].as_str().unwrap().to_owned();
        let res = app
            .patch(&format!("/v1/api_keys/{target}"), &app.bootstrap_key, &json!({"name": "renamed"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, serving) = app.key_with_role("serving").await;
        let res = app.delete(&format!("/v1/api_keys/{target}"), &serving).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;

        let all = all_events(&app).await;
        // The event of the personal key's create: a time between mutations.
        let pivot_event = all
            .iter()
            .find(|e| e["actor_key_id"] == personal_id.as_str())
            .expect("the personal key's event");
        let pivot = occurred_at(pivot_event);
        let pivot_text = pivot_event["occurred_at"].as_str().unwrap().replace('+', "%2B");

        let (t, r, p) = (target.clone(), root_id.clone(), personal_id.clone());
        let cases: Vec<(&str, String, Keep)> = vec![
            ("resource_type", "resource_type=organization".to_owned(), Box::new(|e| e["resource_type"] == "organization")),
            ("resource_id", format!("resource_id={target}"), Box::new(move |e| e["resource_id"] == t.as_str())),
            ("actor_key_id", format!("actor_key_id={root_id}"), Box::new(move |e| e["actor_key_id"] == r.as_str())),
            ("action", "action=update_api_key".to_owned(), Box::new(|e| e["action"] == "update_api_key")),
            ("outcome=denied", "outcome=denied".to_owned(), Box::new(|e| e["outcome"] == "denied")),
            ("outcome=success", "outcome=success".to_owned(), Box::new(|e| e["outcome"] == "success")),
            ("since", format!("since={pivot_text}"), Box::new(move |e| occurred_at(e) >= pivot)),
            ("until", format!("until={pivot_text}"), Box::new(move |e| occurred_at(e) < pivot)),
            ("combined", format!("resource_id={target}&actor_key_id={personal_id}"),
                Box::new(move |e| e["resource_id"] == target.as_str() && e["actor_key_id"] == p.as_str())),
        ];
        for (what, query, keep) in cases {
            let expected: Vec<String> = ids(&all.iter().filter(|e| keep(e)).cloned().collect::<Vec<_>>());
            assert!(!expected.is_empty(), "{what}: the setup gives the filter something to find");
            assert!(expected.len() < all.len(), "{what}: the setup gives the filter something to leave out");
            let got = events_as(&app, &app.bootstrap_key, &query).await;
            assert_eq!(ids(&got), expected, "{what}: {query}");
        }
    }
}

backend_test! {
    async fn audit_events_page_through_every_event_once_in_ascending_order(app) {
        for i in 0..4 {
            app.create_key(&app.bootstrap_key, json!({"name": format!("page {i}"), "api_key_role": "serving"}))
                .await;
        }
        let all = ids(&all_events(&app).await);
        assert!(all.len() >= 5, "bootstrap and four creates: {all:?}");

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/audit_events?limit=2&cursor={c}"),
                None => "/v1/audit_events?limit=2".to_owned(),
            };
            let res = app.get(&path, &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let page: Value = res.json().await.unwrap();
            let data = page["data"].as_array().expect("data");
            assert!(data.len() <= 2, "page {pages} has {} events", data.len());
            assert!(page.get("next_cursor").is_some(), "next_cursor is always present: {page}");
            seen.extend(ids(data));
            pages += 1;
            assert!(pages <= 20, "pagination does not end");
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, all.len().div_ceil(2), "{} events in pages of 2", all.len());
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "ascending order");
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "every id once: {seen:?}");
        assert_eq!(seen, all, "every event");
    }
}

backend_test! {
    async fn audit_events_reject_invalid_query_parameters(app) {
        let cases = [
            ("limit=0", "validation_failed", Some("limit")),
            ("limit=101", "validation_failed", Some("limit")),
            ("limit=abc", "invalid_query_parameter", None),
            ("cursor=!!!", "validation_failed", Some("cursor")),
            ("since=notadate", "invalid_query_parameter", None),
            ("until=2024-13-01T00:00:00Z", "invalid_query_parameter", None),
            ("outcome=maybe", "invalid_query_parameter", None),
        ];
        for (query, code, field) in cases {
            let res = app.get(&format!("/v1/audit_events?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
            let body = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            if let Some(field) = field {
                assert!(
                    body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field)),
                    "{query}: expected an error on `{field}` in {body}"
                );
            }
        }
        for query in ["limit=1", "limit=100", "since=2000-01-01T00:00:00Z", "outcome=denied"] {
            let res = app.get(&format!("/v1/audit_events?{query}"), &app.bootstrap_key).await;
            assert_eq!(res.status(), StatusCode::OK, "{query}");
        }
    }
}

backend_test! {
    async fn only_personal_keys_allowed_by_their_policy_read_audit_events(app) {
        let (_, serving) = app.key_with_role("serving").await;
        let (_, indexing) = app.key_with_role("serving_and_indexing").await;
        let narrow = app
            .create_key(&app.bootstrap_key, json!({
                "name": "no audit", "api_key_role": "personal",
                "api_policy": {"allowed_operations": {"list_api_keys": {}}}
            }))
            .await;
        let auditor = app
            .create_key(&app.bootstrap_key, json!({
                "name": "auditor", "api_key_role": "personal",
                "api_policy": {"allowed_operations": {"list_audit_events": {}}}
            }))
            .await;
        let (_, personal) = app.key_with_role("personal").await;

        let refused = [
            ("serving", serving.as_str(), "insufficient_role"),
            ("serving_and_indexing", indexing.as_str(), "insufficient_role"),
            ("personal without list_audit_events in its policy", narrow["key"].as_str().unwrap(), "operation_not_allowed"),
        ];
        for (what, key, code) in refused {
            let res = app.get("/v1/audit_events", key).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
            assert_problem(res, StatusCode::FORBIDDEN, code).await;
        }
        let allowed = [
            ("bootstrap", app.bootstrap_key.as_str()),
            ("personal", personal.as_str()),
            ("personal allowed list_audit_events", auditor["key"].as_str().unwrap()),
        ];
        let expected = ids(&all_events(&app).await);
        for (what, key) in allowed {
            let seen = ids(&events_as(&app, key, "").await);
            assert_eq!(seen, expected, "{what} sees the organization's events");
        }
        let res = app.get("/v1/audit_events", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

backend_test! {
    async fn another_organizations_key_sees_only_its_own_events(app) {
        let (_, root_org) = whoami(&app, &app.bootstrap_key).await;
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "acme"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        let acme = created["organization"]["id"].as_str().unwrap().to_owned();
        let acme_key = created["api_key"]["key"].as_str().unwrap().to_owned();
        let acme_actor = created["api_key"]["id"].as_str().unwrap().to_owned();

        // Activity in both organizations, a refusal in each.
        app.key_with_role("serving").await;
        let made = app
            .create_key(&acme_key, json!({"name": "acme serving", "api_key_role": "serving"}))
            .await;
        let acme_serving = made["key"].as_str().unwrap();
        let res = app.post("/v1/api_keys", acme_serving, &json!({"name": "x", "api_key_role": "serving"})).await;
        assert_problem(res, StatusCode::FORBIDDEN, "insufficient_role").await;
        let res = app.request(Method::DELETE, &format!("/v1/api_keys/{}", made["id"].as_str().unwrap()), None).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

        let theirs = events_as(&app, &acme_key, "").await;
        assert_eq!(theirs.len(), 2, "acme sees its create and its refusal: {theirs:?}");
        for event in &theirs {
            assert_eq!(event["organization_id"], acme.as_str(), "acme sees only its own: {event}");
        }
        assert_eq!(theirs[0]["action"], "create_api_key");
        assert_eq!(theirs[0]["actor_key_id"], acme_actor.as_str());
        assert_eq!(theirs[1]["outcome"], "denied");

        let root = all_events(&app).await;
        let root_ids = ids(&root);
        for event in &theirs {
            assert!(!root_ids.contains(&event["id"].as_str().unwrap().to_owned()), "the root does not see acme's {event}");
        }
        for event in &root {
            assert!(
                event["organization_id"] == root_org.as_str() || event["organization_id"].is_null(),
                "the root sees its own and anonymous events only: {event}"
            );
        }
        // Filters do not widen the view.
        let filtered = events_as(&app, &acme_key, &format!("actor_key_id={}", whoami(&app, &app.bootstrap_key).await.0)).await;
        assert!(filtered.is_empty(), "acme cannot see the root's events by filtering: {filtered:?}");
    }
}

#[actix_web::test]
async fn the_server_purges_audit_events_past_the_retention_when_it_starts() {
    use diesel::prelude::*;
    use keygate::audit::AuditEvent;
    use keygate::db::schema::audit_events;

    let dir = tempfile::tempdir().unwrap();
    let bootstrap = keygate::keys::format::generate(keygate::keys::format::KeyKind::ApiKey).value;
    let mut settings = crate::helpers::sqlite_settings(dir.path(), None, &bootstrap);
    settings.audit_retention = Some(chrono::Duration::days(30));
    let db = keygate::db::Db::connect(&settings.database).unwrap();
    keygate::startup::prepare_database(&db, &settings).unwrap();
    let at = Utc::now() - chrono::Duration::days(31);
    let old = AuditEvent {
        id: format!("{}1", keygate::db::first_id_at("evt_", at)),
        occurred_at: at.naive_utc(),
        ..AuditEvent::denied(None, None, "delete_api_key", "api_key", None, "old")
    };
    db.write_blocking(|conn| Ok(old.record(conn)?)).unwrap();
    let count = |db: &keygate::db::Db, request_id: &'static str| {
        db.write_blocking(move |conn| {
            Ok(audit_events::table
                .filter(audit_events::request_id.eq(request_id))
                .count()
                .get_result::<i64>(conn)?)
        })
        .unwrap()
    };
    assert_eq!(count(&db, "old"), 1);
    crate::helpers::start(&settings);
    let mut left = 1;
    for _ in 0..50 {
        left = count(&db, "old");
        if left == 0 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        left, 0,
        "the event older than the retention is purged at start"
    );
    assert_eq!(count(&db, "bootstrap"), 1, "a younger event is kept");
}
