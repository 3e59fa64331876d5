//! The `keygate` binary itself: first start and the bootstrap key, logs that
//! never carry secrets, the `keys`, `openapi` and `migrate` commands, bad
//! configuration, and the database backends as the command line picks them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use keygate::keys::format::{self as key_format, KeyKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::PgDatabase;

const KEYGATE: &str = env!("CARGO_BIN_EXE_keygate");

/// Every variable keygate reads; removed before each run so the tests do not
/// depend on the environment they run in.
const KEYGATE_VARS: [&str; 22] = [
    "DATABASE_URL",
    "KEYGATE_BIND",
    "KEYGATE_POOL_SIZE",
    "KEYGATE_BOOTSTRAP_KEY",
    "KEYGATE_MAX_BODY_BYTES",
    "KEYGATE_POOL_TIMEOUT_MS",
    "KEYGATE_DB_CONNECT_TIMEOUT_SECONDS",
    "KEYGATE_DB_STATEMENT_TIMEOUT_MS",
    "KEYGATE_REQUEST_DEADLINE_MS",
    "KEYGATE_AUDIT_RETENTION_DAYS",
    "KEYGATE_SHUTDOWN_TIMEOUT_SECONDS",
    "KEYGATE_AUTH_CACHE_TTL_MS",
    "KEYGATE_LAST_USED_FLUSH_MS",
    "KEYGATE_MASTER_KEY",
    "KEYGATE_MASTER_KEY_FILE",
    "KEYGATE_RETIRED_MASTER_KEYS",
    "KEYGATE_RETIRED_MASTER_KEYS_FILE",
    "KEYGATE_BODY_TIMEOUT_MS",
    "KEYGATE_SECRET_VERSIONS",
    "KEYGATE_ANALYTICS_FLUSH_MS",
    "KEYGATE_ANALYTICS_RETENTION_DAYS",
    "RUST_LOG",
];

/// `keygate` in `dir`, with none of keygate's variables inherited.
fn keygate(dir: &Path) -> Command {
    let mut cmd = Command::new(KEYGATE);
    cmd.current_dir(dir).stdin(Stdio::null());
    for var in KEYGATE_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// `sqlite://` URL of `data/keygate.db` under `dir`.
fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("data").join("keygate.db").display())
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// Runs a command that must end by itself within `limit`; kills it and
/// panics otherwise.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> (ExitStatus, String, String, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keygate");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = finish(stderr);
            panic!("keygate did not exit within {limit:?}; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    (status, finish(stdout), finish(stderr), elapsed)
}

/// A pipe read to the end on its own thread (so a chatty child never
/// blocks on a full pipe).
struct Collector {
    text: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

fn collect(mut pipe: impl Read + Send + 'static) -> Collector {
    let text = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&text);
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    });
    Collector { text, thread }
}

fn finish(collector: Collector) -> String {
    let _ = collector.thread.join();
    let bytes = collector.text.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every `kg_ak_` occurrence in `text`, each with the run of base62
/// characters that follows it (a well-formed key has exactly 38).
fn kg_ak_occurrences(text: &str) -> Vec<String> {
    text.match_indices("kg_ak_")
        .map(|(at, prefix)| {
            let tail: String = text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            format!("{prefix}{tail}")
        })
        .collect()
}

/// The well-formed API keys in `text`.
fn well_formed_keys(text: &str) -> Vec<String> {
    kg_ak_occurrences(text)
        .into_iter()
        .filter(|k| key_format::parse(k) == Ok(KeyKind::ApiKey))
        .collect()
}

/// The one key printed in `text`; panics unless there is exactly one
/// `kg_ak_` occurrence and it is a well-formed API key.
fn the_one_key(text: &str) -> String {
    let found = kg_ak_occurrences(text);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one kg_ak_ key in:\n{text}"
    );
    let key = found.into_iter().next().unwrap();
    assert_eq!(key.len(), 6 + 38, "kg_ak_ + 38 base62 characters: {key:?}");
    assert_eq!(key_format::parse(&key), Ok(KeyKind::ApiKey), "{key:?}");
    key
}

/// A running `keygate` child; killed (and reaped) when dropped.
struct Server {
    child: Option<Child>,
    stdout: Option<Collector>,
    stderr: Option<Collector>,
    base: String,
    client: reqwest::Client,
}

/// What a stopped server wrote.
struct Stopped {
    stdout: String,
    stderr: String,
}

impl Server {
    /// Starts `keygate` (serve) in `dir` on a free port with the given
    /// variables, and waits until `/healthz` answers.
    async fn start(dir: &Path, vars: &[(&str, &str)]) -> Server {
        Self::start_with(dir, &[], vars).await
    }

    async fn start_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = keygate(dir);
        cmd.args(args)
            .env("KEYGATE_BIND", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn keygate");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let mut server = Server {
            child: Some(child),
            stdout: Some(stdout),
            stderr: Some(stderr),
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                let out = self.stop_now();
                panic!(
                    "keygate exited with {status} before answering /healthz; stderr:\n{}",
                    out.stderr
                );
            }
            if let Ok(res) = self.client.get(&url).send().await {
                if res.status() == StatusCode::OK {
                    return;
                }
            }
            if Instant::now() > deadline {
                let out = self.stop_now();
                panic!(
                    "/healthz did not answer within 10 s; stderr:\n{}",
                    out.stderr
                );
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET path` without credentials: its status and JSON body.
    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/me` with `key` as a bearer token.
    async fn me(&self, key: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}/v1/me", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET /v1/me");
        let status = res.status();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// `POST /v1/api_keys` with `key`; asserts 201 and returns the body.
    async fn create_api_key(&self, key: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}/v1/api_keys", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("POST /v1/api_keys");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::CREATED, "create {body}: {text}");
        serde_json::from_str(&text).expect("json body")
    }

    /// Waits (up to 5 s) for the printed bootstrap key on stderr while the
    /// server runs, and returns it; panics unless it is exactly one
    /// well-formed key.
    fn printed_key(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let so_far = {
                let collector = self.stderr.as_ref().expect("stderr collector");
                let bytes = collector.text.lock().unwrap();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            // The whole line has arrived once a newline follows the key.
            if let Some(at) = so_far.find("kg_ak_") {
                if so_far[at..].contains('\n') {
                    return the_one_key(&so_far);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no key printed; stderr:\n{so_far}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop_now(&mut self) -> Stopped {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Stopped {
            stdout: self.stdout.take().map(finish).unwrap_or_default(),
            stderr: self.stderr.take().map(finish).unwrap_or_default(),
        }
    }

    /// Kills the server and returns everything it wrote.
    fn stop(mut self) -> Stopped {
        self.stop_now()
    }

    /// Opens a connection and sends a `POST /v1/api_keys` announcing a body
    /// of `length` bytes but only `sent` of it: the request stays in flight
    /// until the rest is written.
    fn post_in_flight(&self, key: &str, length: usize, sent: &str) -> std::net::TcpStream {
        use std::io::Write;
        let address = self.base.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(address).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("read timeout");
        let head = format!(
            "POST /v1/api_keys HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(head.as_bytes())
            .and_then(|()| conn.write_all(sent.as_bytes()))
            .and_then(|()| conn.flush())
            .expect("send the request's start");
        conn
    }

    /// Sends `signal` (`INT`, `TERM`) to the server.
    fn send_signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal}");
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to 30 s for the server
    /// to exit by itself; returns how it exited and what it wrote.
    fn signal(self, signal: &str) -> (ExitStatus, Stopped) {
        self.send_signal(signal);
        self.wait_exit(signal)
    }

    /// Waits up to 30 s for the server to exit by itself after `signal`.
    fn wait_exit(mut self, signal: &str) -> (ExitStatus, Stopped) {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("keygate did not exit within 30 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stopped = Stopped {
            stdout: self.stdout.take().map(finish).unwrap_or_default(),
            stderr: self.stderr.take().map(finish).unwrap_or_default(),
        };
        (status, stopped)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Files and folders under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir").flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    out.sort();
    out
}

fn output(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = keygate(dir);
    cmd.args(args).envs(vars.iter().copied());
    cmd.output().expect("run keygate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------
// First start and the bootstrap key
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn first_start_on_an_empty_sqlite_database_prints_one_personal_key_once() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().join("data").exists());
    let url = sqlite_url(dir.path());

    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    assert!(dir.path().join("data").is_dir(), "data/ is created");
    assert!(
        dir.path().join("data").join("keygate.db").is_file(),
        "the SQLite file is data/keygate.db"
    );
    // The key is printed before the listener runs, so it is already written.
    let first = server.stop();
    let key = the_one_key(&first.stderr);
    assert!(
        !first.stdout.contains("kg_ak_"),
        "the key goes to stderr only; stdout:\n{}",
        first.stdout
    );

    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    let (status, me) = server.me(&key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "personal", "{me}");
    assert!(
        me["id"].as_str().unwrap_or_default().starts_with("aky_"),
        "{me}"
    );
    assert!(
        me["organization_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("org_"),
        "{me}"
    );
    let (status, _) = server
        .me(&key_format::generate(KeyKind::ApiKey).value)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a random key does not authenticate"
    );
    let second = server.stop();
    assert!(
        !second.stderr.contains("kg_ak_") && !second.stdout.contains("kg_ak_"),
        "a second start prints no key; stderr:\n{}",
        second.stderr
    );
}

#[actix_web::test]
async fn debug_logs_never_contain_created_keys_or_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url), ("RUST_LOG", "debug")]).await;
    // Poll the collected stderr for the printed key while the server runs.
    let bootstrap = server.printed_key();

    let mut created = Vec::new();
    for (name, role) in [("log one", "serving"), ("log two", "serving_and_indexing")] {
        let body = server
            .create_api_key(&bootstrap, json!({"name": name, "api_key_role": role}))
            .await;
        let key = body["key"]
            .as_str()
            .expect("key in the create response")
            .to_owned();
        assert_eq!(key_format::parse(&key), Ok(KeyKind::ApiKey), "{key}");
        // Use each key so that the authentication path logs what it logs.
        let (status, me) = server.me(&key).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["api_key_role"], role);
        created.push(key);
    }
    // And a wrong key, which is rejected (and may be logged as rejected).
    let (status, _) = server
        .me(&key_format::generate(KeyKind::ApiKey).value)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let out = server.stop();
    let log = out.stderr;
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "RUST_LOG=debug produced debug lines:\n{log}"
    );
    for key in &created {
        assert!(!log.contains(key.as_str()), "a created key reached the log");
        let hash = keygate::crypto::hash_key(key);
        assert!(!log.contains(&hash), "a created key's hash reached the log");
        assert!(
            !log.contains(&hash.to_uppercase()),
            "a created key's hash (upper case) reached the log"
        );
    }
    assert_eq!(
        log.matches(bootstrap.as_str()).count(),
        1,
        "the bootstrap key appears exactly once (its print)"
    );
    let bootstrap_hash = keygate::crypto::hash_key(&bootstrap);
    assert!(
        !log.contains(&bootstrap_hash),
        "the bootstrap key's hash reached the log"
    );
    assert!(!out.stdout.contains("kg_ak_"), "stdout:\n{}", out.stdout);
}

#[actix_web::test]
async fn trace_logs_never_contain_provider_credential_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url), ("RUST_LOG", "trace")]).await;
    let bootstrap = server.printed_key();
    let send = |method: reqwest::Method, path: &str, body: Value| {
        server
            .client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&bootstrap)
            .json(&body)
            .send()
    };
    let sa = json!({"name": "log sa", "credential_type": "serviceaccount", "credential_data": {
        "private_key_id": "LOGCHECK-pkid", "private_key": "LOGCHECK-pem", "client_email": "LOGCHECK@sa"}});
    let path = "/v1/providers/google/credentials";
    let res = send(reqwest::Method::POST, path, sa.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The idempotent compare, a conflict, refused data and a replacement.
    let res = send(reqwest::Method::POST, path, sa).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let conflicting = json!({"name": "log sa", "credential_type": "serviceaccount", "credential_data": {
        "private_key_id": "LOGCHECK-pkid", "private_key": "LOGCHECK-other", "client_email": "LOGCHECK@sa"}});
    let res = send(reqwest::Method::POST, path, conflicting)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let refused =
        json!({"credential_data": {"private_key": "LOGCHECK-refused", "extra": "LOGCHECK-extra"}});
    let res = send(reqwest::Method::PATCH, &format!("{path}/{id}"), refused)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let replaced = json!({"credential_data": {
        "private_key_id": "LOGCHECK-pkid2", "private_key": "LOGCHECK-pem2", "client_email": "LOGCHECK2@sa"}});
    let res = send(reqwest::Method::PATCH, &format!("{path}/{id}"), replaced)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let out = server.stop();
    assert_verbose_log_without(&out, "/v1/providers/google/credentials", &["LOGCHECK"]);
}

/// Asserts that a stopped server wrote verbose logs that show `request`
/// and none of `values`, on stderr or stdout.
fn assert_verbose_log_without(out: &Stopped, request: &str, values: &[&str]) {
    assert!(
        out.stderr.contains("TRACE") || out.stderr.contains("DEBUG"),
        "verbose logs:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(request),
        "requests are logged:\n{}",
        out.stderr
    );
    for value in values {
        assert!(
            !out.stderr.contains(value) && !out.stdout.contains(value),
            "{value} reached the log:\n{}",
            out.stderr
        );
    }
}

#[actix_web::test]
async fn trace_logs_never_repeat_bad_input_and_encoded_paths_log_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url), ("RUST_LOG", "trace")]).await;
    let bootstrap = server.printed_key();
    let created = server
        .create_api_key(
            &bootstrap,
            json!({"name": "target", "api_key_role": "serving"}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let send = |method: reqwest::Method, path: String, body: &'static str| {
        server
            .client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&bootstrap)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Values in the wrong places, each holding LOGCHECK.
    let bad = [
        (
            reqwest::Method::PATCH,
            format!("/v1/api_keys/{id}"),
            r#"{"enabled": "x\"LOGCHECK"}"#,
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/api_keys/{id}"),
            r#"{"name": 4242424242, "enabled": "LOGCHECK"}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/api_keys".to_owned(),
            r#"{"name": "k", "api_key_role": "LOGCHECK"}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/api_keys".to_owned(),
            r#"{"name": "k", "api_key_role": "serving", "allowed_cidrs": ["LOGCHECK"]}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/api_keys".to_owned(),
            r#"{"name": "k", "api_key_role": "serving", "LOGCHECK": 1}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/api_keys".to_owned(),
            r#"{"name": "k", "api_key_role": "serving", "expires_at": "LOGCHECK"}"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/api_keys".to_owned(),
            r#"{"name": "LOGCHECK", "name": "LOGCHECK"}"#,
        ),
        (
            reqwest::Method::GET,
            "/v1/api_keys?limit=LOGCHECK".to_owned(),
            "",
        ),
    ];
    for (method, path, body) in bad {
        let res = send(method, path, body).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("LOGCHECK") && !text.contains("4242424242"),
            "{text}"
        );
    }
    // A percent-encoded path, without a key: 401, no ERROR line.
    let res = server
        .client
        .get(format!("{}/v1/se%63rets", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let out = server.stop();
    assert_verbose_log_without(&out, "/v1/se%63rets", &["LOGCHECK", "4242424242"]);
    assert!(
        !out.stderr.contains("ERROR"),
        "an ERROR line:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// keys generate / keys create
// ---------------------------------------------------------------------------

#[actix_web::test]
async fn keys_generate_prints_a_key_that_bootstrap_accepts_silently() {
    let dir = tempfile::tempdir().unwrap();
    let generate = || {
        let out = output(dir.path(), &["keys", "generate"], &[]);
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "one line: {stdout:?}");
        assert!(stdout.ends_with('\n'), "{stdout:?}");
        let key = stdout.trim_end().to_owned();
        assert_eq!(key_format::parse(&key), Ok(KeyKind::ApiKey), "{key:?}");
        assert_eq!(the_one_key(&stdout), key);
        assert!(
            !text(&out.stderr).contains(&key),
            "the key is on stdout only"
        );
        key
    };
    let key = generate();
    assert_ne!(generate(), key, "each call makes a new key");
    assert!(
        tree(dir.path()).is_empty(),
        "`keys generate` stores nothing: {:?}",
        tree(dir.path())
    );

    let url = sqlite_url(dir.path());
    let server = Server::start(
        dir.path(),
        &[("DATABASE_URL", &url), ("KEYGATE_BOOTSTRAP_KEY", &key)],
    )
    .await;
    let (status, me) = server.me(&key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "personal", "{me}");
    let out = server.stop();
    assert!(
        !out.stderr.contains("kg_ak_") && !out.stdout.contains("kg_ak_"),
        "a supplied bootstrap key is never printed; stderr:\n{}",
        out.stderr
    );
}

#[actix_web::test]
async fn keys_create_mints_a_working_key_into_an_initialised_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let vars = [("DATABASE_URL", url.as_str())];

    // Initialise with a first start, and learn the organization's id.
    let server = Server::start(dir.path(), &vars).await;
    let bootstrap = server.printed_key();
    let (status, me) = server.me(&bootstrap).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let org_id = me["organization_id"]
        .as_str()
        .expect("organization_id")
        .to_owned();
    drop(server.stop());

    let create = |org: &str, name: &str, role: &str| {
        let out = output(
            dir.path(),
            &[
                "keys", "create", "--org", org, "--name", name, "--role", role,
            ],
            &vars,
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "keys create --org {org}: {stderr}");
        assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout:?}");
        let key = stdout.trim_end().to_owned();
        assert_eq!(key_format::parse(&key), Ok(KeyKind::ApiKey), "{key:?}");
        assert!(!stderr.contains("kg_ak_"), "no key on stderr: {stderr}");
        key
    };
    let by_name = create("default", "ops", "serving");
    let by_id = create(&org_id, "ops by id", "serving_and_indexing");
    assert_ne!(by_name, by_id);

    // Unknown organization: non-zero, with a message, nothing on stdout.
    let out = output(
        dir.path(),
        &[
            "keys",
            "create",
            "--org",
            "no-such-org",
            "--name",
            "x",
            "--role",
            "serving",
        ],
        &vars,
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "unknown org must fail");
    assert!(
        stderr.contains("no-such-org") && stderr.to_lowercase().contains("organization"),
        "the message names the organization: {stderr}"
    );
    assert!(!text(&out.stdout).contains("kg_"), "no key printed");

    // A role clap does not know.
    let out = output(
        dir.path(),
        &[
            "keys", "create", "--org", "default", "--name", "x", "--role", "root",
        ],
        &vars,
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "--role root must fail");
    assert_eq!(out.status.code(), Some(2), "clap usage error: {stderr}");
    assert!(
        stderr.contains("root") && stderr.contains("--role"),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("kg_"), "no key printed");

    // The minted keys work against a server on that database.
    let server = Server::start(dir.path(), &vars).await;
    let (status, me) = server.me(&by_name).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "serving", "{me}");
    assert_eq!(me["name"], "ops", "{me}");
    assert_eq!(me["organization_id"], org_id.as_str(), "{me}");
    assert_eq!(me["enabled"], true, "{me}");
    let (status, me) = server.me(&by_id).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "serving_and_indexing", "{me}");
    assert_eq!(me["name"], "ops by id", "{me}");
    assert_eq!(me["organization_id"], org_id.as_str(), "{me}");
    let out = server.stop();
    assert!(
        !out.stderr.contains("kg_ak_"),
        "no new bootstrap: {}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// openapi, migrate, --help
// ---------------------------------------------------------------------------

#[test]
fn openapi_prints_the_committed_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(dir.path(), &["openapi"], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("read openapi/openapi.json");
    let printed = text(&out.stdout);
    assert!(
        printed == committed,
        "`keygate openapi` differs from openapi/openapi.json ({} vs {} bytes)",
        printed.len(),
        committed.len()
    );
    let doc: Value = serde_json::from_str(&printed).expect("valid JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(tree(dir.path()).is_empty(), "openapi touches no database");
}

#[actix_web::test]
async fn migrate_on_a_fresh_sqlite_url_exits_zero_and_creates_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let vars = [("DATABASE_URL", url.as_str())];
    for round in ["first", "second (nothing pending)"] {
        let out = output(dir.path(), &["migrate"], &vars);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{round} migrate: {stderr}");
        assert!(!stderr.contains("kg_ak_") && !text(&out.stdout).contains("kg_ak_"));
    }
    assert!(
        dir.path().join("data").join("keygate.db").is_file(),
        "{:?}",
        tree(dir.path())
    );

    // Migrating does not bootstrap: the first start still prints its key.
    let server = Server::start(dir.path(), &vars).await;
    let out = server.stop();
    the_one_key(&out.stderr);
}

#[test]
fn help_of_every_command_exits_zero_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 6] = [
        &["--help"],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["openapi", "--help"],
        &["keys", "--help"],
        &["keys", "create", "--help"],
    ];
    for args in cases {
        let out = output(dir.path(), args, &[]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(
            stdout.contains("Usage:"),
            "{args:?} prints usage:\n{stdout}"
        );
    }
    let create = text(&output(dir.path(), &["keys", "create", "--help"], &[]).stdout);
    for flag in ["--org", "--name", "--role", "--database-url"] {
        assert!(
            create.contains(flag),
            "keys create --help lists {flag}:\n{create}"
        );
    }
    let serve = text(&output(dir.path(), &["serve", "--help"], &[]).stdout);
    for var in ["KEYGATE_BIND", "DATABASE_URL", "KEYGATE_BOOTSTRAP_KEY"] {
        assert!(serve.contains(var), "serve --help names {var}:\n{serve}");
    }
    assert!(tree(dir.path()).is_empty(), "--help creates nothing");
}

// ---------------------------------------------------------------------------
// Bad configuration and database selection
// ---------------------------------------------------------------------------

#[test]
fn bad_configuration_fails_at_start_naming_the_variable() {
    let cases = [
        ("KEYGATE_BIND", "nonsense"),
        ("DATABASE_URL", "mysql://x"),
        ("KEYGATE_POOL_SIZE", "0"),
        ("KEYGATE_POOL_SIZE", "abc"),
        ("KEYGATE_MAX_BODY_BYTES", "abc"),
        ("KEYGATE_BOOTSTRAP_KEY", "not-a-key"),
        ("KEYGATE_POOL_TIMEOUT_MS", "99"),
        ("KEYGATE_DB_CONNECT_TIMEOUT_SECONDS", "1"),
        ("KEYGATE_DB_STATEMENT_TIMEOUT_MS", "abc"),
        ("KEYGATE_REQUEST_DEADLINE_MS", "0"),
        ("KEYGATE_AUDIT_RETENTION_DAYS", "-1"),
        ("KEYGATE_AUDIT_RETENTION_DAYS", "36501"),
        ("KEYGATE_SHUTDOWN_TIMEOUT_SECONDS", "3601"),
        ("KEYGATE_SHUTDOWN_TIMEOUT_SECONDS", "soon"),
        ("KEYGATE_SECRET_VERSIONS", "101"),
        ("KEYGATE_SECRET_VERSIONS", "-1"),
        ("KEYGATE_ANALYTICS_FLUSH_MS", "99"),
        ("KEYGATE_ANALYTICS_RETENTION_DAYS", "-1"),
        ("KEYGATE_ANALYTICS_RETENTION_DAYS", "36501"),
    ];
    for (variable, value) in cases {
        for args in [&[][..], &["serve"][..]] {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = keygate(dir.path());
            cmd.args(args)
                .env("DATABASE_URL", sqlite_url(dir.path()))
                .env("KEYGATE_BIND", format!("127.0.0.1:{}", free_port()))
                .env(variable, value);
            let (status, stdout, stderr, _) = run_with_timeout(cmd, Duration::from_secs(10));
            let case = format!("{variable}={value} ({args:?})");
            assert!(!status.success(), "{case} must fail; stderr:\n{stderr}");
            assert!(
                stderr.lines().any(|line| line.contains(variable)),
                "{case}: a stderr line names {variable}:\n{stderr}"
            );
            // The hint `kg_ak_...` may appear; a real key must not.
            assert!(
                well_formed_keys(&stderr).is_empty() && well_formed_keys(&stdout).is_empty(),
                "{case}: no key printed:\n{stderr}"
            );
            if variable == "KEYGATE_BOOTSTRAP_KEY" {
                assert!(
                    !stderr.contains(value),
                    "{case}: the bad key is not echoed:\n{stderr}"
                );
                assert!(
                    stderr.contains(&format!("`{KEYGATE} keys generate`")),
                    "{case}: the hint names the command as it was run:\n{stderr}"
                );
            }
            assert!(
                !dir.path().join("data").join("keygate.db").exists(),
                "{case}: no database is opened with a bad configuration"
            );
        }
    }
}

#[test]
fn unreachable_postgres_never_falls_back_to_sqlite() {
    let url = "postgres://postgres@127.0.0.1:1/keygate";
    let commands: [&[&str]; 3] = [
        &[],
        &["migrate"],
        &[
            "keys", "create", "--org", "default", "--name", "x", "--role", "serving",
        ],
    ];
    // Run them side by side: each waits out the connection timeout.
    let handles: Vec<_> = commands
        .into_iter()
        .map(|args| {
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().unwrap();
                let before = tree(dir.path());
                let mut cmd = keygate(dir.path());
                cmd.args(args)
                    .env("DATABASE_URL", url)
                    .env("KEYGATE_BIND", format!("127.0.0.1:{}", free_port()));
                let (status, stdout, stderr, elapsed) =
                    run_with_timeout(cmd, Duration::from_secs(20));
                let after = tree(dir.path());
                (args, before, after, status, stdout, stderr, elapsed)
            })
        })
        .collect();
    for handle in handles {
        let (args, before, after, status, stdout, stderr, elapsed) = handle.join().unwrap();
        assert!(!status.success(), "{args:?} must fail; stderr:\n{stderr}");
        assert!(
            elapsed < Duration::from_secs(15),
            "{args:?} took {elapsed:?}"
        );
        assert!(
            stderr.to_lowercase().contains("database"),
            "{args:?}: the message is about the database:\n{stderr}"
        );
        assert!(
            !stderr.contains("kg_ak_") && !stdout.contains("kg_ak_"),
            "{args:?}"
        );
        assert_eq!(
            before, after,
            "{args:?}: no file is created (no SQLite fallback)"
        );
        assert!(after.is_empty(), "{args:?}: {after:?}");
    }
}

#[actix_web::test]
async fn first_start_on_postgres_prints_a_working_key() {
    let Some(pg) = PgDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vars = [("DATABASE_URL", pg.url.as_str())];
    let server = Server::start(dir.path(), &vars).await;
    let bootstrap = server.printed_key();
    let (status, me) = server.me(&bootstrap).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "personal", "{me}");
    let first = server.stop();
    the_one_key(&first.stderr);
    assert!(
        tree(dir.path()).is_empty(),
        "PostgreSQL start writes no local file"
    );

    // keys create against PostgreSQL, then a second start that prints nothing.
    let out = output(
        dir.path(),
        &[
            "keys", "create", "--org", "default", "--name", "pg ops", "--role", "serving",
        ],
        &vars,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let minted = text(&out.stdout).trim_end().to_owned();
    assert_eq!(
        key_format::parse(&minted),
        Ok(KeyKind::ApiKey),
        "{minted:?}"
    );

    let server = Server::start(dir.path(), &vars).await;
    let (status, me) = server.me(&minted).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key_role"], "serving", "{me}");
    let (status, _) = server.me(&bootstrap).await;
    assert_eq!(status, StatusCode::OK);
    let second = server.stop();
    assert!(
        !second.stderr.contains("kg_ak_"),
        "second start: {}",
        second.stderr
    );
    drop(pg);
}

// ---------------------------------------------------------------------------
// The first hour: start-up failures are one line and leave nothing behind
// ---------------------------------------------------------------------------

/// The lines of `stderr` that are not log records (`[... INFO ...]`).
fn message_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('['))
        .collect()
}

/// Asserts that a failed start wrote exactly one message line, `keygate: `
/// and containing every one of `expected`, and no multi-line ERROR block.
fn assert_one_line(case: &str, stderr: &str, expected: &[&str]) {
    let lines = message_lines(stderr);
    assert_eq!(lines.len(), 1, "{case}: one message line:\n{stderr}");
    assert!(lines[0].starts_with("keygate: "), "{case}:\n{stderr}");
    for part in expected {
        assert!(lines[0].contains(part), "{case}: {part:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains("r2d2") && !stderr.contains("ERROR"),
        "{case}: no r2d2 ERROR blocks:\n{stderr}"
    );
}

/// Runs a `keygate` start in `dir` that must fail.
fn failed_start(dir: &Path, vars: &[(&str, &str)]) -> (String, Duration) {
    let mut cmd = keygate(dir);
    cmd.env("KEYGATE_BIND", format!("127.0.0.1:{}", free_port()))
        .envs(vars.iter().copied());
    let (status, stdout, stderr, elapsed) = run_with_timeout(cmd, Duration::from_secs(20));
    assert!(!status.success(), "{vars:?} must fail; stderr:\n{stderr}");
    assert!(well_formed_keys(&stderr).is_empty() && well_formed_keys(&stdout).is_empty());
    (stderr, elapsed)
}

#[actix_web::test]
async fn a_first_start_on_a_taken_port_creates_nothing_and_the_next_start_prints_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let mut cmd = keygate(dir.path());
    cmd.env("DATABASE_URL", &url).env("KEYGATE_BIND", &address);
    let (status, _, stderr, _) = run_with_timeout(cmd, Duration::from_secs(10));
    assert!(!status.success(), "a taken port fails the start:\n{stderr}");
    assert_one_line("taken port", &stderr, &["KEYGATE_BIND", &address]);
    assert!(
        tree(dir.path()).is_empty(),
        "no database, folder or key file: {:?}",
        tree(dir.path())
    );
    drop(taken);

    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    let key = server.printed_key();
    let (status, me) = server.me(&key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
}

#[actix_web::test]
async fn the_sqlite_folder_and_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    // A write, so that the WAL files exist while the server runs.
    let key = server.printed_key();
    server
        .create_api_key(&key, json!({"name": "modes", "api_key_role": "serving"}))
        .await;
    let data = dir.path().join("data");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data/");
    for name in [
        "keygate.db",
        "keygate.db-wal",
        "keygate.db-shm",
        "keygate.db.lock",
        "master.key",
    ] {
        let path = data.join(name);
        assert!(path.exists(), "{name}: {:?}", tree(dir.path()));
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    drop(server);

    // `migrate` on a fresh URL makes them the same way.
    let fresh = tempfile::tempdir().unwrap();
    let out = output(
        fresh.path(),
        &["migrate"],
        &[("DATABASE_URL", &sqlite_url(fresh.path()))],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&fresh.path().join("data")), 0o700);
    assert_eq!(mode(&fresh.path().join("data").join("keygate.db")), 0o600);
}

#[test]
fn an_sqlite_database_that_cannot_be_opened_fails_at_once_naming_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the file should be.
    let folder = dir.path().join("a-folder.db");
    std::fs::create_dir(&folder).unwrap();
    // A file where a folder should be.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // A file that is no database.
    let garbage_dir = dir.path().join("garbage");
    std::fs::create_dir(&garbage_dir).unwrap();
    let garbage = garbage_dir.join("keygate.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let shown = |p: &Path| p.display().to_string();
    let cases = [
        (
            folder.clone(),
            vec![shown(&folder), "Is a directory".to_owned()],
        ),
        (
            file.join("keygate.db"),
            vec![shown(&file), "cannot create folder".to_owned()],
        ),
        (
            garbage.clone(),
            vec![shown(&garbage), "is not an SQLite database".to_owned()],
        ),
    ];
    for (path, expected) in cases {
        let url = format!("sqlite://{}", path.display());
        let (stderr, elapsed) = failed_start(dir.path(), &[("DATABASE_URL", &url)]);
        let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        expected.push("DATABASE_URL");
        assert_one_line(&url, &stderr, &expected);
        assert!(elapsed < Duration::from_secs(3), "{url}: took {elapsed:?}");
    }
}

/// `url` with another user and no password.
fn with_user(url: &str, user: &str) -> String {
    let mut url = url::Url::parse(url).expect("a PostgreSQL URL");
    url.set_username(user).expect("a user");
    url.set_password(None).expect("no password");
    url.to_string()
}

#[test]
fn postgres_start_failures_are_one_line_and_permanent_ones_fail_at_once() {
    let admin = crate::helpers::postgres_admin_url();
    if PgDatabase::create().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unknown = crate::helpers::database_url(&admin, "keygate_no_such_database");
    let (stderr, elapsed) = failed_start(dir.path(), &[("DATABASE_URL", &unknown)]);
    assert_one_line(
        "unknown database",
        &stderr,
        &["no such database", "keygate_no_such_database"],
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "a permanent failure waits: {elapsed:?}"
    );

    // Credentials: a role the server does not know.
    let stranger = with_user(&admin, "keygate_no_such_role");
    let (stderr, elapsed) = failed_start(dir.path(), &[("DATABASE_URL", &stranger)]);
    assert_one_line("unknown role", &stderr, &["refuses the credentials"]);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    // Permission: a role that may log in but not connect to the database.
    let pg = PgDatabase::create().unwrap();
    let role = format!("keygate_noconn_{}", uuid::Uuid::now_v7().simple());
    let mut admin_conn = diesel::PgConnection::establish(&pg.url).unwrap();
    let name = pg
        .url
        .rsplit_once('/')
        .unwrap()
        .1
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"),
    ] {
        diesel::sql_query(sql).execute(&mut admin_conn).unwrap();
    }
    let denied = with_user(&pg.url, &role);
    let (stderr, elapsed) = failed_start(dir.path(), &[("DATABASE_URL", &denied)]);
    drop(admin_conn);
    drop(pg);
    if let Ok(mut conn) =
        diesel::PgConnection::establish(&crate::helpers::database_url(&admin, "postgres"))
    {
        let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {role}")).execute(&mut conn);
    }
    assert_one_line("no CONNECT privilege", &stderr, &["permission denied"]);
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    let closed = "postgres://postgres:hunter2@127.0.0.1:1/keygate";
    let (stderr, elapsed) = failed_start(dir.path(), &[("DATABASE_URL", closed)]);
    assert_one_line(
        "closed port",
        &stderr,
        &["127.0.0.1:1", "refuses connections"],
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
}

#[actix_web::test]
async fn a_second_server_on_one_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let first = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    let (stderr, _) = failed_start(dir.path(), &[("DATABASE_URL", &url)]);
    assert_one_line(
        "second server",
        &stderr,
        &[
            "DATABASE_URL",
            "keygate.db",
            "already served by another keygate process (pid",
        ],
    );
    // The first one still serves, and once it is gone the file is free.
    let key = first.printed_key();
    let (status, _) = first.me(&key).await;
    assert_eq!(status, StatusCode::OK);
    drop(first);
    let again = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    let (status, _) = again.me(&key).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn a_missing_master_key_file_fails_before_any_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let missing = dir.path().join("no-such.key");
    let (stderr, _) = failed_start(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("KEYGATE_MASTER_KEY_FILE", missing.to_str().unwrap()),
        ],
    );
    assert_one_line(
        "missing key file",
        &stderr,
        &["KEYGATE_MASTER_KEY_FILE", "no-such.key"],
    );
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
}

#[test]
fn an_unreadable_rust_log_fails_with_one_line() {
    for value in ["[[[", "keygate=loud", "a=b=c"] {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let (stderr, _) = failed_start(dir.path(), &[("DATABASE_URL", &url), ("RUST_LOG", value)]);
        assert_one_line(value, &stderr, &["RUST_LOG"]);
        assert!(
            tree(dir.path()).is_empty(),
            "{value}: {:?}",
            tree(dir.path())
        );
    }
}

#[actix_web::test]
async fn a_readable_rust_log_keeps_the_listening_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    // An empty RUST_LOG is the default, `info`.
    for value in ["", "info", "warn,keygate=info", "actix_web=debug,keygate"] {
        let server =
            Server::start(dir.path(), &[("DATABASE_URL", &url), ("RUST_LOG", value)]).await;
        let out = server.stop();
        assert!(
            out.stderr.contains("keygate listening on"),
            "{value}:\n{}",
            out.stderr
        );
    }
}

#[actix_web::test]
async fn sigint_and_sigterm_stop_gracefully_and_write_last_used() {
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("DATABASE_URL", sqlite_url(dir.path())),
            // Only the flush at shutdown can write it.
            ("KEYGATE_LAST_USED_FLUSH_MS", "600000".to_owned()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start(dir.path(), &vars).await;
        let key = server.printed_key();
        let (status, me) = server.me(&key).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        let id = me["id"].as_str().unwrap().to_owned();
        let (status, out) = server.signal(signal);
        assert!(
            status.success(),
            "SIG{signal}: exit {status}:\n{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("forced"),
            "SIG{signal}:\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("SIG{signal}: stopping")),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("keygate stopped"), "{}", out.stderr);

        let server = Server::start(dir.path(), &vars).await;
        let res = server
            .client
            .get(format!("{}/v1/api_keys/{id}", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let view: Value = res.json().await.unwrap();
        assert!(
            view["last_used_at"].is_string(),
            "SIG{signal}: last_used_at written at shutdown: {view}"
        );
    }
}

#[actix_web::test]
async fn postgres_without_a_master_key_warns_and_readyz_says_so() {
    let Some(pg) = PgDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("DATABASE_URL", pg.url.as_str())]).await;
    let (status, ready) = server.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ok", "{ready}");
    assert_eq!(ready["secrets"], "master_key_missing", "{ready}");
    assert!(
        ready["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("KEYGATE_MASTER_KEY"),
        "{ready}"
    );
    let out = server.stop();
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("no master key is configured")),
        "{}",
        out.stderr
    );

    // With a key the same server is ready for secrets, and says nothing.
    let key = keygate::crypto::envelope::MasterKey::generate_base64();
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", pg.url.as_str()),
            ("KEYGATE_MASTER_KEY", &key),
        ],
    )
    .await;
    let (status, ready) = server.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready, json!({"status": "ok", "secrets": "available"}));
    let out = server.stop();
    assert!(!out.stderr.contains("no master key"), "{}", out.stderr);
    drop(pg);
}

#[actix_web::test]
async fn a_request_in_flight_at_sigint_or_sigterm_is_answered_before_the_exit() {
    use std::io::Write;
    // actix's own SIGINT handling was a forced shutdown that dropped it.
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
        let key = server.printed_key();
        let body = json!({"name": "in flight", "api_key_role": "serving"}).to_string();
        let (first, rest) = body.split_at(body.len() / 2);
        let mut conn = server.post_in_flight(&key, body.len(), first);
        // The request is in flight (its body half sent) when the signal comes.
        std::thread::sleep(Duration::from_millis(300));
        server.send_signal(signal);
        std::thread::sleep(Duration::from_millis(500));
        conn.write_all(rest.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "SIG{signal}: the request in flight is finished:\n{answer}"
        );
        let (status, out) = server.wait_exit(signal);
        assert!(
            status.success(),
            "SIG{signal}: exit {status}:\n{}",
            out.stderr
        );
    }
}

#[actix_web::test]
async fn a_second_sigint_stops_at_once_without_waiting_for_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &[("DATABASE_URL", &url)]).await;
    let key = server.printed_key();
    // A body that never arrives keeps the request in flight.
    let _conn = server.post_in_flight(&key, 100, "{");
    std::thread::sleep(Duration::from_millis(300));
    server.send_signal("INT");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.send_signal("INT");
    let (status, out) = server.wait_exit("INT");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(status.success(), "exit {status}:\n{}", out.stderr);
    assert!(
        out.stderr.contains("SIGINT again: stopping at once"),
        "{}",
        out.stderr
    );
}

#[derive(diesel::QueryableByName)]
struct Listeners {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

#[actix_web::test]
async fn postgres_in_libpq_keyword_form_tries_the_hosts_in_turn_and_listens_for_invalidations() {
    let Some(pg) = PgDatabase::create() else {
        return;
    };
    let url = url::Url::parse(&pg.url).unwrap();
    let dbname = url.path().trim_start_matches('/');
    let host = url.host_str().unwrap();
    let port = url.port().unwrap_or(5432);
    // The first host has nothing listening: libpq goes on to the second,
    // the writer.
    let keywords = format!(
        "host={host},{host} port={},{port} dbname={dbname} user={} sslmode=disable target_session_attrs=read-write",
        free_port(),
        url.username()
    );
    let dir = tempfile::tempdir().unwrap();
    let master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", keywords.as_str()),
            ("KEYGATE_MASTER_KEY", master),
        ],
    )
    .await;
    let (status, ready) = server.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    // The listener has a connection of its own, named for operators.
    let mut conn = diesel::PgConnection::establish(&pg.url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listeners: Listeners = diesel::sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'keygate-listener'",
        )
        .get_result(&mut conn)
        .unwrap();
        if listeners.count == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} listener connections",
            listeners.count
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the start-up probe finish before stopping.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let out = server.stop();
    assert!(
        !out.stderr.contains("probe"),
        "the probe's notification came back:\n{}",
        out.stderr
    );
}

#[actix_web::test]
async fn the_drain_ends_at_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("KEYGATE_SHUTDOWN_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    let key = server.printed_key();
    // A body that never arrives keeps the request in flight, past the
    // 1 s drain (the body timeout is 10 s).
    let _conn = server.post_in_flight(&key, 100, "{");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.send_signal("TERM");
    let (status, out) = server.wait_exit("TERM");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}:\n{}",
        out.stderr
    );
    assert!(status.success(), "exit {status}:\n{}", out.stderr);
    assert!(
        out.stderr
            .contains("requests in flight may finish within 1 s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("keygate stopped"), "{}", out.stderr);
}
