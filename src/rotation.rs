//! The one rotation machinery for every kind of issued key (API keys now,
//! cluster and cluster service keys later): the `key_secrets` rows that let
//! a presented key be found by its hash, issuing a first secret, rotating to
//! a new one while the old stays valid as *pending* for a grace period, and
//! revoking pending secrets early. Functions run inside the caller's
//! transaction.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::key_format::{self, GeneratedKey, KeyKind};
use crate::crypto::hash_key;
use crate::db::schema::key_secrets;
use crate::db::{now, AnyConnection};

/// `state` of the secret a key was last issued or rotated to.
pub const STATE_CURRENT: &str = "current";
/// `state` of a secret that works until its grace period ends.
pub const STATE_PENDING: &str = "pending";
/// Grace period when a rotation names none: seven days.
pub const DEFAULT_GRACE_SECONDS: i64 = 604_800;
/// Longest grace period: thirty days.
pub const MAX_GRACE_SECONDS: i64 = 2_592_000;

/// A usable secret: the hash of a key and whose it is. No `Debug`, so a
/// hash cannot reach a log line.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = key_secrets)]
pub struct KeySecretRow {
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// Owning organization.
    pub organization_id: String,
    /// `api_key`, ...
    pub owner_kind: String,
    /// Id of the owner.
    pub owner_id: String,
    /// First ten characters of the key.
    pub key_prefix: String,
    /// Last four characters of the key.
    pub key_last4: String,
    /// `current` or `pending`.
    pub state: String,
    /// When a pending secret stops working.
    pub pending_expires_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
}

impl KeySecretRow {
    /// Whether this is a pending (rotated-away) secret.
    pub fn is_pending(&self) -> bool {
        self.state == STATE_PENDING
    }

    /// Whether this is a pending secret whose grace period has ended by
    /// `at` (so it no longer works, though it may not be deleted yet).
    pub fn has_ended(&self, at: DateTime<Utc>) -> bool {
        self.pending_expires_at.is_some_and(|t| t.and_utc() <= at)
    }
}

/// Whose secrets: the owner kind and id.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The owning organization.
    pub organization_id: &'a str,
    /// `api_key`, ...
    pub kind: &'a str,
    /// The owner's id.
    pub id: &'a str,
}

/// Inserts a new current secret of the given key kind for an owner and
/// returns the key, to be shown once.
pub fn issue(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    kind: KeyKind,
) -> QueryResult<GeneratedKey> {
    issue_given(conn, owner, key_format::generate(kind))
}

/// Inserts a given key as the owner's current secret.
pub fn issue_given(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    key: GeneratedKey,
) -> QueryResult<GeneratedKey> {
    diesel::insert_into(key_secrets::table)
        .values(KeySecretRow {
            key_hash: hash_key(&key.value),
            organization_id: owner.organization_id.to_owned(),
            owner_kind: owner.kind.to_owned(),
            owner_id: owner.id.to_owned(),
            key_prefix: key.display_prefix(),
            key_last4: key.last4(),
            state: STATE_CURRENT.to_owned(),
            pending_expires_at: None,
            created_at: now().naive_utc(),
        })
        .execute(conn)?;
    Ok(key)
}

fn owned_by(
    owner: Owner<'_>,
) -> diesel::dsl::And<
    diesel::dsl::Eq<key_secrets::owner_kind, String>,
    diesel::dsl::Eq<key_secrets::owner_id, String>,
> {
    key_secrets::owner_kind
        .eq(owner.kind.to_owned())
        .and(key_secrets::owner_id.eq(owner.id.to_owned()))
}

/// Rotates: the current secret becomes pending until `grace_seconds` from
/// now (with a zero grace it is deleted at once), pending secrets whose
/// grace has ended are removed, and a new current secret is issued.
pub fn rotate(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    kind: KeyKind,
    grace_seconds: i64,
) -> QueryResult<GeneratedKey> {
    let at = now();
    let ended = key_secrets::state
        .eq(STATE_PENDING)
        .and(key_secrets::pending_expires_at.le(at.naive_utc()));
    diesel::delete(key_secrets::table.filter(owned_by(owner)).filter(ended)).execute(conn)?;
    let current = key_secrets::table
        .filter(owned_by(owner))
        .filter(key_secrets::state.eq(STATE_CURRENT));
    if grace_seconds == 0 {
        diesel::delete(current).execute(conn)?;
    } else {
        let until = (at + Duration::seconds(grace_seconds)).naive_utc();
        diesel::update(current)
            .set((
                key_secrets::state.eq(STATE_PENDING),
                key_secrets::pending_expires_at.eq(Some(until)),
            ))
            .execute(conn)?;
    }
    issue(conn, owner, kind)
}

/// Ends every pending secret of an owner now; returns how many.
pub fn revoke_pending(conn: &mut AnyConnection, owner: Owner<'_>) -> QueryResult<usize> {
    diesel::delete(
        key_secrets::table
            .filter(owned_by(owner))
            .filter(key_secrets::state.eq(STATE_PENDING)),
    )
    .execute(conn)
}

/// Removes every secret of an owner (when the owner is deleted).
pub fn delete_all(conn: &mut AnyConnection, owner: Owner<'_>) -> QueryResult<usize> {
    diesel::delete(key_secrets::table.filter(owned_by(owner))).execute(conn)
}

/// The still-working pending secrets of the given owners, oldest first.
pub fn pending_of(
    conn: &mut AnyConnection,
    owner_kind: &str,
    owner_ids: &[String],
) -> QueryResult<Vec<KeySecretRow>> {
    if owner_ids.is_empty() {
        return Ok(Vec::new());
    }
    key_secrets::table
        .filter(key_secrets::owner_kind.eq(owner_kind))
        .filter(key_secrets::owner_id.eq_any(owner_ids))
        .filter(key_secrets::state.eq(STATE_PENDING))
        .filter(key_secrets::pending_expires_at.gt(now().naive_utc()))
        .order((key_secrets::created_at.asc(), key_secrets::key_hash.asc()))
        .select(KeySecretRow::as_select())
        .load(conn)
}

/// Body of every `rotate` operation.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the previous key keeps working, in seconds: 0 (stops at
    /// once) to 2,592,000 (30 days); default 604,800 (7 days).
    #[serde(default, deserialize_with = "crate::resources::present_whole")]
    #[validate(range(min = 0, max = 2_592_000, message = "must be between 0 and 2592000"))]
    #[schema(
        nullable = false,
        minimum = 0,
        maximum = 2_592_000,
        default = 604_800,
        example = 86_400
    )]
    pub grace_period_seconds: Option<i64>,
}

impl RotateKey {
    /// The grace period to use.
    pub fn grace_seconds(&self) -> i64 {
        self.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS)
    }
}

/// Body of every `revoke_pending` operation's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedPending {
    /// How many pending keys stopped working.
    #[schema(example = 1, minimum = 0)]
    pub revoked: usize,
}

/// A previous key still valid during its grace period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingKey {
    /// The first ten characters of the previous key.
    #[schema(example = "kg_ak_Zx81")]
    pub key_prefix: String,
    /// The last four characters of the previous key.
    #[schema(example = "Qw3e")]
    pub key_last4: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl From<&KeySecretRow> for PendingKey {
    fn from(row: &KeySecretRow) -> Self {
        PendingKey {
            key_prefix: row.key_prefix.clone(),
            key_last4: row.key_last4.clone(),
            expires_at: row
                .pending_expires_at
                .map(|t| t.and_utc())
                .unwrap_or_default(),
        }
    }
}
