//! Reading `verification_counts`: sums of an organization's minutes in a
//! range, by bucket and by what is grouped. The rows are written by
//! `crate::keys::analytics`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::AnyConnection;

/// What to sum: minutes that start in `[start, end)` (seconds since the
/// Unix epoch), in buckets of `bucket_seconds`, split by what is grouped,
/// with the filters given.
#[derive(Debug, Clone)]
pub struct CountQuery {
    /// First second counted.
    pub start: i64,
    /// First second no longer counted.
    pub end: i64,
    /// 60, 3600 or 86400: buckets start at multiples of it.
    pub bucket_seconds: i64,
    /// Split by API key.
    pub by_key: bool,
    /// Split by identity.
    pub by_identity: bool,
    /// Split by outcome.
    pub by_outcome: bool,
    /// Only this API key.
    pub api_key_id: Option<String>,
    /// Only this identity.
    pub identity_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
}

/// One sum. A column that is not grouped reads `''`.
#[derive(Debug, QueryableByName)]
pub struct BucketRow {
    /// The bucket's start, in seconds since the Unix epoch.
    #[diesel(sql_type = BigInt)]
    pub bucket_start: i64,
    /// The key (`''`: none, or not grouped).
    #[diesel(sql_type = Text)]
    pub api_key_id: String,
    /// The identity (`''`: none, or not grouped).
    #[diesel(sql_type = Text)]
    pub identity_id: String,
    /// The outcome (`''`: not grouped).
    #[diesel(sql_type = Text)]
    pub outcome: String,
    /// Verifies.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// The sums of `organization_id`'s counts, by bucket start, then key,
/// identity and outcome. Written as SQL text because its columns depend on
/// the grouping; both backends read it alike: `$n` parameters, integer
/// division of `BIGINT`s, `SUM` cast back to `BIGINT` (PostgreSQL's is
/// `NUMERIC`). Column names come from this function, never from input.
pub fn counts(
    conn: &mut AnyConnection,
    organization_id: &str,
    q: &CountQuery,
) -> QueryResult<Vec<BucketRow>> {
    type Backend = <AnyConnection as Connection>::Backend;
    let bucket = format!("(minute / {0}) * {0}", q.bucket_seconds);
    let column = |grouped: bool, name: &str| {
        if grouped {
            name.to_owned()
        } else {
            "CAST('' AS TEXT)".to_owned()
        }
    };
    let mut group = vec![bucket.clone()];
    for (grouped, name) in [
        (q.by_key, "api_key_id"),
        (q.by_identity, "identity_id"),
        (q.by_outcome, "outcome"),
    ] {
        if grouped {
            group.push(name.to_owned());
        }
    }
    let mut filters = String::new();
    let mut n = 3;
    for (value, name) in [
        (&q.api_key_id, "api_key_id"),
        (&q.identity_id, "identity_id"),
        (&q.outcome, "outcome"),
    ] {
        if value.is_some() {
            n += 1;
            filters.push_str(&format!(" AND {name} = ${n}"));
        }
    }
    let sql = format!(
        "SELECT {bucket} AS bucket_start, {key} AS api_key_id, {identity} AS identity_id, \
         {outcome} AS outcome, CAST(SUM(count) AS BIGINT) AS count \
         FROM verification_counts \
         WHERE organization_id = $1 AND minute >= $2 AND minute < $3{filters} \
         GROUP BY {group} \
         ORDER BY {group}",
        key = column(q.by_key, "api_key_id"),
        identity = column(q.by_identity, "identity_id"),
        outcome = column(q.by_outcome, "outcome"),
        group = group.join(", "),
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed::<Backend>()
        .bind::<Text, _>(organization_id)
        .bind::<BigInt, _>(q.start)
        .bind::<BigInt, _>(q.end);
    for value in [&q.api_key_id, &q.identity_id, &q.outcome]
        .into_iter()
        .flatten()
    {
        query = query.bind::<Text, _>(value);
    }
    query.load(conn)
}
