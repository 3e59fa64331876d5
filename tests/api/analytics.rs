//! Verification analytics: verifies counted in memory, written behind, and
//! read back by bucket, key and outcome, only by their own organization;
//! the counts a stop writes, and the retention purge.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use keygate::keys::format::{self as key_format, KeyKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_test;
use crate::helpers::{assert_invalid, assert_problem, sqlite_settings, start, stop, TestApp};

const PATH: &str = "/v1/analytics/verifications";

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `?start=…&end=…` around now, plus `rest`.
fn around_now(before: chrono::Duration, after: chrono::Duration, rest: &str) -> String {
    let now = Utc::now();
    format!(
        "{PATH}?start={}&end={}{rest}",
        rfc3339(now - before),
        rfc3339(now + after)
    )
}

async fn verify(app: &TestApp, caller: &str, presented: &str, code: &str) {
    let res = app
        .post("/v1/verify", caller, &json!({ "key": presented }))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "verify");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
}

async fn analytics(app: &TestApp, caller: &str, path: &str) -> Value {
    let res = app.get(path, caller).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

fn total(body: &Value) -> i64 {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|row| row["count"].as_i64().unwrap())
        .sum()
}

/// Reads `path` until its counts add up to `expected` (the flush runs every
/// 200 ms in tests), failing after 10 s.
pub async fn analytics_once(app: &TestApp, caller: &str, path: &str, expected: i64) -> Value {
    for _ in 0..100 {
        let body = analytics(app, caller, path).await;
        if total(&body) >= expected {
            assert_eq!(total(&body), expected, "{path}: {body}");
            return body;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path}: the counts never reached {expected}");
}

/// The counts of `body` summed over buckets, by the value of `field`
/// (`null` as "null").
pub fn by(body: &Value, field: &str) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for row in body["data"].as_array().unwrap() {
        let name = match &row[field] {
            Value::String(s) => s.clone(),
            Value::Null if row.get(field).is_some() => "null".to_owned(),
            other => panic!("{field} is {other} in {row}"),
        };
        *sums.entry(name).or_default() += row["count"].as_i64().unwrap();
    }
    sums
}

fn times(body: &Value) -> Vec<DateTime<Utc>> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            DateTime::parse_from_rfc3339(row["time"].as_str().unwrap())
                .unwrap()
                .to_utc()
        })
        .collect()
}

fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

backend_test! {
    async fn verifies_are_counted_by_outcome_key_and_bucket_for_their_organization_only(app) {
        let (reader_id, reader) = app.key_with_role("serving").await;
        let valid = app
            .create_key(&app.bootstrap_key, json!({"name": "valid", "api_key_role": "serving"}))
            .await;
        let disabled = app
            .create_key(&app.bootstrap_key, json!({"name": "off", "api_key_role": "serving", "enabled": false}))
            .await;
        let valid_id = valid["id"].as_str().unwrap();
        let disabled_id = disabled["id"].as_str().unwrap();
        let unknown = key_format::generate(KeyKind::ApiKey).value;
        for _ in 0..3 {
            verify(&app, &reader, valid["key"].as_str().unwrap(), "VALID").await;
        }
        verify(&app, &reader, disabled["key"].as_str().unwrap(), "DISABLED").await;
        verify(&app, &reader, &unknown, "NOT_FOUND").await;
        verify(&app, &reader, &unknown, "NOT_FOUND").await;
        verify(&app, &reader, "kg_ak_nonsense", "MALFORMED").await;
        // Another organization verifying this one's key finds nothing; it
        // is counted there, with no key.
        let (_, other) = app.other_organization("other").await;
        verify(&app, &other, valid["key"].as_str().unwrap(), "NOT_FOUND").await;

        let hour = chrono::Duration::hours(2);
        let by_outcome = analytics_once(&app, &reader, &around_now(hour, hour, "&group_by=outcome"), 7).await;
        assert_eq!(by_outcome["bucket"], "hour", "the default bucket: {by_outcome}");
        assert_eq!(by_outcome["group_by"], json!(["outcome"]));
        assert_eq!(
            by(&by_outcome, "outcome"),
            map(&[("DISABLED", 1), ("MALFORMED", 1), ("NOT_FOUND", 2), ("VALID", 3)])
        );
        for row in by_outcome["data"].as_array().unwrap() {
            assert!(row.get("api_key_id").is_none() && row.get("identity_id").is_none(), "grouped away: {row}");
        }
        for t in times(&by_outcome) {
            assert_eq!((t.minute(), t.second()), (0, 0), "hours start on the hour: {t}");
        }

        let by_key = analytics(&app, &reader, &around_now(hour, hour, "&group_by=key&bucket=hour")).await;
        assert_eq!(
            by(&by_key, "api_key_id"),
            map(&[("null", 3), (valid_id, 3), (disabled_id, 1)]),
            "{by_key}"
        );
        assert!(!by(&by_key, "api_key_id").contains_key(&reader_id));
        for row in by_key["data"].as_array().unwrap() {
            assert!(row.get("outcome").is_none(), "grouped away: {row}");
        }

        let both = analytics(
            &app,
            &reader,
            &around_now(hour, hour, &format!("&group_by=key,outcome&api_key_id={valid_id}")),
        )
        .await;
        assert_eq!(by(&both, "outcome"), map(&[("VALID", 3)]), "{both}");
        assert_eq!(by(&both, "api_key_id"), map(&[(valid_id, 3)]), "{both}");
        let not_found = analytics(&app, &reader, &around_now(hour, hour, "&outcome=NOT_FOUND")).await;
        assert_eq!(total(&not_found), 2, "{not_found}");
        assert_eq!(not_found["group_by"], json!([]));
        for row in not_found["data"].as_array().unwrap() {
            let fields: Vec<&String> = row.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["count", "time"], "no grouping: {row}");
        }
        let no_identity = analytics(&app, &reader, &around_now(hour, hour, "&group_by=identity")).await;
        assert_eq!(by(&no_identity, "identity_id"), map(&[("null", 7)]), "{no_identity}");

        let minutes = chrono::Duration::minutes(30);
        let by_minute = analytics(&app, &reader, &around_now(minutes, minutes, "&bucket=minute")).await;
        assert_eq!(by_minute["bucket"], "minute");
        assert_eq!(total(&by_minute), 7, "{by_minute}");
        for t in times(&by_minute) {
            assert_eq!(t.second(), 0, "minutes start on the minute: {t}");
        }
        let by_day = analytics(&app, &reader, &around_now(chrono::Duration::days(2), hour, "&bucket=day")).await;
        assert_eq!(total(&by_day), 7, "{by_day}");
        for t in times(&by_day) {
            assert_eq!((t.hour(), t.minute()), (0, 0), "days start at midnight UTC: {t}");
        }

        let later = analytics(&app, &reader, &around_now(-hour, chrono::Duration::hours(3), "")).await;
        assert_eq!(later["data"], json!([]), "a range after the verifies: {later}");
        let earlier = analytics(&app, &reader, &around_now(chrono::Duration::hours(5), -hour, "")).await;
        assert_eq!(earlier["data"], json!([]), "a range before them: {earlier}");

        let theirs = analytics_once(&app, &other, &around_now(hour, hour, "&group_by=key,outcome"), 1).await;
        assert_eq!(theirs["data"][0]["api_key_id"], Value::Null, "{theirs}");
        assert_eq!(theirs["data"][0]["outcome"], "NOT_FOUND", "{theirs}");
        let mine = analytics(&app, &reader, &around_now(hour, hour, "")).await;
        assert_eq!(total(&mine), 7, "the other organization's verify is not counted here");
    }
}

backend_test! {
    async fn bad_queries_are_400_naming_the_parameter(app) {
        let (_, reader) = app.key_with_role("serving").await;
        let now = Utc::now();
        let range = |start: DateTime<Utc>, end: DateTime<Utc>| {
            format!("{PATH}?start={}&end={}", rfc3339(start), rfc3339(end))
        };
        let day = chrono::Duration::days(1);
        let ok = range(now - day, now);
        let cases = [
            (format!("{ok}&bucket=week"), "invalid_query_parameter", "bucket", "an unknown bucket"),
            (format!("{ok}&bucket="), "invalid_query_parameter", "bucket", "an empty bucket"),
            (format!("{PATH}?end={}", rfc3339(now)), "invalid_query_parameter", "start", "no start"),
            (format!("{PATH}?start={}", rfc3339(now)), "invalid_query_parameter", "end", "no end"),
            (format!("{PATH}?start=yesterday&end={}", rfc3339(now)), "invalid_query_parameter", "start", "not a timestamp"),
            (range(now, now), "validation_failed", "end", "an empty range"),
            (range(now, now - day), "validation_failed", "end", "end before start"),
            (format!("{}&bucket=minute", range(now - day - chrono::Duration::minutes(1), now)), "validation_failed", "end", "more than a day of minutes"),
            (range(now - chrono::Duration::days(32), now), "validation_failed", "end", "more than 31 days of hours"),
            (format!("{}&bucket=day", range(now - chrono::Duration::days(367), now)), "validation_failed", "end", "more than 366 days"),
            (format!("{ok}&group_by=keys"), "invalid_query_parameter", "group_by", "an unknown group"),
            (format!("{ok}&group_by=key,key"), "invalid_query_parameter", "group_by", "a group twice"),
            (format!("{ok}&group_by=key,"), "invalid_query_parameter", "group_by", "an empty name"),
            (format!("{ok}&group_by=key&group_by=outcome"), "invalid_query_parameter", "group_by", "group_by repeated"),
            (format!("{ok}&outcome=valid"), "invalid_query_parameter", "outcome", "an outcome in lower case"),
            (format!("{ok}&api_key_id="), "validation_failed", "api_key_id", "an empty key id"),
        ];
        for (path, code, field, case) in cases {
            let res = app.get(&path, &reader).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{case}: {path}");
            assert_invalid(res, code, field).await;
        }
        let longest = [
            (format!("{}&bucket=minute", range(now - day, now)), "a day of minutes"),
            (range(now - chrono::Duration::days(31), now), "31 days of hours"),
            (format!("{}&bucket=day", range(now - chrono::Duration::days(366), now)), "366 days"),
        ];
        for (path, case) in longest {
            let res = app.get(&path, &reader).await;
            assert_eq!(res.status(), StatusCode::OK, "{case}: {path}");
        }
        let res = app.request(reqwest::Method::GET, &ok, None).send().await.unwrap();
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

/// Counts noted but not yet flushed are written when the server stops;
/// counts past the retention are purged at start.
#[actix_web::test]
async fn a_stop_writes_the_counts_and_a_start_purges_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = key_format::generate(KeyKind::ApiKey).value;
    let mut settings = sqlite_settings(dir.path(), None, &bootstrap);
    // Only the flush at stop can write them.
    settings.analytics_flush = Duration::from_secs(600);
    settings.analytics_retention = Some(chrono::Duration::days(90));
    let address = start(&settings);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let res = client
            .post(format!("{address}/v1/verify"))
            .bearer_auth(&bootstrap)
            .json(&json!({ "key": bootstrap }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    stop(&address).await;

    let db = dir.path().join("k.db");
    let connect = || {
        let mut conn = diesel::SqliteConnection::establish(&db.to_string_lossy()).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
        conn
    };
    let mut conn = connect();
    let old = (Utc::now() - chrono::Duration::days(91)).timestamp() / 60 * 60;
    diesel::sql_query(format!(
        "INSERT INTO verification_counts VALUES ('org', '', '', 'VALID', {old}, 5)"
    ))
    .execute(&mut conn)
    .unwrap();
    drop(conn);

    let address = start(&settings);
    let now = Utc::now();
    let path = format!(
        "{address}{PATH}?start={}&end={}&bucket=day&group_by=outcome",
        rfc3339(now - chrono::Duration::days(1)),
        rfc3339(now + chrono::Duration::hours(1))
    );
    let res = client
        .get(&path)
        .bearer_auth(&bootstrap)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(by(&body, "outcome"), map(&[("VALID", 2)]), "{body}");

    let mut gone = false;
    for _ in 0..50 {
        let mut conn = connect();
        let left = diesel::sql_query(format!(
            "UPDATE verification_counts SET count = count WHERE minute = {old}"
        ))
        .execute(&mut conn)
        .unwrap();
        if left == 0 {
            gone = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    stop(&address).await;
    assert!(gone, "counts older than the retention are purged at start");
}

backend_test! {
    /// The documented `group_by` pattern admits exactly the lists the
    /// server accepts: each name at most once, in any order.
    async fn the_group_by_pattern_admits_exactly_what_the_server_accepts(app) {
        let doc = keygate::resources::document();
        let param = doc["paths"][PATH]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "group_by")
            .expect("group_by parameter");
        let pattern = regex::Regex::new(param["schema"]["pattern"].as_str().unwrap()).unwrap();
        let names = ["key", "identity", "outcome"];
        let mut lists: Vec<String> = Vec::new();
        for a in names {
            lists.push(a.to_owned());
            for b in names {
                lists.push(format!("{a},{b}"));
                for c in names {
                    lists.push(format!("{a},{b},{c}"));
                }
            }
        }
        let (_, reader) = app.key_with_role("serving").await;
        let hour = chrono::Duration::hours(1);
        let mut admitted = 0;
        for list in lists {
            let res = app.get(&around_now(hour, hour, &format!("&group_by={list}")), &reader).await;
            let documented = pattern.is_match(&list);
            assert_eq!(res.status() == StatusCode::OK, documented, "{list}: {}", res.status());
            admitted += usize::from(documented);
        }
        assert_eq!(admitted, 15);
    }
}
