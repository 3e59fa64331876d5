//! Master-key rotation: values sealed under key A, a start with B active and
//! A retired, `keygate rekey` (the real binary) while a node serves, then a
//! start with B alone; a rekey killed midway and run again; a value a node
//! changes while rekey works on it is kept. On SQLite and PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use keygate::config::{Backend, DatabaseSettings, MasterKeySource, RetiredKeysSource, Settings};
use keygate::crypto::envelope::{key_id_of, MasterKey};
use keygate::db::schema::secrets;
use keygate::db::AnyConnection;
use keygate::keys::format::{self as key_format, KeyKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{self, PgDatabase};

const KEYGATE: &str = env!("CARGO_BIN_EXE_keygate");
const PUBLIC: &str = "ak_rekey_public_0001";
const SECRET: &str = "sk_rekey_secret_0001";

/// A database that outlives the servers started on it.
struct Site {
    backend: Backend,
    /// The SQLite file, or the PostgreSQL URL.
    target: String,
    bootstrap: String,
    a: String,
    b: String,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

fn id_of(key: &str) -> String {
    MasterKey::from_base64(key).unwrap().id()
}

impl Site {
    fn new(backend: Backend) -> Option<Site> {
        let dir = tempfile::tempdir().unwrap();
        let (target, pg) = match backend {
            Backend::Sqlite => (dir.path().join("k.db").to_string_lossy().into_owned(), None),
            Backend::Postgres => {
                let pg = PgDatabase::create()?;
                (pg.url.clone(), Some(pg))
            }
        };
        Some(Site {
            backend,
            target,
            bootstrap: key_format::generate(KeyKind::ApiKey).value,
            a: MasterKey::generate_base64(),
            b: MasterKey::generate_base64(),
            _dir: dir,
            _pg: pg,
        })
    }

    fn settings(&self, active: &str, retired: Option<&str>) -> Settings {
        let mut settings = Settings::for_database(DatabaseSettings {
            backend: self.backend,
            target: self.target.clone(),
            pool_size: 2,
            timeouts: Default::default(),
        });
        settings.bootstrap_key = Some(self.bootstrap.clone());
        settings.master_key = MasterKeySource::Inline(active.to_owned());
        settings.retired_master_keys = retired
            .map(|r| RetiredKeysSource::Inline(r.to_owned()))
            .unwrap_or_default();
        settings
    }

    fn start(&self, active: &str, retired: Option<&str>) -> Node {
        Node {
            address: helpers::start(&self.settings(active, retired)),
            client: reqwest::Client::new(),
            key: self.bootstrap.clone(),
        }
    }

    /// `keygate rekey ARGS` with B active and A retired (or B alone).
    fn rekey(&self, retired: bool, args: &[&str]) -> Command {
        let url = match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => self.target.clone(),
        };
        let mut cmd = Command::new(KEYGATE);
        cmd.env_clear()
            .arg("rekey")
            .args(args)
            .env("DATABASE_URL", url)
            .env("KEYGATE_MASTER_KEY", &self.b)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if retired {
            cmd.env("KEYGATE_RETIRED_MASTER_KEYS", &self.a);
        }
        cmd
    }

    /// Runs a rekey to its end: (success, stderr).
    fn rekey_to_end(&self, retired: bool, args: &[&str]) -> (bool, String) {
        let out = self
            .rekey(retired, args)
            .output()
            .expect("run keygate rekey");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.contains(&self.a) && !stderr.contains(&self.b),
            "rekey printed a master key: {stderr}"
        );
        (out.status.success(), stderr)
    }

    fn connect(&self) -> AnyConnection {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target).unwrap();
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000",
                )
                .unwrap();
                AnyConnection::Sqlite(conn)
            }
            Backend::Postgres => {
                AnyConnection::Postgresql(diesel::PgConnection::establish(&self.target).unwrap())
            }
        }
    }

    /// How many secret envelopes each key id sealed, read from the table.
    fn secrets_under(&self) -> std::collections::BTreeMap<String, usize> {
        let values: Vec<Vec<u8>> = secrets::table
            .select(secrets::value)
            .load(&mut self.connect())
            .unwrap();
        let mut under = std::collections::BTreeMap::new();
        for value in values {
            *under.entry(key_id_of(&value).unwrap()).or_default() += 1;
        }
        under
    }
}

/// A node in this process, and its bootstrap key.
struct Node {
    address: String,
    client: reqwest::Client,
    key: String,
}

impl Node {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn create_secret(&self, value: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/v1/secrets",
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create_secret: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn secret(&self, id: &str) -> String {
        let (status, body) = self
            .send(reqwest::Method::GET, &format!("/v1/secrets/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "get_secret {id}: {body}");
        body["value"].as_str().unwrap().to_owned()
    }

    /// Version 1 of secret `id` opens with its first value, `value-0`.
    async fn first_version_opens(&self, id: &str) {
        let (status, body) = self
            .send(
                reqwest::Method::GET,
                &format!("/v1/secrets/{id}?version=1"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "get_secret {id}?version=1: {body}");
        assert_eq!(body["value"], "value-0", "{body}");
    }

    /// The provider credential and the proxy keys of [`Node::fill_others`]
    /// open and match: an equal create answers 200 (it opens the stored
    /// data), the pair checks valid and a wrong pair does not.
    async fn others_open(&self) {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/v1/providers/google/credentials",
                Some(credential()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "an equal create meets the credential: {body}"
        );
        let check = "/v1/projects/Rekeyed/api_proxies/Shop/settings/keys/check";
        for (public, secret, valid) in [
            (PUBLIC, SECRET, true),
            (PUBLIC, "sk_wrong_secret_0001", false),
        ] {
            let (status, body) = self
                .send(
                    reqwest::Method::POST,
                    check,
                    Some(json!({"public_key": public, "secret_key": secret})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "check: {body}");
            assert_eq!(body["valid"], json!(valid), "check {public} {secret}");
        }
    }

    /// A provider credential and an API proxy with both keys.
    async fn fill_others(&self) {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/v1/providers/google/credentials",
                Some(credential()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "credential: {body}");
        let (status, _) = self
            .send(
                reqwest::Method::POST,
                "/v1/projects",
                Some(json!({"name": "Rekeyed"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _) = self
            .send(
                reqwest::Method::POST,
                "/v1/projects/Rekeyed/api_proxies",
                Some(json!({"name": "Shop"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = self
            .send(
                reqwest::Method::PATCH,
                "/v1/projects/Rekeyed/api_proxies/Shop/settings/keys",
                Some(json!({"public_key": PUBLIC, "secret_key": SECRET})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "set keys: {body}");
    }

    async fn stop(self) {
        helpers::stop(&self.address).await;
    }
}

fn credential() -> Value {
    json!({"name": "rekeyed", "credential_type": "serviceaccount", "credential_data": {
        "private_key_id": "pkid-rekey",
        "private_key": "-----BEGIN PRIVATE KEY-----\nrekey\n-----END PRIVATE KEY-----\n",
        "client_email": "rekey@project.iam.gserviceaccount.com",
    }})
}

/// Defines one async body over a backend as `NAME::sqlite` and `NAME::postgres`.
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$body(keygate::config::Backend::Sqlite).await;
            }
            #[actix_web::test]
            async fn postgres() {
                super::$body(keygate::config::Backend::Postgres).await;
            }
        }
    };
}

both!(
    rekey_moves_every_value_to_the_active_key_so_the_old_key_can_go,
    moves_every_value
);
both!(
    a_rekey_killed_midway_is_run_again_and_finishes,
    killed_and_resumed
);
both!(
    a_value_changed_while_rekey_reads_it_is_kept,
    concurrent_change_kept
);

async fn moves_every_value(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let (a_id, b_id) = (id_of(&site.a), id_of(&site.b));
    let node = site.start(&site.a, None);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push((
            node.create_secret(&format!("value-{i}")).await,
            format!("value-{i}"),
        ));
    }
    // The first secret's replaced value is kept as its version 1.
    let (status, body) = node
        .send(
            reqwest::Method::PUT,
            &format!("/v1/secrets/{}", ids[0].0),
            Some(json!({"value": "value-0-replaced"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "put_secret: {body}");
    ids[0].1 = "value-0-replaced".to_owned();
    node.fill_others().await;
    node.first_version_opens(&ids[0].0).await;
    node.stop().await;

    // B alone cannot start while values need A, and says what to do.
    let refused = helpers::refused(&site.settings(&site.b, None));
    assert!(
        refused.contains(&a_id) && refused.contains(&b_id),
        "{refused}"
    );
    assert!(refused.contains("KEYGATE_RETIRED_MASTER_KEYS"), "{refused}");
    assert!(
        !refused.contains(&site.a) && !refused.contains(&site.b),
        "{refused}"
    );

    // B active, A retired: everything opens, new values go under B.
    let node = site.start(&site.b, Some(&site.a));
    for (id, value) in &ids {
        assert_eq!(&node.secret(id).await, value);
    }
    node.first_version_opens(&ids[0].0).await;
    node.others_open().await;
    // A key hashed under A is still found: another proxy cannot take it.
    let (status, _) = node
        .send(
            reqwest::Method::POST,
            "/v1/projects/Rekeyed/api_proxies",
            Some(json!({"name": "Other"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = node
        .send(
            reqwest::Method::PATCH,
            "/v1/projects/Rekeyed/api_proxies/Other/settings/keys",
            Some(json!({"public_key": PUBLIC})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "duplicate_key", "{body}");
    ids.push((
        node.create_secret("sealed-under-b").await,
        "sealed-under-b".to_owned(),
    ));
    assert_eq!(site.secrets_under().get(&b_id), Some(&1));

    // The check changes nothing and says values remain (exit 1).
    let (ok, stderr) = site.rekey_to_end(true, &["--check"]);
    assert!(!ok, "a check with values under A fails: {stderr}");
    assert!(
        stderr.contains(&format!("master key {a_id}: 25 values remain")),
        "20 secrets, a secret version, a credential, a secret key and its two hashes... : {stderr}"
    );
    assert_eq!(site.secrets_under().get(&a_id), Some(&20));

    // The rekey runs while the node serves.
    let (ok, stderr) = site.rekey_to_end(true, &["--batch-size", "7"]);
    assert!(ok, "rekey: {stderr}");
    assert!(
        stderr.contains("secrets.value: 7 of 21 rows done, 14 to go"),
        "{stderr}"
    );
    assert!(
        stderr.contains("secrets.value: 21 of 21 rows done, 0 to go, 20 re-sealed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("secret_versions.value: 1 of 1 rows done, 0 to go, 1 re-sealed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("api_proxy_keys.key_hash: 2 of 2 rows done, 0 to go, 2 re-sealed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("master key {a_id}: 0 values remain")),
        "{stderr}"
    );
    // The serving node still reads everything.
    for (id, value) in &ids {
        assert_eq!(&node.secret(id).await, value);
    }
    node.first_version_opens(&ids[0].0).await;
    node.others_open().await;
    node.stop().await;
    assert_eq!(site.secrets_under().keys().collect::<Vec<_>>(), vec![&b_id]);

    // B alone: the start is accepted and everything opens.
    let (ok, stderr) = site.rekey_to_end(false, &["--check"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("every value is under master key {b_id}")),
        "{stderr}"
    );
    let node = site.start(&site.b, None);
    for (id, value) in &ids {
        assert_eq!(&node.secret(id).await, value);
    }
    node.first_version_opens(&ids[0].0).await;
    node.others_open().await;
    node.stop().await;
}

async fn killed_and_resumed(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let (a_id, b_id) = (id_of(&site.a), id_of(&site.b));
    let node = site.start(&site.a, None);
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(node.create_secret(&format!("value-{i}")).await);
    }
    node.fill_others().await;
    node.stop().await;
    let node = site.start(&site.b, Some(&site.a));

    // Killed (SIGKILL) once it has said it did two batches of five.
    let mut child = site.rekey(true, &["--batch-size", "5"]).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let done = line.contains("secrets.value: 10 of 150 rows done");
        seen.push(line);
        if done {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {seen:?}");
    let under = site.secrets_under();
    let moved = under.get(&b_id).copied().unwrap_or(0);
    assert!(moved >= 10, "the committed batches stay: {under:?}");
    assert!(
        under.get(&a_id).copied().unwrap_or(0) > 0,
        "killed midway: {under:?}"
    );
    // Half-moved, everything still opens.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(node.secret(id).await, format!("value-{i}"));
    }

    // Run again: the moved values are skipped, the rest moved.
    let (ok, stderr) = site.rekey_to_end(true, &["--batch-size", "5"]);
    assert!(ok, "{stderr}");
    let expected = format!(
        "secrets.value: 150 of 150 rows done, 0 to go, {} re-sealed",
        150 - moved
    );
    assert!(stderr.contains(&expected), "{expected}: {stderr}");
    assert!(
        stderr.contains(&format!("master key {a_id}: 0 values remain")),
        "{stderr}"
    );
    node.stop().await;
    assert_eq!(site.secrets_under().keys().collect::<Vec<_>>(), vec![&b_id]);

    let node = site.start(&site.b, None);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(node.secret(id).await, format!("value-{i}"));
    }
    node.others_open().await;
    node.stop().await;
}

async fn concurrent_change_kept(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let node = site.start(&site.a, None);
    let id = node.create_secret("before").await;
    let others: Vec<String> = {
        let mut others = Vec::new();
        for i in 0..5 {
            others.push(node.create_secret(&format!("other-{i}")).await);
        }
        others
    };
    node.stop().await;
    let node = site.start(&site.b, Some(&site.a));

    // A writer (as a node with B active would) replaces the value and holds
    // its transaction open while rekey reads the old one.
    let mut writer = site.connect();
    let organization_id: String = secrets::table
        .filter(secrets::id.eq(&id))
        .select(secrets::organization_id)
        .first(&mut writer)
        .unwrap();
    let sealed = MasterKey::from_base64(&site.b).unwrap().seal(
        keygate::resources::secrets::repo::SEALED.place(&organization_id, &id),
        b"after",
    );
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    diesel::connection::SimpleConnection::batch_execute(&mut writer, begin).unwrap();
    diesel::update(secrets::table.filter(secrets::id.eq(&id)))
        .set(secrets::value.eq(&sealed))
        .execute(&mut writer)
        .unwrap();

    let child = site.rekey(true, &[]).spawn().unwrap();
    match backend {
        // PostgreSQL: wait until rekey's compare-on-write waits for the
        // writer's row, i.e. it read the old value and tries to replace it.
        Backend::Postgres => {
            let mut watcher = diesel::PgConnection::establish(&site.target).unwrap();
            #[derive(QueryableByName)]
            struct Waiting {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let started = Instant::now();
            loop {
                let waiting: Waiting = diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock' \
                     AND query LIKE 'UPDATE secrets SET value%'",
                )
                .get_result(&mut watcher)
                .unwrap();
                if waiting.n > 0 {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "rekey never reached the row"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // SQLite: rekey waits for the one write lock.
        Backend::Sqlite => std::thread::sleep(Duration::from_millis(500)),
    }
    diesel::connection::SimpleConnection::batch_execute(&mut writer, "COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    if backend == Backend::Postgres
        && helpers::postgres_isolation().is_none_or(|i| i == "read committed")
    {
        assert!(
            stderr.contains("secrets.value: 1 values were changed by a node while being re-sealed"),
            "{stderr}"
        );
    }
    assert_eq!(
        node.secret(&id).await,
        "after",
        "the writer's value is kept"
    );
    for (i, other) in others.iter().enumerate() {
        assert_eq!(node.secret(other).await, format!("other-{i}"));
    }
    node.stop().await;
    let node = site.start(&site.b, None);
    assert_eq!(node.secret(&id).await, "after");
    node.stop().await;
}

both!(
    a_value_under_a_removed_key_answers_500_and_the_rest_serves,
    removed_key
);

async fn removed_key(backend: Backend) {
    let Some(site) = Site::new(backend) else {
        return;
    };
    let a_id = id_of(&site.a);
    let node = site.start(&site.a, None);
    let old = node.create_secret("needs-a").await;
    node.stop().await;
    // The key's record removed by hand, as if rekey had forgotten it while
    // a node still sealed under it: the start with B alone is accepted.
    let changed = diesel::delete(
        keygate::db::schema::encryption_keys::table
            .filter(keygate::db::schema::encryption_keys::key_id.eq(&a_id)),
    )
    .execute(&mut site.connect())
    .unwrap();
    assert_eq!(changed, 1);
    let node = site.start(&site.b, None);
    let fresh = node.create_secret("under-b").await;
    let res = node
        .client
        .get(format!("{}/v1/secrets/{old}", node.address))
        .bearer_auth(&node.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        helpers::header(&res, "content-type"),
        "application/problem+json"
    );
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["code"], "internal_error", "{text}");
    assert!(!text.contains("needs-a"), "{text}");
    assert_eq!(node.secret(&fresh).await, "under-b", "the rest serves");
    node.stop().await;

    // Given back as retired, rekey moves it and it opens again.
    let (ok, stderr) = site.rekey_to_end(true, &[]);
    assert!(ok, "{stderr}");
    let node = site.start(&site.b, None);
    assert_eq!(node.secret(&old).await, "needs-a");
    node.stop().await;
}

/// Every binary column of the schema is a sealed column that `keygate
/// rekey` walks: a new one left out would keep its old key forever.
#[test]
fn rekey_walks_every_binary_column_of_the_schema() {
    let schema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs")).unwrap();
    let mut table = String::new();
    let mut binary = Vec::new();
    for line in schema.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once(" (").filter(|_| line.ends_with('{')) {
            table = name.to_owned();
        } else if let Some((column, kind)) = line.split_once(" -> ") {
            if kind.trim_end_matches(',').ends_with("Binary>") || kind.starts_with("Binary") {
                binary.push(format!("{table}.{column}"));
            }
        }
    }
    let walked: Vec<String> = keygate::cli::sealed_stores()
        .iter()
        .map(|s| s.name())
        .collect();
    assert!(binary.len() >= 3, "found the sealed columns: {binary:?}");
    for column in &binary {
        assert!(
            walked.contains(column),
            "{column} is not in cli::sealed_stores(): {walked:?}"
        );
    }
}
