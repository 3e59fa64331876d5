//! Retrying a write that lost a race: a transaction that PostgreSQL ends
//! with a serialization failure (SQLSTATE 40001, under `serializable`
//! isolation, or on a PostgreSQL-compatible distributed engine) or a
//! deadlock (40P01) did nothing, and running it again from the start is
//! what the database asks for. `Db::write` does that with a jittered,
//! doubling backoff, at most [`ATTEMPTS`] times and never past the
//! request's deadline; then the answer is 503 with `Retry-After`.
//!
//! The conversion of the database error ([`crate::error::ApiError`]'s
//! `From`, which tells such failures apart) notes that it was one
//! ([`noticed`]) on the thread running the write, which asks after each
//! attempt ([`take`]).

use std::time::Duration;

/// Attempts of one write, the first included.
pub const ATTEMPTS: u32 = 8;

/// The first backoff; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(5);

/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// Notes that the database ended a transaction with 40001 or 40P01 (the
/// note lives beside the error conversion, which makes it).
pub use crate::error::note_lost_race as noticed;

/// Whether [`noticed`] was called since the last call; clears it.
pub(super) fn take() -> bool {
    crate::error::take_lost_race()
}

/// For a write that met a unique violation and then cannot see the row it
/// collided with: under `repeatable read` or `serializable` the row
/// committed after the transaction's snapshot was taken, so the write lost
/// a race, and a new attempt (a new snapshot) will meet the row. Notes the
/// lost race and answers the error to return (the write is run again); under
/// `read committed` (or SQLite) the row is really not there, and `None`
/// lets the caller answer its own way.
pub fn unseen_conflict(conn: &mut super::AnyConnection) -> Option<crate::error::ApiError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Isolation {
        #[diesel(sql_type = diesel::sql_types::Text)]
        level: String,
    }
    let super::AnyConnection::Postgresql(pg) = conn else {
        return None;
    };
    let isolation: Isolation =
        diesel::sql_query("SELECT current_setting('transaction_isolation') AS level")
            .get_result(pg)
            .ok()?;
    if isolation.level == "read committed" {
        return None;
    }
    noticed();
    Some(crate::error::ApiError::Unavailable)
}

/// How long to wait before attempt `attempt` (1 for the first retry):
/// between half and all of a doubling delay, so that the writers that
/// collided do not collide again.
pub fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_bound_with_jitter() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            let full = FIRST_BACKOFF * (1 << (attempt - 1).min(16));
            assert!(d <= full.min(MAX_BACKOFF), "{attempt}: {d:?}");
            assert!(d >= full.min(MAX_BACKOFF) / 2, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn noticing_is_taken_once() {
        assert!(!take());
        noticed();
        assert!(take());
        assert!(!take());
    }
}
