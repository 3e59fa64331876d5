//! Row versions: the `ETag` of a resource version, the `If-Match`
//! precondition a write checks against it, and the row lock that makes the
//! check hold under concurrency. The tag is derived from the resource id
//! and its last change, so any write changes it. Every write to an existing
//! row first takes the row for its transaction ([`lock`]), then loads it,
//! checks `If-Match` and writes: of N writers holding the same version
//! exactly one wins and the others see the winner's version (412), and
//! rotations of one owner run one after another, so one secret is current.
//! Reading the header is the HTTP toolkit's (`http::conditional`).

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::{ExecuteDsl, LockingDsl, ModifyLockDsl};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};
use sha2::{Digest, Sha256};

use super::{AnyConnection, MultiBackend};
use crate::error::ApiError;

/// Takes the rows `rows` selects for the running transaction, until it
/// ends: `SELECT ... FOR UPDATE` on PostgreSQL, where writers run side by
/// side; nothing on SQLite, where a write transaction already holds the
/// database's one write lock (`BEGIN IMMEDIATE`). Call it before loading
/// the row the write checks: a writer that waited then loads the version
/// its predecessor committed. A row that does not exist locks nothing (the
/// load then answers 404).
pub fn lock<Q>(conn: &mut AnyConnection, rows: Q) -> QueryResult<()>
where
    Q: LockingDsl<ForWrite>,
    Q::Output: ModifyLockDsl<Plain>,
    <Q::Output as ModifyLockDsl<Plain>>::Output:
        RunQueryDsl<AnyConnection> + ExecuteDsl<AnyConnection>,
{
    if let AnyConnection::Sqlite(_) = conn {
        return Ok(());
    }
    locked(rows).execute(conn).map(drop)
}

/// The query `rows` taking the rows it selects for the transaction, as
/// [`lock`] does, for a write that loads the row it locks: one round trip
/// where [`lock`] and a load take two (PostgreSQL returns the version a
/// waited-for writer committed). The lock clause is empty on SQLite.
pub fn locked<Q>(rows: Q) -> <Q::Output as ModifyLockDsl<Plain>>::Output
where
    Q: LockingDsl<ForWrite>,
    Q::Output: ModifyLockDsl<Plain>,
{
    rows.with_lock(ForWrite).modify_lock(Plain)
}

/// The lock mode of [`lock`]: `FOR UPDATE` on PostgreSQL, nothing on
/// SQLite (diesel's own `for_update()` does not build for a connection that
/// may be SQLite).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct ForWrite;

impl QueryFragment<Pg> for ForWrite {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" FOR UPDATE");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for ForWrite {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        Ok(())
    }
}

impl QueryFragment<MultiBackend> for ForWrite {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        MultiBackend::walk_variant_ast(self, pass)
    }
}

/// The lock's modifier: none (no `NOWAIT`, no `SKIP LOCKED`: a writer
/// waits its turn, within the statement timeout).
#[derive(Debug, Clone, Copy, QueryId)]
pub struct Plain;

impl QueryFragment<MultiBackend> for Plain {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        Ok(())
    }
}

/// The strong ETag of a resource version, quoted.
pub fn etag(id: &str, changed_at: NaiveDateTime) -> String {
    let digest = Sha256::digest(format!("{id}@{}", changed_at.and_utc().timestamp_micros()));
    format!("\"{}\"", &hex::encode(digest)[..20])
}

/// The request's `If-Match` precondition, if any.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// A precondition from header text (tests, other callers).
    pub fn parse(text: Option<&str>) -> IfMatch {
        IfMatch(text.map(|t| {
            t.split(',')
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty())
                .collect()
        }))
    }

    /// Whether the request carried `If-Match` at all (a write that would
    /// create the resource then fails: there is no current version).
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// Ok when there is no precondition, it is `*`, or it lists `current`;
    /// otherwise 412.
    pub fn check(&self, current: &str) -> Result<(), ApiError> {
        match &self.0 {
            None => Ok(()),
            Some(tags) if tags.iter().any(|t| t == "*" || t == current) => Ok(()),
            Some(_) => Err(ApiError::PreconditionFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_tag_a_list_or_a_star() {
        let tag = etag("aky_1", NaiveDateTime::default());
        assert!(IfMatch::parse(None).check(&tag).is_ok());
        assert!(IfMatch::parse(Some("*")).check(&tag).is_ok());
        assert!(IfMatch::parse(Some(&format!("\"x\", {tag}")))
            .check(&tag)
            .is_ok());
        assert!(IfMatch::parse(Some("\"stale\"")).check(&tag).is_err());
    }

    #[test]
    fn a_change_changes_the_tag() {
        let t0 = NaiveDateTime::default();
        assert_ne!(
            etag("a", t0),
            etag("a", t0 + chrono::Duration::microseconds(1))
        );
        assert_ne!(etag("a", t0), etag("b", t0));
    }
}
