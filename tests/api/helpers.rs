//! `TestApp`: the real server on 127.0.0.1:0 with a fresh database, and the
//! helpers every test file shares.

use std::path::PathBuf;

use diesel::{Connection, RunQueryDsl};
use keygate::config::{Backend, DatabaseSettings, Settings};
use keygate::keys::format::{self as key_format, KeyKind};
use keygate::startup::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

/// Where PostgreSQL tests get their server (an admin database on it).
pub fn postgres_admin_url() -> String {
    std::env::var("KEYGATE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The `default_transaction_isolation` every test database gets, from
/// `KEYGATE_TEST_PG_ISOLATION` (`read committed`, `repeatable read` or
/// `serializable`; unset: the server's default). `.ci/run` runs the tests a
/// second time with `serializable`, so that every write meets the
/// serialization failures a distributed engine gives, and must retry them.
pub fn postgres_isolation() -> Option<String> {
    let value = std::env::var("KEYGATE_TEST_PG_ISOLATION").ok()?;
    let value = value.trim().replace('_', " ").to_lowercase();
    assert!(
        ["read committed", "repeatable read", "serializable"].contains(&value.as_str()),
        "KEYGATE_TEST_PG_ISOLATION: must be read committed, repeatable read or serializable, got {value:?}"
    );
    Some(value)
}

/// The URL of database `name` on the admin URL's server, without TLS.
///
/// The test binary runs hundreds of servers whose pooled connections are
/// still open in worker threads when the process exits; with TLS, OpenSSL's
/// exit-time teardown under those threads can crash the exit. Tests talk to
/// a local server, so they ask for plain connections (unless the URL says
/// otherwise).
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (address, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let base = address.rsplit_once('/').map_or(address, |(b, _)| b);
    let query = if query.contains("sslmode=") {
        query.to_owned()
    } else if query.is_empty() {
        "sslmode=disable".to_owned()
    } else {
        format!("{query}&sslmode=disable")
    };
    format!("{base}/{name}?{query}")
}

/// A fresh PostgreSQL database, dropped with the guard.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the fresh database.
    pub url: String,
}

impl PgDatabase {
    /// Creates a fresh database; `None` (after a loud line) when the server is
    /// unreachable outside CI. In CI an unreachable server fails the test.
    pub fn create() -> Option<PgDatabase> {
        let admin_url = postgres_admin_url();
        let admin_url = database_url(
            &admin_url,
            admin_url
                .split_once('?')
                .map_or(&admin_url[..], |(a, _)| a)
                .rsplit_once('/')
                .map_or("postgres", |(_, db)| db),
        );
        let mut admin = match diesel::PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at KEYGATE_TEST_DATABASE_URL is unreachable and CI is set: {e}")
            }
            Err(e) => {
                // Straight to stderr: the test harness captures eprintln!
                // of passing tests, and this line must be seen.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!! SKIPPING PostgreSQL test: cannot connect to {admin_url}: {e}\n"
                );
                return None;
            }
        };
        let name = format!("keygate_test_{}", uuid::Uuid::now_v7().simple());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        if let Some(isolation) = postgres_isolation() {
            diesel::sql_query(format!(
                "ALTER DATABASE {name} SET default_transaction_isolation = '{isolation}'"
            ))
            .execute(&mut admin)
            .expect("set the test database's isolation");
        }
        let url = database_url(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// A running keygate with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The `personal` key of organization `default`.
    pub bootstrap_key: String,
    /// The SQLite file, for SQLite apps.
    pub sqlite_path: Option<PathBuf>,
    /// Which backend it runs on.
    pub backend: Backend,
    /// The database the server uses: the SQLite file path, or the
    /// PostgreSQL URL (for tests that hold locks or read rows directly).
    pub database_target: String,
    /// HTTP client.
    pub client: reqwest::Client,
    _tempdir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl TestApp {
    /// Starts keygate on a fresh database of the given backend; `None` when
    /// PostgreSQL is unreachable outside CI.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], with settings changed by `configure` first.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let (target, tempdir, pg, sqlite_path) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("keygate.db");
                (
                    path.to_string_lossy().into_owned(),
                    Some(dir),
                    None,
                    Some(path),
                )
            }
            Backend::Postgres => {
                let pg = PgDatabase::create()?;
                (pg.url.clone(), None, Some(pg), None)
            }
        };
        let bootstrap_key = key_format::generate(KeyKind::ApiKey).value;
        let database_target = target.clone();
        let mut settings = Settings::for_database(DatabaseSettings {
            backend,
            target,
            pool_size: 4,
            timeouts: Default::default(),
        });
        settings.bootstrap_key = Some(bootstrap_key.clone());
        settings.master_key = keygate::config::MasterKeySource::Inline(
            keygate::crypto::envelope::MasterKey::generate_base64(),
        );
        // Short, so tests see last_used_at without waiting long.
        settings.last_used_flush = std::time::Duration::from_millis(200);
        settings.analytics_flush = std::time::Duration::from_millis(200);
        configure(&mut settings);
        let (app, printed) = Application::build(&settings, 1).expect("application starts");
        assert!(
            printed.is_none(),
            "a supplied bootstrap key is never printed"
        );
        let address = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.run());
        Some(TestApp {
            address,
            bootstrap_key,
            sqlite_path,
            backend,
            database_target,
            client: reqwest::Client::new(),
            _tempdir: tempdir,
            _pg: pg,
        })
    }

    /// A request to a path, authenticated with `key` when given.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{}", self.address, path));
        match key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// GET with a key.
    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.request(Method::GET, path, Some(key))
            .send()
            .await
            .expect("request")
    }

    /// DELETE with a key.
    pub async fn delete(&self, path: &str, key: &str) -> Response {
        self.request(Method::DELETE, path, Some(key))
            .send()
            .await
            .expect("request")
    }

    /// POST a JSON body with a key.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(key))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// PATCH a JSON body with a key.
    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(key))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates an API key with the given body using `key`, asserting 201;
    /// returns the response body (which carries the secret `key`).
    pub async fn create_key(&self, key: &str, body: Value) -> Value {
        let res = self.post("/v1/api_keys", key, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "create_key {body}");
        res.json().await.expect("json")
    }

    /// Creates another organization named `name`; returns its id and its
    /// first (`personal`) key.
    pub async fn other_organization(&self, name: &str) -> (String, String) {
        let res = self
            .post(
                "/v1/organizations",
                &self.bootstrap_key,
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create organization");
        let body: Value = res.json().await.expect("json");
        (
            body["organization"]["id"].as_str().unwrap().to_owned(),
            body["api_key"]["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a key of a role with a unique name; returns (id, secret).
    pub async fn key_with_role(&self, role: &str) -> (String, String) {
        let created = self
            .create_key(
                &self.bootstrap_key,
                serde_json::json!({"name": format!("{role} key"), "api_key_role": role}),
            )
            .await;
        (
            created["id"].as_str().unwrap().to_owned(),
            created["key"].as_str().unwrap().to_owned(),
        )
    }
}

/// Asserts status, `application/problem+json` and `code`; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"), "x-request-id");
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["request_id"].is_string() && body["instance"].is_string(),
        "{body}"
    );
    if status == StatusCode::BAD_REQUEST {
        assert_names_fields(&body);
    }
    body
}

/// Asserts a 400 problem whose `errors` name `field` (and nothing that is
/// not a field error's shape), and whose `detail` starts with the field;
/// returns that field's error.
pub async fn assert_invalid(res: Response, code: &str, field: &str) -> Value {
    let body = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
    assert_names_fields(&body);
    let error = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["field"] == field)
        .cloned()
        .unwrap_or_else(|| panic!("no error names {field}: {body}"));
    if body["errors"].as_array().map_or(0, Vec::len) == 1 {
        assert_eq!(
            body["detail"],
            format!(
                "{}: {}",
                error["field"].as_str().unwrap(),
                error["message"].as_str().unwrap()
            ),
            "{body}"
        );
    }
    error
}

/// Every 400 names its fields: a non-empty `errors` of `{field, code,
/// message}`, each non-empty.
pub fn assert_names_fields(body: &Value) {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {body}"));
    assert!(!errors.is_empty(), "no errors: {body}");
    for e in errors {
        for part in ["field", "code", "message"] {
            assert!(
                e[part].as_str().is_some_and(|t| !t.is_empty()),
                "{part} of {e} in {body}"
            );
        }
    }
}

/// Defines one test body as two tests, `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! backend_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[actix_web::test]
            async fn sqlite() {
                let $app = $crate::helpers::TestApp::spawn(keygate::config::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                $body
            }

            $(#[$meta])*
            #[actix_web::test]
            async fn postgres() {
                let Some($app) = $crate::helpers::TestApp::spawn(keygate::config::Backend::Postgres).await else {
                    return;
                };
                $body
            }
        }
    };
}

/// Sends a request with an optional JSON body and `If-Match`.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    if_match: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut builder = app.request(method, path, Some(key));
    if let Some(body) = body {
        builder = builder.json(body);
    }
    if let Some(tag) = if_match {
        builder = builder.header("If-Match", tag);
    }
    builder.send().await.expect("request")
}

/// A header of a response, as text; panics when it is absent.
pub fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("readable header")
        .to_owned()
}

/// Whether `haystack` holds the bytes of `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `text` shows `value`, raw or JSON-escaped.
pub fn shows(text: &str, value: &str) -> bool {
    let escaped = serde_json::to_string(value).unwrap();
    text.contains(value) || text.contains(&escaped[1..escaped.len() - 1])
}

/// A direct connection to an SQLite test database that waits for the
/// server's locks.
fn sqlite_connection(app: &TestApp) -> diesel::SqliteConnection {
    let mut conn = diesel::SqliteConnection::establish(&app.database_target).expect("sqlite");
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 5000")
        .expect("busy_timeout");
    conn
}

fn pg_connection(app: &TestApp) -> diesel::PgConnection {
    diesel::PgConnection::establish(&app.database_target).expect("postgres")
}

/// A direct connection to the test database as keygate's repos take it,
/// for calling a repo function beside the server.
pub fn any_connection(app: &TestApp) -> keygate::db::AnyConnection {
    match app.backend {
        Backend::Sqlite => keygate::db::AnyConnection::Sqlite(sqlite_connection(app)),
        Backend::Postgres => keygate::db::AnyConnection::Postgresql(pg_connection(app)),
    }
}

/// Runs one statement on the test database, beside the server; returns the
/// rows changed.
pub fn execute(app: &TestApp, sql: &str) -> usize {
    match app.backend {
        Backend::Sqlite => diesel::sql_query(sql)
            .execute(&mut sqlite_connection(app))
            .expect(sql),
        Backend::Postgres => diesel::sql_query(sql)
            .execute(&mut pg_connection(app))
            .expect(sql),
    }
}

/// The rows of a query, read directly from the test database.
pub fn load_rows<T>(app: &TestApp, sql: &str) -> Vec<T>
where
    T: diesel::QueryableByName<diesel::sqlite::Sqlite>
        + diesel::QueryableByName<diesel::pg::Pg>
        + 'static,
{
    match app.backend {
        Backend::Sqlite => diesel::sql_query(sql)
            .load(&mut sqlite_connection(app))
            .expect(sql),
        Backend::Postgres => diesel::sql_query(sql)
            .load(&mut pg_connection(app))
            .expect(sql),
    }
}

/// Settings for an SQLite file in `dir`, with a master key source (`None`:
/// the default) and a bootstrap key.
pub fn sqlite_settings(
    dir: &std::path::Path,
    master_key: Option<keygate::config::MasterKeySource>,
    bootstrap_key: &str,
) -> Settings {
    let mut settings = Settings::for_database(DatabaseSettings {
        backend: Backend::Sqlite,
        target: dir.join("k.db").to_string_lossy().into_owned(),
        pool_size: 2,
        timeouts: Default::default(),
    });
    if let Some(source) = master_key {
        settings.master_key = source;
    }
    settings.bootstrap_key = Some(bootstrap_key.to_owned());
    settings
}

/// A server [`start`] spawned: its stop handle and its task.
type Running = (
    actix_web::dev::ServerHandle,
    actix_web::rt::task::JoinHandle<std::io::Result<()>>,
);

thread_local! {
    // Each test runs its servers on its own thread's runtime.
    static RUNNING: std::cell::RefCell<std::collections::HashMap<String, Running>> =
        Default::default();
}

/// Builds and spawns keygate with these settings, panicking if it does not
/// start; returns its address.
pub fn start(settings: &Settings) -> String {
    let (app, _) =
        Application::build(settings, 1).unwrap_or_else(|e| panic!("application starts: {e}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let task = actix_web::rt::spawn(app.run());
    RUNNING.with(|r| r.borrow_mut().insert(address.clone(), (handle, task)));
    address
}

/// Stops a server [`start`] spawned and waits until it is gone (its SQLite
/// file's lock with it), so the next start may serve that file.
pub async fn stop(address: &str) {
    let running = RUNNING.with(|r| r.borrow_mut().remove(address));
    let (handle, task) = running.unwrap_or_else(|| panic!("no server runs at {address}"));
    handle.stop(false).await;
    task.await
        .expect("server task")
        .expect("server stops cleanly");
}

/// The error of a start expected to be refused.
pub fn refused(settings: &Settings) -> String {
    match Application::build(settings, 1) {
        Ok(_) => panic!("the application starts, but must be refused"),
        Err(e) => e.to_string(),
    }
}
