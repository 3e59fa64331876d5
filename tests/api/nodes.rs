//! Two nodes on one PostgreSQL database: a change made through one is
//! refused by the other within a second although its cache keeps entries
//! for a minute (`db::peers`: the invalidation row, `LISTEN/NOTIFY`, the
//! cursor); a change behind keygate's back is not seen (the cache is in
//! effect).

use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use keygate::config::Backend;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Whether `node` still accepts `key` on `GET /v1/me`.
async fn accepts(node: &TestApp, key: &str) -> bool {
    let status = node
        .request(Method::GET, "/v1/me", Some(key))
        .send()
        .await
        .unwrap()
        .status();
    status == StatusCode::OK
}

/// How long until `node` refuses `key` (at most `within`).
async fn refused_after(node: &TestApp, key: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if !accepts(node, key).await {
            return Some(started.elapsed());
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[actix_web::test]
async fn a_change_through_one_node_reaches_the_other_within_a_second() {
    let master = keygate::crypto::envelope::MasterKey::generate_base64();
    let ttl = Duration::from_secs(60);
    let first_master = master.clone();
    let Some(a) = TestApp::spawn_with(Backend::Postgres, |s| {
        s.auth_cache_ttl = ttl;
        s.master_key = keygate::config::MasterKeySource::Inline(first_master);
    })
    .await
    else {
        return;
    };
    let shared = a.database_target.clone();
    let b = TestApp::spawn_with(Backend::Postgres, |s| {
        s.auth_cache_ttl = ttl;
        s.database.target = shared;
        s.master_key = keygate::config::MasterKeySource::Inline(master);
    })
    .await
    .unwrap();
    let admin = a.bootstrap_key.clone();

    // Disabled through A: B refuses it within a second.
    let (id, key) = a.key_with_role("serving").await;
    assert!(
        accepts(&b, &key).await && accepts(&b, &key).await,
        "cached on B"
    );
    let res = a
        .patch(
            &format!("/v1/api_keys/{id}"),
            &admin,
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let delay = refused_after(&b, &key, Duration::from_secs(2)).await;
    assert!(
        delay.is_some_and(|d| d < Duration::from_secs(1)),
        "B refused after {delay:?}"
    );

    // Rotated with zero grace through B: A refuses the old key.
    let (id, key) = a.key_with_role("serving").await;
    assert!(accepts(&a, &key).await);
    let res = b
        .post(
            &format!("/v1/api_keys/{id}/rotate"),
            &admin,
            &json!({"grace_period_seconds": 0}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let delay = refused_after(&a, &key, Duration::from_secs(2)).await;
    assert!(
        delay.is_some_and(|d| d < Duration::from_secs(1)),
        "A refused after {delay:?}"
    );

    // Behind keygate's back there is no invalidation: the cache holds.
    let (id, key) = a.key_with_role("serving").await;
    assert!(accepts(&b, &key).await);
    let mut conn = diesel::PgConnection::establish(&a.database_target).unwrap();
    diesel::sql_query(format!(
        "UPDATE api_keys SET enabled = false WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        accepts(&b, &key).await,
        "the 60 s cache entry is still used"
    );

    // The rows written for the changes are there.
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Count = diesel::sql_query("SELECT count(*) AS n FROM cache_invalidations")
        .get_result(&mut conn)
        .unwrap();
    assert!(rows.n >= 2, "{} invalidation rows", rows.n);
}
