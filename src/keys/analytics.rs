//! Verification analytics, counted write-behind: each verify notes its
//! outcome in memory, one counter per (organization, API key, identity,
//! outcome, minute), and a flush adds the counters to `verification_counts`
//! periodically and at shutdown, so no verify waits on the database. The
//! read side is `crate::resources::analytics`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use parking_lot::Mutex;

use crate::db::schema::verification_counts;
use crate::db::AnyConnection;

/// What `api_key_id` and `identity_id` hold when a verify had none.
pub const NONE: &str = "";

/// Rows one `INSERT` adds (6 parameters each, well below either backend's
/// limit on parameters of a statement).
const WRITE_BATCH: usize = 200;

/// The start of the minute `at` falls in, in seconds since the Unix epoch.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60) * 60
}

/// One counter: how many verifies of an organization ended in `outcome`
/// for one key and identity within one minute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinuteCount {
    /// The verifying caller's organization.
    pub organization_id: String,
    /// The verified key's id; [`NONE`] when no key was found.
    pub api_key_id: String,
    /// The key's identity; [`NONE`] when it has none.
    pub identity_id: String,
    /// The verdict's code, `VALID`, `NOT_FOUND`, ...
    pub outcome: String,
    /// The minute's start, in seconds since the Unix epoch.
    pub minute: i64,
    /// Verifies counted.
    pub count: i64,
}

/// A counter's key as the map holds it.
#[derive(Debug, PartialEq, Eq)]
struct Slot {
    organization_id: Box<str>,
    api_key_id: Box<str>,
    identity_id: Box<str>,
    outcome: Box<str>,
    minute: i64,
}

/// A counter's key, owned or borrowed: the map is asked with the borrowed
/// parts `note` receives, so counting into an existing counter allocates
/// nothing.
trait SlotKey {
    fn parts(&self) -> (&str, &str, &str, &str, i64);
}

impl SlotKey for Slot {
    fn parts(&self) -> (&str, &str, &str, &str, i64) {
        (
            &self.organization_id,
            &self.api_key_id,
            &self.identity_id,
            &self.outcome,
            self.minute,
        )
    }
}

impl SlotKey for (&str, &str, &str, &str, i64) {
    fn parts(&self) -> (&str, &str, &str, &str, i64) {
        *self
    }
}

impl<'a> Borrow<dyn SlotKey + 'a> for Slot {
    fn borrow(&self) -> &(dyn SlotKey + 'a) {
        self
    }
}

// Both hash their parts alike, as `Borrow` requires.
impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl Hash for dyn SlotKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn SlotKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn SlotKey + '_ {}

/// Verify outcomes counted since the last flush.
#[derive(Debug, Default)]
pub struct Analytics {
    pending: Mutex<HashMap<Slot, i64, foldhash::fast::RandomState>>,
}

impl Analytics {
    /// Counts one verify of `organization_id` that ended in `outcome` at
    /// `at`, for the key and identity it found (`None`: none).
    pub fn note(
        &self,
        organization_id: &str,
        api_key_id: Option<&str>,
        identity_id: Option<&str>,
        outcome: &str,
        at: DateTime<Utc>,
    ) {
        self.add(
            (
                organization_id,
                api_key_id.unwrap_or(NONE),
                identity_id.unwrap_or(NONE),
                outcome,
                minute_of(at),
            ),
            1,
        );
    }

    fn add(&self, key: (&str, &str, &str, &str, i64), count: i64) {
        let mut pending = self.pending.lock();
        if let Some(n) = pending.get_mut(&key as &dyn SlotKey) {
            *n += count;
            return;
        }
        let (organization_id, api_key_id, identity_id, outcome, minute) = key;
        pending.insert(
            Slot {
                organization_id: organization_id.into(),
                api_key_id: api_key_id.into(),
                identity_id: identity_id.into(),
                outcome: outcome.into(),
                minute,
            },
            count,
        );
    }

    /// How many counters wait for the next flush.
    pub fn len(&self) -> usize {
        self.pending.lock().len()
    }

    /// Whether no counter waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes what is counted, in key order: nodes adding to the same rows
    /// then lock them in the same order and cannot deadlock.
    pub fn drain(&self) -> Vec<MinuteCount> {
        let taken = std::mem::take(&mut *self.pending.lock());
        let mut counts: Vec<MinuteCount> = taken
            .into_iter()
            .map(|(slot, count)| MinuteCount {
                organization_id: slot.organization_id.into(),
                api_key_id: slot.api_key_id.into(),
                identity_id: slot.identity_id.into(),
                outcome: slot.outcome.into(),
                minute: slot.minute,
                count,
            })
            .collect();
        counts.sort_unstable();
        counts
    }

    /// Puts drained counts back (a flush that failed), added to what was
    /// counted since.
    pub fn restore(&self, counts: Vec<MinuteCount>) {
        for c in &counts {
            self.add(
                (
                    &c.organization_id,
                    &c.api_key_id,
                    &c.identity_id,
                    &c.outcome,
                    c.minute,
                ),
                c.count,
            );
        }
    }
}

/// Adds drained counts to their rows (made when missing), a batch a
/// statement, in one transaction. Both backends read `$n` as numbered
/// parameters and `ON CONFLICT ... DO UPDATE` with `excluded` alike;
/// diesel's `on_conflict` does not build for the multi-backend connection.
pub fn write(conn: &mut AnyConnection, counts: &[MinuteCount]) -> QueryResult<usize> {
    type Backend = <AnyConnection as Connection>::Backend;
    conn.transaction(|conn| {
        let mut written = 0;
        for batch in counts.chunks(WRITE_BATCH) {
            let values: Vec<String> = (0..batch.len())
                .map(|i| {
                    let n = i * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO verification_counts \
                 (organization_id, api_key_id, identity_id, outcome, minute, count) \
                 VALUES {} \
                 ON CONFLICT (organization_id, api_key_id, identity_id, outcome, minute) \
                 DO UPDATE SET count = verification_counts.count + excluded.count",
                values.join(", ")
            );
            let mut query = diesel::sql_query(sql).into_boxed::<Backend>();
            for c in batch {
                query = query
                    .bind::<Text, _>(&c.organization_id)
                    .bind::<Text, _>(&c.api_key_id)
                    .bind::<Text, _>(&c.identity_id)
                    .bind::<Text, _>(&c.outcome)
                    .bind::<BigInt, _>(c.minute)
                    .bind::<BigInt, _>(c.count);
            }
            written += query.execute(conn)?;
        }
        Ok(written)
    })
}

/// Deletes the counts of minutes before `cutoff`; returns how many rows.
pub fn purge_before(conn: &mut AnyConnection, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        verification_counts::table.filter(verification_counts::minute.lt(minute_of(cutoff))),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn counts_coalesce_per_organization_key_identity_outcome_and_minute() {
        let analytics = Analytics::default();
        let first = at("2026-12-04T10:15:00Z");
        for seconds in [0, 10, 59] {
            let t = first + chrono::Duration::seconds(seconds);
            analytics.note("org_a", Some("aky_1"), None, "VALID", t);
        }
        analytics.note(
            "org_a",
            Some("aky_1"),
            None,
            "VALID",
            at("2026-12-04T10:16:00Z"),
        );
        analytics.note("org_a", Some("aky_1"), None, "DISABLED", first);
        analytics.note("org_a", Some("aky_1"), Some("idn_1"), "VALID", first);
        analytics.note("org_a", None, None, "NOT_FOUND", first);
        analytics.note("org_a", None, None, "NOT_FOUND", first);
        analytics.note("org_b", Some("aky_1"), None, "VALID", first);
        assert_eq!(analytics.len(), 6);

        let drained = analytics.drain();
        assert!(analytics.is_empty(), "a drain takes everything");
        let minute = minute_of(first);
        let row =
            |org: &str, key: &str, identity: &str, outcome: &str, minute: i64, count| MinuteCount {
                organization_id: org.into(),
                api_key_id: key.into(),
                identity_id: identity.into(),
                outcome: outcome.into(),
                minute,
                count,
            };
        assert_eq!(
            drained,
            vec![
                row("org_a", "", "", "NOT_FOUND", minute, 2),
                row("org_a", "aky_1", "", "DISABLED", minute, 1),
                row("org_a", "aky_1", "", "VALID", minute, 3),
                row("org_a", "aky_1", "", "VALID", minute + 60, 1),
                row("org_a", "aky_1", "idn_1", "VALID", minute, 1),
                row("org_b", "aky_1", "", "VALID", minute, 1),
            ],
            "sorted by key, one counter each"
        );

        analytics.note("org_a", Some("aky_1"), None, "VALID", first);
        analytics.restore(drained);
        let again = analytics.drain();
        assert_eq!(again.len(), 6, "restored counts join the new ones");
        assert_eq!(again[2].count, 4, "{again:?}");
    }

    #[test]
    fn minutes_start_on_the_minute() {
        assert_eq!(minute_of(at("1970-01-01T00:01:59Z")), 60);
        assert_eq!(minute_of(at("1969-12-31T23:59:30Z")), -60);
        assert_eq!(
            minute_of(at("2026-12-04T10:15:42.5Z")),
            at("2026-12-04T10:15:00Z").timestamp()
        );
    }
}
