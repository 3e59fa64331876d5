//! `last_used_at`, recorded write-behind: each authentication notes the time
//! in memory (one entry per key, the latest wins), and a flush writes them
//! periodically and at shutdown, so no request waits on a write.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::api_keys;
use crate::db::AnyConnection;

/// Pending `last_used_at` values, coalesced per key.
#[derive(Debug, Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<String, NaiveDateTime>>,
}

impl LastUsed {
    /// Notes that a key was used at `at`.
    pub fn touch(&self, api_key_id: &str, at: NaiveDateTime) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.get_mut(api_key_id) {
            Some(t) if *t >= at => {}
            Some(t) => *t = at,
            None => {
                pending.insert(api_key_id.to_owned(), at);
            }
        }
    }

    /// How many keys wait for the next flush.
    pub fn len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes what is pending, in key id order: nodes flushing the same keys
    /// then lock their rows in the same order and cannot deadlock.
    pub fn drain(&self) -> Vec<(String, NaiveDateTime)> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut values: Vec<_> = pending.drain().collect();
        values.sort_unstable();
        values
    }
}

/// Writes drained values; a value never moves `last_used_at` backwards.
pub fn write(conn: &mut AnyConnection, values: &[(String, NaiveDateTime)]) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let mut written = 0;
        for (id, at) in values {
            written += diesel::update(
                api_keys::table.filter(api_keys::id.eq(id)).filter(
                    api_keys::last_used_at
                        .is_null()
                        .or(api_keys::last_used_at.lt(*at)),
                ),
            )
            .set(api_keys::last_used_at.eq(Some(*at)))
            .execute(conn)?;
        }
        Ok(written)
    })
}
