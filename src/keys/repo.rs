//! Storage of issued keys, the one rotation machinery for every kind (API
//! keys, cluster keys, cluster service keys): issuing a first secret,
//! rotating to a new one while the old stays valid as *pending* for a grace
//! period, revoking pending secrets early, and finding the API key a
//! presented key belongs to. Functions run inside the caller's transaction;
//! those that change an owner's secrets record it (`db::changes`), so the
//! caches drop the owner once the transaction commits.

use chrono::Duration;
use diesel::prelude::*;

use super::format::{self, GeneratedKey, KeyKind};
use super::model::{KeySecretRow, STATE_CURRENT, STATE_PENDING};
use super::records::KeyRecord;
use super::rights::Rights;
use super::usage::{metadata_from_stored, CreditTerms, IdentityUsage, KeyUsage, RateLimit};
use super::OWNER_API_KEY;
use crate::crypto::hash_key;
use crate::db::changes;
use crate::db::schema::{api_keys, credits, identities, key_secrets};
use crate::db::{now, AnyConnection};
use crate::error::ApiError;

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
    issue_given(conn, owner, format::generate(kind))
}

/// Inserts a given key as the owner's current secret.
pub fn issue_given(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    key: GeneratedKey,
) -> QueryResult<GeneratedKey> {
    issue_hashed(
        conn,
        owner,
        &hash_key(&key.value),
        &key.display_prefix(),
        &key.last4(),
    )?;
    Ok(key)
}

/// Inserts the owner's current secret by its hex SHA-256 alone (a key
/// imported from elsewhere, whose text keygate never sees).
pub fn issue_hashed(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    key_hash: &str,
    key_prefix: &str,
    key_last4: &str,
) -> QueryResult<()> {
    diesel::insert_into(key_secrets::table)
        .values(KeySecretRow {
            key_hash: key_hash.to_owned(),
            organization_id: owner.organization_id.to_owned(),
            owner_kind: owner.kind.to_owned(),
            owner_id: owner.id.to_owned(),
            key_prefix: key_prefix.to_owned(),
            key_last4: key_last4.to_owned(),
            state: STATE_CURRENT.to_owned(),
            pending_expires_at: None,
            created_at: now().naive_utc(),
        })
        .execute(conn)
        .map(drop)
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
    changes::record(owner.kind, owner.id);
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
    let revoked = diesel::delete(
        key_secrets::table
            .filter(owned_by(owner))
            .filter(key_secrets::state.eq(STATE_PENDING)),
    )
    .execute(conn)?;
    if revoked > 0 {
        changes::record(owner.kind, owner.id);
    }
    Ok(revoked)
}

/// Deletes the one secret with this hash (a leaked key revoked); its
/// owner's other secrets stay. Returns whether it existed.
pub fn revoke_secret(
    conn: &mut AnyConnection,
    owner: Owner<'_>,
    key_hash: &str,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        key_secrets::table
            .filter(owned_by(owner))
            .filter(key_secrets::key_hash.eq(key_hash)),
    )
    .execute(conn)?;
    if deleted > 0 {
        changes::record(owner.kind, owner.id);
    }
    Ok(deleted > 0)
}

/// The secret a hash belongs to, of any owner kind (a leak report's
/// look-up).
pub fn find_secret(conn: &mut AnyConnection, key_hash: &str) -> QueryResult<Option<KeySecretRow>> {
    key_secrets::table
        .filter(key_secrets::key_hash.eq(key_hash))
        .select(KeySecretRow::as_select())
        .first(conn)
        .optional()
}

/// Removes every secret of an owner (when the owner is deleted).
pub fn delete_all(conn: &mut AnyConnection, owner: Owner<'_>) -> QueryResult<usize> {
    let deleted = diesel::delete(key_secrets::table.filter(owned_by(owner))).execute(conn)?;
    if deleted > 0 {
        changes::record(owner.kind, owner.id);
    }
    Ok(deleted)
}

/// The condition of a still-working pending secret of an owner of
/// `owner_kind`: rotated away, its grace not yet over.
pub type StillPending = diesel::dsl::And<
    diesel::dsl::And<
        diesel::dsl::Eq<key_secrets::owner_kind, String>,
        diesel::dsl::Eq<key_secrets::state, &'static str>,
    >,
    diesel::dsl::Gt<key_secrets::pending_expires_at, chrono::NaiveDateTime>,
>;

/// See [`StillPending`].
pub fn still_pending(owner_kind: &str) -> StillPending {
    key_secrets::owner_kind
        .eq(owner_kind.to_owned())
        .and(key_secrets::state.eq(STATE_PENDING))
        .and(key_secrets::pending_expires_at.gt(now().naive_utc()))
}

/// The order pending secrets are shown in: oldest first.
pub const PENDING_ORDER: (key_secrets::created_at, key_secrets::key_hash) =
    (key_secrets::created_at, key_secrets::key_hash);

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
        .filter(still_pending(owner_kind))
        .filter(key_secrets::owner_id.eq_any(owner_ids))
        .order((PENDING_ORDER.0.asc(), PENDING_ORDER.1.asc()))
        .select(KeySecretRow::as_select())
        .load(conn)
}

/// The change kind of an API key secret that starts to authenticate
/// where it did not (imported, or its key undeleted); its id is the
/// secret's hash, so the caches drop a cached "no such key" for it.
pub const KEY_APPEARED: &str = "key_hash";

/// Records that a secret authenticates from now on where it did not (an
/// imported hash, which may have been presented before) ([`KEY_APPEARED`]).
/// A key keygate generates needs none: nobody presented it before.
pub fn appeared(key_hash: &str) {
    changes::record(KEY_APPEARED, key_hash);
}

/// Records that every secret of `owner` authenticates again ([`KEY_APPEARED`]).
pub fn reappeared(conn: &mut AnyConnection, owner: Owner<'_>) -> QueryResult<()> {
    let hashes: Vec<String> = key_secrets::table
        .filter(owned_by(owner))
        .select(key_secrets::key_hash)
        .load(conn)?;
    for hash in hashes {
        appeared(&hash);
    }
    Ok(())
}

/// Records that the key an owner's secrets stand for changed in a way a
/// cached look-up holds (an API key's rights or `enabled`), so the caches
/// drop it once the transaction commits.
pub fn changed(owner: Owner<'_>) {
    changes::record(owner.kind, owner.id);
}

/// Finds the API key a presented key's hash belongs to: the identity
/// authentication and verification read.
pub fn find_api_key(conn: &mut AnyConnection, hash: &str) -> Result<Option<KeyRecord>, ApiError> {
    type Columns = (
        String,
        String,
        bool,
        String,
        Option<String>,
        Option<String>,
        Option<chrono::NaiveDateTime>,
        Option<String>,
    );
    type UsageColumns = (Option<String>, Option<String>, Option<i64>);
    let found = key_secrets::table
        .inner_join(api_keys::table.on(api_keys::id.eq(key_secrets::owner_id)))
        .left_join(credits::table.on(credits::owner_id.eq(api_keys::id)))
        .filter(key_secrets::key_hash.eq(hash))
        .filter(key_secrets::owner_kind.eq(OWNER_API_KEY))
        // A key deleted into the recovery window never authenticates.
        .filter(api_keys::deleted_at.is_null())
        .select((
            (
                api_keys::id,
                api_keys::organization_id,
                api_keys::enabled,
                api_keys::api_key_role,
                api_keys::api_policy,
                api_keys::allowed_cidrs,
                api_keys::expires_at,
                api_keys::resource_scopes,
            ),
            (
                api_keys::identity_id,
                api_keys::ratelimits,
                credits::epoch.nullable(),
            ),
            KeySecretRow::as_select(),
        ))
        .first::<(Columns, UsageColumns, KeySecretRow)>(conn)
        .optional()?;
    let Some((
        (key_id, organization_id, enabled, role, policy, cidrs, expires_at, scopes),
        (identity_id, ratelimits, epoch),
        secret,
    )) = found
    else {
        return Ok(None);
    };
    let corrupt = |what| ApiError::internal(format!("api key {key_id} has a corrupt {what}"));
    let rights = Rights::from_stored(
        &role,
        policy.as_deref(),
        cidrs.as_deref(),
        expires_at.map(|t| t.and_utc()),
        scopes.as_deref(),
    )
    .map_err(corrupt)?;
    let usage = KeyUsage {
        ratelimits: RateLimit::from_stored(ratelimits.as_deref()).map_err(corrupt)?,
        credits: epoch.map(|epoch| CreditTerms { epoch }),
        identity: match identity_id {
            Some(id) => find_identity(conn, &id)?,
            None => None,
        },
    };
    Ok(Some(KeyRecord {
        key_id,
        organization_id,
        enabled,
        rights,
        secret,
        usage,
    }))
}

/// What usage control needs of a key's identity.
fn find_identity(conn: &mut AnyConnection, id: &str) -> Result<Option<IdentityUsage>, ApiError> {
    type Columns = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let found = identities::table
        .left_join(credits::table.on(credits::owner_id.eq(identities::id)))
        .filter(identities::id.eq(id))
        .select((
            identities::id,
            identities::external_id,
            identities::name,
            identities::metadata,
            identities::ratelimits,
            credits::epoch.nullable(),
        ))
        .first::<Columns>(conn)
        .optional()?;
    let Some((id, external_id, name, metadata, ratelimits, epoch)) = found else {
        return Ok(None);
    };
    let corrupt = |what| ApiError::internal(format!("identity {id} has a corrupt {what}"));
    let metadata = metadata_from_stored(metadata.as_deref()).map_err(corrupt)?;
    Ok(Some(IdentityUsage {
        ratelimits: RateLimit::from_stored(ratelimits.as_deref()).map_err(corrupt)?,
        credits: epoch.map(|epoch| CreditTerms { epoch }),
        id,
        external_id,
        name,
        metadata,
    }))
}
