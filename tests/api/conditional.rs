//! Conditional requests and budgets: `ETag` on single-resource responses,
//! `If-Match` on PATCH, DELETE and rotate (a stale tag changes nothing), the
//! `Request-Timeout` headers, and a timed-out write that leaves no trace.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use keygate::config::Backend;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_problem, TestApp};

/// The quoted `ETag` of a response, asserting it is there.
fn etag_of(res: &Response, what: &str) -> String {
    let tag = res
        .headers()
        .get("etag")
        .unwrap_or_else(|| panic!("{what}: no ETag header"))
        .to_str()
        .unwrap_or_else(|e| panic!("{what}: ETag is not text: {e}"))
        .to_owned();
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "{what}: ETag {tag} is not a quoted strong tag"
    );
    tag
}

/// Creates a `serving` key with the bootstrap key; returns (id, secret).
async fn new_key(app: &TestApp, name: &str) -> (String, String) {
    let created = app
        .create_key(
            &app.bootstrap_key,
            json!({"name": name, "api_key_role": "serving"}),
        )
        .await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// GET /v1/api_keys/{id}: (ETag, body), asserting 200.
async fn get_key(app: &TestApp, id: &str) -> (String, Value) {
    let res = app
        .get(&format!("/v1/api_keys/{id}"), &app.bootstrap_key)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "GET key {id}");
    let tag = etag_of(&res, "GET key");
    (tag, res.json().await.unwrap())
}

/// A write to a key, optionally with `If-Match`.
type Write = fn(&TestApp, &str, Option<&str>) -> RequestBuilder;

/// The writes that honour `If-Match`: (what, request, status on success).
fn conditional_writes() -> Vec<(&'static str, Write, StatusCode)> {
    fn with_if_match(builder: RequestBuilder, if_match: Option<&str>) -> RequestBuilder {
        match if_match {
            Some(tag) => builder.header("if-match", tag),
            None => builder,
        }
    }
    vec![
        (
            "PATCH",
            |app, id, tag| {
                with_if_match(
                    app.request(
                        Method::PATCH,
                        &format!("/v1/api_keys/{id}"),
                        Some(&app.bootstrap_key),
                    )
                    .json(&json!({"name": "conditionally renamed"})),
                    tag,
                )
            },
            StatusCode::OK,
        ),
        (
            "rotate",
            |app, id, tag| {
                with_if_match(
                    app.request(
                        Method::POST,
                        &format!("/v1/api_keys/{id}/rotate"),
                        Some(&app.bootstrap_key),
                    ),
                    tag,
                )
            },
            StatusCode::OK,
        ),
        (
            "DELETE",
            |app, id, tag| {
                with_if_match(
                    app.request(
                        Method::DELETE,
                        &format!("/v1/api_keys/{id}"),
                        Some(&app.bootstrap_key),
                    ),
                    tag,
                )
            },
            StatusCode::NO_CONTENT,
        ),
    ]
}

backend_test! {
    async fn single_resource_responses_carry_a_quoted_etag(app) {
        // POST /v1/api_keys (201)
        let res = app
            .post("/v1/api_keys", &app.bootstrap_key, &json!({"name": "tagged", "api_key_role": "serving"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create");
        let created_tag = etag_of(&res, "POST /v1/api_keys");
        let created: Value = res.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();

        // GET /v1/api_keys/{id}: the tag create gave is the current one.
        let (get_tag, _) = get_key(&app, &id).await;
        assert_eq!(get_tag, created_tag, "GET after create shows create's ETag");

        // PATCH (200)
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "tagged 2"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "PATCH");
        etag_of(&res, "PATCH");

        // rotate (200)
        let res = app
            .request(Method::POST, &format!("/v1/api_keys/{id}/rotate"), Some(&app.bootstrap_key))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "rotate");
        etag_of(&res, "rotate");

        // GET /v1/me
        let res = app.get("/v1/me", &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET /v1/me");
        etag_of(&res, "GET /v1/me");
        let me: Value = res.json().await.unwrap();
        let org_id = me["organization_id"].as_str().unwrap().to_owned();

        // GET /v1/organizations/{id}
        let res = app.get(&format!("/v1/organizations/{org_id}"), &app.bootstrap_key).await;
        assert_eq!(res.status(), StatusCode::OK, "GET organization");
        let org_tag = etag_of(&res, "GET /v1/organizations/{id}");
        let res = app.get(&format!("/v1/organizations/{org_id}"), &app.bootstrap_key).await;
        assert_eq!(etag_of(&res, "GET organization again"), org_tag, "organization ETag is stable");

        // POST /v1/organizations (201)
        let res = app
            .post("/v1/organizations", &app.bootstrap_key, &json!({"name": "tagged-org"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create organization");
        etag_of(&res, "POST /v1/organizations");
    }
}

backend_test! {
    async fn the_etag_is_stable_until_a_change_and_patch_returns_the_next_one(app) {
        let (id, _) = new_key(&app, "versioned").await;
        let (first, _) = get_key(&app, &id).await;
        let (second, _) = get_key(&app, &id).await;
        assert_eq!(first, second, "two GETs without a change give the same ETag");

        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "versioned 2"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "PATCH");
        let patched = etag_of(&res, "PATCH");
        assert_ne!(patched, first, "a PATCH changes the ETag");
        let (after, body) = get_key(&app, &id).await;
        assert_eq!(body["name"], "versioned 2");
        assert_eq!(after, patched, "the PATCH response's ETag is the following GET's");

        let res = app
            .request(Method::POST, &format!("/v1/api_keys/{id}/rotate"), Some(&app.bootstrap_key))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "rotate");
        let rotated = etag_of(&res, "rotate");
        assert_ne!(rotated, patched, "a rotation changes the ETag");
        let (after, _) = get_key(&app, &id).await;
        assert_eq!(after, rotated, "the rotate response's ETag is the following GET's");

        // Another key has another tag.
        let (other, _) = new_key(&app, "other").await;
        let (other_tag, _) = get_key(&app, &other).await;
        assert_ne!(other_tag, after, "two keys never share an ETag");
    }
}

backend_test! {
    async fn if_match_with_the_current_tag_a_star_or_a_list_lets_writes_through(app) {
        type Form = fn(&str) -> String;
        let forms: [(&str, Form); 3] = [
            ("the current ETag", |tag| tag.to_owned()),
            ("*", |_| "*".to_owned()),
            ("a list holding the current ETag", |tag| format!("\"00000000000000000000\", {tag}, \"ffff\"")),
        ];
        for (form, make) in forms {
            for (write, send, status) in conditional_writes() {
                let (id, _) = new_key(&app, "conditional").await;
                let (tag, _) = get_key(&app, &id).await;
                let header = make(&tag);
                let res = send(&app, &id, Some(&header)).send().await.unwrap();
                assert_eq!(res.status(), status, "{write} with If-Match {form} ({header})");
            }
        }
    }
}

backend_test! {
    async fn a_stale_if_match_refuses_patch_and_changes_nothing(app) {
        let (id, _) = new_key(&app, "first").await;
        let (stale, _) = get_key(&app, &id).await;
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "second"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "unconditional PATCH");
        let (current, before) = get_key(&app, &id).await;
        assert_ne!(stale, current);

        let res = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("if-match", &stale)
            .json(&json!({"name": "third", "enabled": false}))
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

        let (tag, after) = get_key(&app, &id).await;
        assert_eq!(after["name"], "second", "a refused PATCH leaves the name");
        assert_eq!(after["enabled"], true, "a refused PATCH leaves enabled");
        assert_eq!(after, before, "a refused PATCH changes nothing");
        assert_eq!(tag, current, "a refused PATCH leaves the ETag");
    }
}

backend_test! {
    async fn a_stale_if_match_refuses_delete_and_the_key_still_works(app) {
        let (id, secret) = new_key(&app, "keep me").await;
        let (stale, _) = get_key(&app, &id).await;
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "kept"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "unconditional PATCH");

        let res = app
            .request(Method::DELETE, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("if-match", &stale)
            .send()
            .await
            .unwrap();
        assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;

        let (_, after) = get_key(&app, &id).await;
        assert_eq!(after["name"], "kept", "the key is still there");
        let res = app.get("/v1/me", &secret).await;
        assert_eq!(res.status(), StatusCode::OK, "the key still authenticates");
        let me: Value = res.json().await.unwrap();
        assert_eq!(me["id"], id.as_str());
    }
}

backend_test! {
    async fn a_stale_if_match_refuses_rotate_and_the_old_secret_still_works(app) {
        let (id, secret) = new_key(&app, "no rotation").await;
        let (stale, _) = get_key(&app, &id).await;
        let res = app
            .patch(&format!("/v1/api_keys/{id}"), &app.bootstrap_key, &json!({"name": "still current"}))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "unconditional PATCH");
        let (current, before) = get_key(&app, &id).await;

        let res = app
            .request(Method::POST, &format!("/v1/api_keys/{id}/rotate"), Some(&app.bootstrap_key))
            .header("if-match", &stale)
            .json(&json!({"grace_period_seconds": 0}))
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
        assert!(body.get("key").is_none(), "a refused rotation shows no secret: {body}");

        let (tag, after) = get_key(&app, &id).await;
        assert_eq!(after["pending_keys"], json!([]), "no pending key after a refused rotation");
        assert_eq!(after["key_last4"], before["key_last4"], "the current secret is unchanged");
        assert_eq!(after["key_last4"], secret[secret.len() - 4..], "the secret is the created one");
        assert_eq!(tag, current, "a refused rotation leaves the ETag");
        let res = app.get("/v1/me", &secret).await;
        assert_eq!(res.status(), StatusCode::OK, "the old secret still authenticates");
        let verdict = app
            .post("/v1/verify", &app.bootstrap_key, &json!({"key": secret}))
            .await;
        assert_eq!(verdict.status(), StatusCode::OK);
        let verdict: Value = verdict.json().await.unwrap();
        assert_eq!(verdict["status"], "current", "the old secret is still the current one: {verdict}");
    }
}

backend_test! {
    async fn invalid_request_timeout_headers_are_refused_on_every_operation(app) {
        let headers = [
            ("Request-Timeout", "request-timeout"),
            ("Request-Timeout-Millis", "request-timeout-millis"),
        ];
        let values = [
            ("zero", "0"),
            ("negative", "-1"),
            ("not a number", "abc"),
            ("a fraction", "1.5"),
            ("empty", ""),
        ];
        let targets = [
            ("GET /v1/me", "/v1/me", Some(app.bootstrap_key.as_str())),
            ("GET /healthz", "/healthz", None),
        ];
        for (target, path, key) in targets {
            for (field, header) in headers {
                for (what, value) in values {
                    let res = app
                        .request(Method::GET, path, key)
                        .header(header, value)
                        .send()
                        .await
                        .unwrap();
                    let case = format!("{target} with {field}: {value:?} ({what})");
                    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{case}");
                    let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
                    assert!(
                        body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field)),
                        "{case}: expected an error on `{field}` in {body}"
                    );
                }
            }
        }
    }
}

backend_test! {
    async fn valid_request_timeout_headers_are_accepted(app) {
        let cases: [(&str, &[(&str, &str)]); 3] = [
            ("Request-Timeout: 5", &[("request-timeout", "5")]),
            ("Request-Timeout-Millis: 5000", &[("request-timeout-millis", "5000")]),
            ("both", &[("request-timeout", "5"), ("request-timeout-millis", "5000")]),
        ];
        for (what, headers) in cases {
            for (path, key) in [("/v1/me", Some(app.bootstrap_key.as_str())), ("/healthz", None)] {
                let mut req = app.request(Method::GET, path, key);
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{path} with {what}");
            }
        }
        // A write within its budget goes through.
        let (id, _) = new_key(&app, "in time").await;
        let res = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("request-timeout-millis", "5000")
            .json(&json!({"name": "in time 2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "PATCH within its budget");
        let (_, body) = get_key(&app, &id).await;
        assert_eq!(body["name"], "in time 2");
    }
}

/// How long a test holds a write lock on the server's database.
const HOLD: Duration = Duration::from_millis(1500);

/// A write lock on the server's database, taken on its own thread and
/// released (rolled back) after [`HOLD`], whatever the test does meanwhile.
struct HeldLock {
    thread: std::thread::JoinHandle<()>,
}

impl HeldLock {
    /// Takes the lock: on SQLite the database's write lock; on PostgreSQL
    /// the statements given (after `BEGIN`). Returns once it is held.
    async fn take(app: &TestApp, postgres_lock: String) -> HeldLock {
        let backend = app.backend;
        let target = app.database_target.clone();
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let release: Box<dyn FnOnce()> = match backend {
                Backend::Sqlite => {
                    let mut conn =
                        diesel::SqliteConnection::establish(&target).expect("open the SQLite file");
                    conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE;")
                        .expect("take the SQLite write lock");
                    Box::new(move || conn.batch_execute("ROLLBACK").expect("release the lock"))
                }
                Backend::Postgres => {
                    let mut conn =
                        diesel::PgConnection::establish(&target).expect("connect to PostgreSQL");
                    conn.batch_execute(&format!("BEGIN; {postgres_lock}"))
                        .expect("take the PostgreSQL lock");
                    Box::new(move || conn.batch_execute("ROLLBACK").expect("release the lock"))
                }
            };
            held_tx.send(()).expect("report the lock");
            std::thread::sleep(HOLD);
            release();
        });
        actix_web::rt::task::spawn_blocking(move || held_rx.recv())
            .await
            .unwrap()
            .expect("the lock is taken");
        HeldLock { thread }
    }

    /// Waits until the lock is released.
    async fn released(self) {
        let thread = self.thread;
        actix_web::rt::task::spawn_blocking(move || thread.join())
            .await
            .unwrap()
            .expect("the lock thread ends");
    }
}

/// Sends a request with `Request-Timeout-Millis: 400` while a lock blocks
/// it; asserts 504 `request_timeout` at the deadline, not at the release.
async fn assert_times_out(req: RequestBuilder, what: &str) {
    let started = Instant::now();
    let res = req
        .header("request-timeout-millis", "400")
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if res.status() != StatusCode::GATEWAY_TIMEOUT {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        panic!("{what}: expected 504 at the deadline, got {status} after {waited:?}: {text}");
    }
    let body = assert_problem(res, StatusCode::GATEWAY_TIMEOUT, "request_timeout").await;
    assert_eq!(
        Some(body["request_id"].as_str().unwrap_or_default().to_owned()),
        header_id,
        "{what}: the problem's request_id is the X-Request-Id"
    );
    assert!(
        waited >= Duration::from_millis(350),
        "{what}: answered after {waited:?}, before its budget ran out"
    );
    assert!(
        waited < HOLD,
        "{what}: answered after {waited:?}, when the lock went, not at the deadline"
    );
}

/// The bootstrap key's view of the audit events matching a query.
async fn audit_events(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/audit_events?limit=100&{query}"),
            &app.bootstrap_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "audit events {query}");
    let page: Value = res.json().await.unwrap();
    page["data"].as_array().expect("data").clone()
}

/// The ids of the organization's keys.
async fn key_ids(app: &TestApp) -> Vec<String> {
    let res = app.get("/v1/api_keys?limit=100", &app.bootstrap_key).await;
    assert_eq!(res.status(), StatusCode::OK, "list keys");
    let page: Value = res.json().await.unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

backend_test! {
    async fn a_timed_out_update_answers_504_and_changes_nothing(app) {
        let (id, _) = new_key(&app, "old name").await;
        let (tag, before) = get_key(&app, &id).await;
        // Authenticate once, so the key is cached and only the write waits.
        assert_eq!(app.get("/v1/me", &app.bootstrap_key).await.status(), StatusCode::OK);

        let lock = HeldLock::take(
            &app,
            format!("SELECT id FROM api_keys WHERE id = '{id}' FOR UPDATE;"),
        )
        .await;
        let patch = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .json(&json!({"name": "changed"}));
        assert_times_out(patch, "PATCH while the row is locked").await;
        lock.released().await;
        // The server's write resumes once the lock is gone; let it finish.
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;

        let (after_tag, after) = get_key(&app, &id).await;
        assert_eq!(after["name"], "old name", "the timed-out PATCH was rolled back");
        assert_eq!(after, before, "the key is as it was");
        assert_eq!(after_tag, tag, "the ETag is as it was");
        let events = audit_events(&app, &format!("resource_id={id}&action=update_api_key")).await;
        assert!(
            events.iter().all(|e| e["outcome"] != "success"),
            "a timed-out PATCH leaves no success event: {events:?}"
        );
        assert!(events.is_empty(), "a timed-out PATCH leaves no event at all: {events:?}");

        // The server is not wedged: the same write now goes through.
        let res = app
            .request(Method::PATCH, &format!("/v1/api_keys/{id}"), Some(&app.bootstrap_key))
            .header("request-timeout-millis", "5000")
            .json(&json!({"name": "changed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "PATCH after the lock is gone");
        let events = audit_events(&app, &format!("resource_id={id}&action=update_api_key")).await;
        assert_eq!(events.len(), 1, "one event for the one applied PATCH: {events:?}");
    }
}

backend_test! {
    async fn a_timed_out_create_answers_504_and_creates_nothing(app) {
        let before = key_ids(&app).await;
        let created_before = audit_events(&app, "action=create_api_key").await;

        let lock = HeldLock::take(&app, "LOCK TABLE api_keys IN EXCLUSIVE MODE;".to_owned()).await;
        let create = app
            .request(Method::POST, "/v1/api_keys", Some(&app.bootstrap_key))
            .json(&json!({"name": "never", "api_key_role": "serving"}));
        assert_times_out(create, "POST /v1/api_keys while the database is locked").await;
        lock.released().await;
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;

        assert_eq!(key_ids(&app).await, before, "a timed-out create leaves no new key");
        let created_after = audit_events(&app, "action=create_api_key").await;
        assert_eq!(
            created_after, created_before,
            "a timed-out create leaves no create_api_key event"
        );
    }
}

/// A keygate on `backend` with these request and statement bounds.
async fn bounded_app(backend: Backend, deadline: Duration, statement: Duration) -> Option<TestApp> {
    TestApp::spawn_with(backend, |settings| {
        settings.request_deadline = deadline;
        settings.database.timeouts.statement = statement;
    })
    .await
}

/// A PATCH of key `id` without `Request-Timeout`, while its row is locked:
/// 503 with `Retry-After`, answered before the lock goes; then the key is
/// unchanged and the server not wedged.
async fn assert_bounded_patch(app: &TestApp, what: &str) {
    let (id, _) = new_key(app, "old name").await;
    let (tag, before) = get_key(app, &id).await;
    assert_eq!(
        app.get("/v1/me", &app.bootstrap_key).await.status(),
        StatusCode::OK
    );
    let lock = HeldLock::take(
        app,
        format!("SELECT id FROM api_keys WHERE id = '{id}' FOR UPDATE;"),
    )
    .await;
    let started = Instant::now();
    let res = app
        .request(
            Method::PATCH,
            &format!("/v1/api_keys/{id}"),
            Some(&app.bootstrap_key),
        )
        .json(&json!({"name": "changed"}))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        res.headers().contains_key("retry-after"),
        "{what}: Retry-After"
    );
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    assert!(
        waited < HOLD,
        "{what}: answered after {waited:?}, when the lock went, not at its bound"
    );
    lock.released().await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let (after_tag, after) = get_key(app, &id).await;
    assert_eq!(
        (after_tag, after),
        (tag, before),
        "{what}: the key is as it was"
    );
    let res = app
        .request(
            Method::PATCH,
            &format!("/v1/api_keys/{id}"),
            Some(&app.bootstrap_key),
        )
        .json(&json!({"name": "changed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{what}: the same PATCH after the lock is gone"
    );
}

backend_test! {
    async fn keygates_own_request_deadline_answers_503_and_changes_nothing(app) {
        // Without Request-Timeout the caller set no budget: the cause is the
        // database, so keygate's own deadline answers 503, not 504.
        let app = bounded_app(app.backend, Duration::from_millis(400), Duration::from_secs(5))
            .await
            .expect("a bounded app");
        assert_bounded_patch(&app, "the request deadline").await;
    }
}

#[actix_web::test]
async fn a_statement_past_the_statement_timeout_answers_503_not_500() {
    // PostgreSQL cancels the lock wait at keygate's statement_timeout.
    let Some(app) = bounded_app(
        Backend::Postgres,
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .await
    else {
        return;
    };
    assert_bounded_patch(&app, "the statement timeout").await;
}
