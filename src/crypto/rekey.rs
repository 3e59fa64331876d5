//! Rekeying: moving every stored value to the active master key, in
//! batches, while nodes serve.
//!
//! Each store of sealed values (or of keyed hashes) is a [`Store`]: a walk
//! in primary-key order, `limit` rows a transaction, that re-seals what a
//! retired key sealed and counts what it read by key id. A value already
//! under the active key is left alone, so a walk stopped anywhere (a kill,
//! a lost connection) is simply run again. Every rewrite compares on write:
//! the row is changed only if it still holds the envelope that was read,
//! so a value a node replaced meanwhile (already under the active key) is
//! never overwritten with the old one. [`run`] walks the stores, then counts
//! again; retired keys that nothing needs any more are forgotten
//! (`vault::forget`), after which a start without them is accepted.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Binary, Nullable, Text};

use super::envelope::{key_id_of, Place};
use super::vault::{self, Vault};
use crate::db::{AnyConnection, Db};
use crate::error::ApiError;

/// Where a walk stands: the last (organization, id) it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Organization of the last row read.
    pub organization_id: String,
    /// Id of the last row read.
    pub id: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Rows read.
    pub read: u64,
    /// Values re-sealed (or re-hashed) under the active key.
    pub moved: u64,
    /// Values changed by someone else between read and write (left as they
    /// are: the writer sealed them under its own active key).
    pub changed_meanwhile: u64,
    /// The values read, by the id of the key that sealed them when read
    /// (`unknown` for one no key of the ring made).
    pub under: BTreeMap<String, u64>,
    /// Where the next batch starts; `None` when the walk is done.
    pub next: Option<Cursor>,
}

impl Batch {
    /// Counts a value read, under the id of the key that made it.
    pub fn count(&mut self, key_id: String) {
        self.read += 1;
        *self.under.entry(key_id).or_default() += 1;
    }

    /// Counts a compared write by the rows it changed: none means someone
    /// changed the value meanwhile.
    pub fn wrote(&mut self, changed: usize) {
        match changed {
            0 => self.changed_meanwhile += 1,
            _ => self.moved += 1,
        }
    }

    /// Sets where the next batch starts: after `last` when the page of
    /// `rows` was full, nowhere when it was the last page.
    pub fn continue_after(&mut self, rows: usize, limit: i64, last: Option<(&str, &str)>) {
        self.next =
            (rows as i64 == limit)
                .then_some(last)
                .flatten()
                .map(|(organization_id, id)| Cursor {
                    organization_id: organization_id.to_owned(),
                    id: id.to_owned(),
                });
    }
}

/// A store of values tied to the master key.
pub trait Store: Sync {
    /// Its name in progress lines: `table.column`.
    fn name(&self) -> String;
    /// How many rows the walk will read.
    fn total(&self, conn: &mut AnyConnection) -> Result<u64, ApiError>;
    /// Reads up to `limit` rows after `after` and, when `write`, moves those
    /// not under the active key to it, in the caller's transaction.
    fn batch(
        &self,
        conn: &mut AnyConnection,
        vault: &Vault,
        after: &Cursor,
        limit: i64,
        write: bool,
    ) -> Result<Batch, ApiError>;
}

/// A column of sealed values in a table with `organization_id` and `id`
/// columns; each envelope is bound to (table, organization, id, column).
/// The resource that owns the column declares it once and seals through
/// [`SealedColumn::place`].
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    /// Table name.
    pub table: &'static str,
    /// Column of the envelope (nullable or not).
    pub column: &'static str,
}

impl SealedColumn {
    /// The place of the value of row `row_id` (bound into its envelope).
    pub fn place<'a>(&self, organization_id: &'a str, row_id: &'a str) -> Place<'a> {
        Place {
            table: self.table,
            organization_id,
            row_id,
            field: self.column,
        }
    }
}

#[derive(QueryableByName)]
struct SealedRow {
    #[diesel(sql_type = Text)]
    organization_id: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Binary>)]
    sealed: Option<Vec<u8>>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The SQL below names only the constant tables and columns of the
/// [`SealedColumn`]s the resources declare, never input. Both backends read
/// `$n` as numbered parameters.
impl Store for SealedColumn {
    fn name(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }

    fn total(&self, conn: &mut AnyConnection) -> Result<u64, ApiError> {
        let count: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {} WHERE {} IS NOT NULL",
            self.table, self.column
        ))
        .get_result(conn)?;
        Ok(count.n.max(0) as u64)
    }

    fn batch(
        &self,
        conn: &mut AnyConnection,
        vault: &Vault,
        after: &Cursor,
        limit: i64,
        write: bool,
    ) -> Result<Batch, ApiError> {
        let rows: Vec<SealedRow> = diesel::sql_query(format!(
            "SELECT organization_id, id, {column} AS sealed FROM {table} \
             WHERE {column} IS NOT NULL \
             AND (organization_id > $1 OR (organization_id = $1 AND id > $2)) \
             ORDER BY organization_id, id LIMIT $3",
            table = self.table,
            column = self.column,
        ))
        .bind::<Text, _>(&after.organization_id)
        .bind::<Text, _>(&after.id)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load(conn)?;
        let mut batch = Batch::default();
        for row in &rows {
            let Some(sealed) = &row.sealed else { continue };
            batch.count(key_id_of(sealed).unwrap_or_else(|| "unknown".to_owned()));
            if !write || vault.is_active(sealed) {
                continue;
            }
            let place = self.place(&row.organization_id, &row.id);
            let resealed = vault.reseal(conn, place, sealed)?;
            let changed = diesel::sql_query(format!(
                "UPDATE {table} SET {column} = $1 \
                 WHERE organization_id = $2 AND id = $3 AND {column} = $4",
                table = self.table,
                column = self.column,
            ))
            .bind::<Binary, _>(&resealed)
            .bind::<Text, _>(&row.organization_id)
            .bind::<Text, _>(&row.id)
            .bind::<Binary, _>(sealed)
            .execute(conn)?;
            batch.wrote(changed);
        }
        let last = rows
            .last()
            .map(|r| (r.organization_id.as_str(), r.id.as_str()));
        batch.continue_after(rows.len(), limit, last);
        Ok(batch)
    }
}

/// What a walk of one store found.
#[derive(Debug, Clone, Default)]
pub struct StoreReport {
    /// The store's name.
    pub name: String,
    /// Rows read.
    pub read: u64,
    /// Values moved to the active key.
    pub moved: u64,
    /// Values changed by someone else while being moved.
    pub changed_meanwhile: u64,
}

/// What [`run`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each store's walk (empty for a check).
    pub stores: Vec<StoreReport>,
    /// After the walks: values not under the active key, by key id and
    /// store (a key id absent here has none left).
    pub remaining: BTreeMap<String, BTreeMap<String, u64>>,
    /// Retired keys forgotten here: nothing needs them any more.
    pub forgotten: Vec<String>,
}

/// A progress line's facts: after each batch.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// The store.
    pub store: &'a str,
    /// Rows read so far.
    pub read: u64,
    /// Rows the walk expects (counted at its start).
    pub total: u64,
    /// Values moved so far.
    pub moved: u64,
}

/// Walks every store, `batch` rows a transaction, moving values to the
/// active key (unless `check`), and calls `progress` after each batch. Then
/// counts every store again and, unless `check`, forgets the recorded
/// retired keys nothing needs any more.
pub fn run(
    db: &Db,
    vault: &Vault,
    stores: &[&dyn Store],
    batch: i64,
    check: bool,
    mut progress: impl FnMut(&Progress<'_>),
) -> Result<Report, ApiError> {
    let mut report = Report::default();
    if !check {
        for store in stores {
            let name = store.name();
            let total = db.write_blocking(|conn| store.total(conn))?;
            let mut walked = StoreReport {
                name: name.clone(),
                ..StoreReport::default()
            };
            let mut after = Cursor::default();
            loop {
                let done =
                    db.write_blocking(|conn| store.batch(conn, vault, &after, batch, true))?;
                walked.read += done.read;
                walked.moved += done.moved;
                walked.changed_meanwhile += done.changed_meanwhile;
                progress(&Progress {
                    store: &name,
                    read: walked.read,
                    total: total.max(walked.read),
                    moved: walked.moved,
                });
                match done.next {
                    Some(next) => after = next,
                    None => break,
                }
            }
            report.stores.push(walked);
        }
    }
    for store in stores {
        let name = store.name();
        let mut after = Cursor::default();
        loop {
            let done = db.write_blocking(|conn| store.batch(conn, vault, &after, batch, false))?;
            for (key_id, n) in done.under {
                if key_id != vault.active_key_id() {
                    *report
                        .remaining
                        .entry(key_id)
                        .or_default()
                        .entry(name.clone())
                        .or_default() += n;
                }
            }
            match done.next {
                Some(next) => after = next,
                None => break,
            }
        }
    }
    if !check {
        let remaining = report.remaining.clone();
        report.forgotten = db.write_blocking(|conn| {
            let mut forgotten = Vec::new();
            for key_id in vault::key_ids(conn)? {
                let retired = vault.retired_key_ids().contains(&key_id);
                if retired
                    && !remaining.contains_key(&key_id)
                    && vault::forget(conn, vault, &key_id)? > 0
                {
                    forgotten.push(key_id);
                }
            }
            Ok(forgotten)
        })?;
    }
    Ok(report)
}
