//! Credit balances of keys and identities (`credits`, one row per owner; no
//! row: unlimited): what a request sets, the leases nodes take in blocks
//! (`super::usage`), and their return at a clean stop. Every function runs
//! inside the caller's write.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::OWNER_API_KEY;
use crate::db::changes;
use crate::db::schema::{api_keys, credits};
use crate::db::version;
use crate::db::{now, AnyConnection};
use crate::error::{ApiError, FieldError};

/// Largest balance, refill amount and operation value.
pub const MAX_CREDITS: i64 = 1_000_000_000_000;
/// Largest lease a node takes at once.
pub const MAX_LEASE: i64 = 1000;
/// A lease is a tenth of what is left, at least the need and at most
/// [`MAX_LEASE`].
const LEASE_SHARE: i64 = 10;

/// One balance.
#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = credits, primary_key(owner_id))]
pub struct CreditRow {
    /// The `aky_` key or `idn_` identity.
    pub owner_id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Credits left in the database.
    pub remaining: i64,
    /// Refill period in milliseconds.
    pub refill_interval: Option<i64>,
    /// What a refill sets `remaining` to.
    pub refill_amount: Option<i64>,
    /// Start of the current refill period.
    pub refilled_at: NaiveDateTime,
    /// Grows with every absolute change.
    pub epoch: i64,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl CreditRow {
    /// Applies a refill that is due at `at`: `remaining` becomes the refill
    /// amount and the period moves on by whole intervals. Returns whether
    /// it did.
    fn refill(&mut self, at: NaiveDateTime) -> bool {
        let (Some(interval), Some(amount)) = (self.refill_interval, self.refill_amount) else {
            return false;
        };
        let elapsed = (at - self.refilled_at).num_milliseconds();
        if elapsed < interval {
            return false;
        }
        self.refilled_at += Duration::milliseconds(elapsed / interval * interval);
        self.remaining = amount;
        true
    }

    /// When the current refill period ends, in Unix milliseconds.
    fn period_end_ms(&self) -> Option<i64> {
        self.refill_interval
            .map(|i| self.refilled_at.and_utc().timestamp_millis() + i)
    }
}

/// A refill: once per `interval`, `remaining` is set to `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refill {
    /// The period in milliseconds, 60,000 (a minute) to 2,678,400,000 (31
    /// days); periods start when the balance is set.
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 60_000, maximum = 2_678_400_000_i64, example = 86_400_000)]
    pub interval: i64,
    /// What `remaining` is set to at each refill, 1 to 10^12.
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64, example = 1000)]
    pub amount: i64,
}

/// A balance as set on create or PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsInput {
    /// Credits to start with, 0 to 10^12; each successful verify spends its
    /// `cost`.
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, example = 1000)]
    pub remaining: i64,
    /// An optional refill; `null` or absent: none.
    #[serde(default)]
    #[schema(nullable = true)]
    pub refill: Option<Refill>,
}

impl CreditsInput {
    /// The field errors of a balance at `field`.
    pub fn check(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(0..=MAX_CREDITS).contains(&self.remaining) {
            errors.push(FieldError::new(
                format!("{field}.remaining"),
                "range",
                "must be 0 to 1000000000000",
            ));
        }
        if let Some(refill) = self.refill {
            if !(60_000..=2_678_400_000).contains(&refill.interval) {
                errors.push(FieldError::new(
                    format!("{field}.refill.interval"),
                    "range",
                    "must be 60000 to 2678400000 milliseconds",
                ));
            }
            if !(1..=MAX_CREDITS).contains(&refill.amount) {
                errors.push(FieldError::new(
                    format!("{field}.refill.amount"),
                    "range",
                    "must be 1 to 1000000000000",
                ));
            }
        }
        errors
    }
}

/// A balance as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Credits {
    /// Credits left in the database. Nodes spend from blocks they lease
    /// (at most 1,000 each, and the next while one runs low), so up to
    /// 1,250 per node may already be promised to requests.
    #[schema(example = 1000)]
    pub remaining: i64,
    /// The refill, or `null`.
    #[schema(required = true, nullable = true)]
    pub refill: Option<Refill>,
    /// When the current refill period (or the balance) began.
    pub refilled_at: DateTime<Utc>,
}

impl From<&CreditRow> for Credits {
    fn from(row: &CreditRow) -> Self {
        let mut row = row.clone();
        row.refill(now().naive_utc());
        Credits {
            remaining: row.remaining,
            refill: row
                .refill_interval
                .zip(row.refill_amount)
                .map(|(interval, amount)| Refill { interval, amount }),
            refilled_at: row.refilled_at.and_utc(),
        }
    }
}

/// What `POST .../credits` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `remaining` becomes `value` (creating the balance if there is none);
    /// what nodes leased before is void.
    Set,
    /// `remaining` grows by `value`.
    Increment,
    /// `remaining` shrinks by `value`, to no less than 0.
    Decrement,
}

/// Body of the credits operations.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeCredits {
    /// `set`, `increment` or `decrement`.
    pub operation: Operation,
    /// 0 to 10^12.
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, example = 100)]
    pub value: i64,
}

impl ChangeCredits {
    /// Validates the body.
    pub fn check(&self) -> Result<(), ApiError> {
        if (0..=MAX_CREDITS).contains(&self.value) {
            Ok(())
        } else {
            Err(ApiError::invalid_field(
                "value",
                "range",
                "must be 0 to 1000000000000",
            ))
        }
    }
}

/// A block of credits leased to a node.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// The balance's epoch.
    pub epoch: i64,
    /// Credits granted (0: the balance cannot pay the need).
    pub granted: i64,
    /// What the database holds after the grant.
    pub behind: i64,
    /// When the refill period ends, in Unix milliseconds, if refilled.
    pub ends_ms: Option<i64>,
    /// Start of the refill period.
    pub period: NaiveDateTime,
}

fn row_for_write(conn: &mut AnyConnection, owner_id: &str) -> QueryResult<Option<CreditRow>> {
    version::locked(
        credits::table
            .filter(credits::owner_id.eq(owner_id))
            .select(CreditRow::as_select()),
    )
    .first(conn)
    .optional()
}

fn save(conn: &mut AnyConnection, row: &CreditRow) -> QueryResult<usize> {
    diesel::update(credits::table.filter(credits::owner_id.eq(&row.owner_id)))
        .set(row)
        .execute(conn)
}

/// Leases a block of at least `need` credits of a balance: a tenth of what
/// is left, at least `need`, at most [`MAX_LEASE`] (more only when `need`
/// is), never more than is left. Grants nothing when the balance cannot pay
/// `need`; `None` when there is no balance any more.
pub fn lease(
    conn: &mut AnyConnection,
    owner_id: &str,
    need: i64,
) -> Result<Option<Grant>, ApiError> {
    conn.transaction(|conn| {
        let Some(mut row) = row_for_write(conn, owner_id)? else {
            return Ok(None);
        };
        let refilled = row.refill(now().naive_utc());
        let granted = if row.remaining >= need {
            (row.remaining / LEASE_SHARE)
                .clamp(need, MAX_LEASE.max(need))
                .min(row.remaining)
        } else {
            0
        };
        row.remaining -= granted;
        if refilled || granted > 0 {
            save(conn, &row)?;
        }
        Ok(Some(Grant {
            epoch: row.epoch,
            granted,
            behind: row.remaining,
            ends_ms: row.period_end_ms(),
            period: row.refilled_at,
        }))
    })
}

/// Returns unspent leases `(owner, credits, epoch, period)`; a lease of an
/// older epoch or period is dropped. Returns how many were returned.
pub fn give_back(
    conn: &mut AnyConnection,
    leases: &[(String, i64, i64, NaiveDateTime)],
) -> Result<usize, ApiError> {
    let mut sorted = leases.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    conn.transaction(|conn| {
        let mut returned = 0;
        for (owner, left, epoch, period) in &sorted {
            returned += diesel::update(
                credits::table
                    .filter(credits::owner_id.eq(owner))
                    .filter(credits::epoch.eq(epoch))
                    .filter(credits::refilled_at.eq(period)),
            )
            .set(credits::remaining.eq(credits::remaining + left))
            .execute(conn)?;
        }
        Ok(returned)
    })
}

/// The balances of these owners, by owner.
pub fn of(
    conn: &mut AnyConnection,
    owner_ids: &[String],
) -> QueryResult<HashMap<String, CreditRow>> {
    Ok(credits::table
        .filter(credits::owner_id.eq_any(owner_ids))
        .select(CreditRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| (row.owner_id.clone(), row))
        .collect())
}

/// The balance of one owner.
pub fn one(conn: &mut AnyConnection, owner_id: &str) -> QueryResult<Option<CreditRow>> {
    Ok(of(conn, &[owner_id.to_owned()])?.remove(owner_id))
}

/// Tells the caches of every key a balance concerns that it changed (a
/// key's, or an identity's keys').
fn changed(conn: &mut AnyConnection, owner_id: &str) -> QueryResult<()> {
    if owner_id.starts_with("idn_") {
        keys_changed(conn, owner_id)
    } else {
        changes::record(OWNER_API_KEY, owner_id);
        Ok(())
    }
}

/// Tells the caches that every key of an identity changed.
pub fn keys_changed(conn: &mut AnyConnection, identity_id: &str) -> QueryResult<()> {
    let ids: Vec<String> = api_keys::table
        .filter(api_keys::identity_id.eq(identity_id))
        .select(api_keys::id)
        .load(conn)?;
    for id in ids {
        changes::record(OWNER_API_KEY, &id);
    }
    Ok(())
}

/// Sets an owner's balance (`Some`) or removes it (`None`: unlimited), as a
/// create or PATCH does; what nodes leased before is void.
pub fn put(
    conn: &mut AnyConnection,
    organization_id: &str,
    owner_id: &str,
    input: Option<&CreditsInput>,
) -> Result<Option<CreditRow>, ApiError> {
    let current = row_for_write(conn, owner_id)?;
    if current.is_none() && input.is_none() {
        return Ok(None);
    }
    // Cached copies of the keys concerned hold the balance's epoch.
    changed(conn, owner_id)?;
    let Some(input) = input else {
        diesel::delete(credits::table.filter(credits::owner_id.eq(owner_id))).execute(conn)?;
        return Ok(None);
    };
    let at = now().naive_utc();
    let row = CreditRow {
        owner_id: owner_id.to_owned(),
        organization_id: organization_id.to_owned(),
        remaining: input.remaining,
        refill_interval: input.refill.map(|r| r.interval),
        refill_amount: input.refill.map(|r| r.amount),
        refilled_at: at,
        epoch: current.as_ref().map_or(1, |c| c.epoch + 1),
        updated_at: at,
    };
    if current.is_some() {
        save(conn, &row)?;
    } else {
        diesel::insert_into(credits::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(Some(row))
}

/// Applies a credits operation to an owner's balance (a due refill first).
/// `increment` and `decrement` of an owner without a balance are 409
/// `no_credits`.
pub fn change(
    conn: &mut AnyConnection,
    organization_id: &str,
    owner_id: &str,
    body: ChangeCredits,
) -> Result<CreditRow, ApiError> {
    let current = row_for_write(conn, owner_id)?;
    let Some(mut row) = current else {
        if body.operation != Operation::Set {
            return Err(ApiError::Conflict {
                code: "no_credits",
                detail: format!(
                    "{owner_id} has no credit balance (it is unlimited); set one first"
                ),
            });
        }
        let input = CreditsInput {
            remaining: body.value,
            refill: None,
        };
        return Ok(put(conn, organization_id, owner_id, Some(&input))?.expect("a balance was set"));
    };
    let at = now().naive_utc();
    row.refill(at);
    match body.operation {
        Operation::Set => {
            row.remaining = body.value;
            row.epoch += 1;
            changed(conn, owner_id)?;
        }
        Operation::Increment => row.remaining = (row.remaining + body.value).min(MAX_CREDITS),
        Operation::Decrement => row.remaining = (row.remaining - body.value).max(0),
    }
    row.updated_at = at;
    save(conn, &row)?;
    Ok(row)
}

/// Removes an owner's balance (its owner is deleted for good).
pub fn remove(conn: &mut AnyConnection, owner_id: &str) -> QueryResult<usize> {
    diesel::delete(credits::table.filter(credits::owner_id.eq(owner_id))).execute(conn)
}
