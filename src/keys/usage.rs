//! Usage control on the hot path (issue 19): rate-limit windows counted in
//! memory on each node, and credits spent from blocks leased from the
//! database (`super::credits`), the next block taken in the background
//! while the current one runs low, so a verify waits on the database only
//! when a burst empties a node's lease of a key's credits.
//!
//! Rate limits are fixed windows aligned to the Unix epoch, exact on one
//! node; nodes do not share their counts, so with N nodes a limit of L per
//! window admits at most N × L (docs/OPERATIONS.md). Credits are never
//! overspent: a node spends only what it leased, and a lease is void once
//! its refill period ends or an absolute change (a `set`, a PATCH) raised
//! the balance's epoch.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::credits::{self, CreditsInput, Grant};
use super::records::KeyRecord;
use crate::db::Db;
use crate::error::{ApiError, FieldError};

/// Most rate limits on one key or identity.
pub const MAX_RATELIMITS: usize = 20;

/// A named rate limit: at most `limit` units of cost per `duration`
/// milliseconds, in fixed windows aligned to the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The limit's name, unique on its key or identity; a verify may name
    /// the limits it applies. 1 to 64 of `A-Z a-z 0-9 . _ -`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9._-]{1,64}$",
        example = "requests"
    )]
    pub name: String,
    /// Units of cost allowed per window, 1 to 1,000,000,000.
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 1, maximum = 1_000_000_000, example = 10)]
    pub limit: i64,
    /// The window in milliseconds, 1,000 (a second) to 86,400,000 (a day).
    #[serde(deserialize_with = "crate::fields::whole")]
    #[schema(minimum = 1000, maximum = 86_400_000, example = 1000)]
    pub duration: i64,
}

impl RateLimit {
    /// The field errors of a list of limits at `field`.
    pub fn check_all(field: &str, limits: &[RateLimit]) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if limits.len() > MAX_RATELIMITS {
            errors.push(FieldError::new(
                field,
                "length",
                format!("must hold at most {MAX_RATELIMITS} limits"),
            ));
        }
        for (i, limit) in limits.iter().enumerate() {
            let at = |member: &str| format!("{field}[{i}].{member}");
            let name_ok = (1..=64).contains(&limit.name.len())
                && limit
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !name_ok {
                errors.push(FieldError::new(
                    at("name"),
                    "pattern",
                    "must be 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'",
                ));
            } else if limits[..i].iter().any(|l| l.name == limit.name) {
                errors.push(FieldError::new(
                    at("name"),
                    "unique",
                    "must differ from the other limits' names",
                ));
            }
            if !(1..=1_000_000_000).contains(&limit.limit) {
                errors.push(FieldError::new(
                    at("limit"),
                    "range",
                    "must be 1 to 1000000000",
                ));
            }
            if !(1000..=86_400_000).contains(&limit.duration) {
                errors.push(FieldError::new(
                    at("duration"),
                    "range",
                    "must be 1000 to 86400000 milliseconds",
                ));
            }
        }
        errors
    }

    /// The stored form of a list (`None` for an empty one).
    pub fn to_stored(limits: &[RateLimit]) -> Option<String> {
        (!limits.is_empty()).then(|| serde_json::to_string(limits).expect("rate limits serialize"))
    }

    /// A stored list read back.
    pub fn from_stored(stored: Option<&str>) -> Result<Vec<RateLimit>, &'static str> {
        stored.map_or(Ok(Vec::new()), |text| {
            serde_json::from_str(text).map_err(|_| "ratelimits")
        })
    }
}

/// The field errors of a body's `ratelimits` and `credits` (a key's or an
/// identity's).
pub fn check_usage(
    ratelimits: Option<&[RateLimit]>,
    credits: Option<&CreditsInput>,
) -> Vec<FieldError> {
    let mut errors = ratelimits.map_or_else(Vec::new, |l| RateLimit::check_all("ratelimits", l));
    if let Some(credits) = credits {
        errors.extend(credits.check("credits"));
    }
    errors
}

/// An identity's stored metadata read back.
pub fn metadata_from_stored(
    stored: Option<&str>,
) -> Result<Option<serde_json::Value>, &'static str> {
    stored
        .map(|m| serde_json::from_str(m).map_err(|_| "metadata"))
        .transpose()
}

/// Whose limit or balance it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The key's own.
    Key,
    /// Its identity's, shared by all the identity's keys.
    Identity,
}

/// A key's or identity's credit balance as the record knows it: that there
/// is one, and the epoch of its last absolute change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditTerms {
    /// The balance's epoch; leases from an older one are void.
    pub epoch: i64,
}

/// What usage control knows of a key's identity.
#[derive(Debug, Clone)]
pub struct IdentityUsage {
    /// `idn_` id.
    pub id: String,
    /// The customer's own id.
    pub external_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<serde_json::Value>,
    /// The identity's shared limits.
    pub ratelimits: Vec<RateLimit>,
    /// The identity's shared balance, if limited.
    pub credits: Option<CreditTerms>,
}

/// A key's limits and balance and its identity's, as found with the key.
#[derive(Debug, Clone, Default)]
pub struct KeyUsage {
    /// The key's own limits.
    pub ratelimits: Vec<RateLimit>,
    /// The key's own balance, if limited.
    pub credits: Option<CreditTerms>,
    /// The identity the key belongs to.
    pub identity: Option<IdentityUsage>,
}

impl KeyUsage {
    /// Whether nothing limits the key.
    pub fn is_unlimited(&self) -> bool {
        self.ratelimits.is_empty()
            && self.credits.is_none()
            && self
                .identity
                .as_ref()
                .is_none_or(|i| i.ratelimits.is_empty() && i.credits.is_none())
    }

    /// The limits that apply, with their owner: the key's, then its
    /// identity's; only those named when `names` is given.
    fn limits<'a>(
        &'a self,
        key_id: &'a str,
        names: Option<&'a [String]>,
    ) -> impl Iterator<Item = (Scope, &'a str, &'a RateLimit)> + 'a {
        let own = self.ratelimits.iter().map(move |l| (Scope::Key, key_id, l));
        let shared = self.identity.iter().flat_map(|i| {
            i.ratelimits
                .iter()
                .map(move |l| (Scope::Identity, i.id.as_str(), l))
        });
        own.chain(shared)
            .filter(move |(_, _, l)| names.is_none_or(|n| n.contains(&l.name)))
    }
}

/// One applied limit in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitState {
    /// The limit's name.
    pub name: String,
    /// Whose limit it is.
    pub scope: Scope,
    /// Units per window.
    pub limit: i64,
    /// Window in milliseconds.
    pub duration: i64,
    /// Units left in the window after this request.
    pub remaining: i64,
    /// When the window ends, in Unix milliseconds.
    pub reset_at_ms: i64,
    /// Whether this request was over the limit.
    pub exceeded: bool,
}

impl LimitState {
    /// When the window ends.
    pub fn reset_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.reset_at_ms).unwrap_or_default()
    }
}

/// One balance in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceState {
    /// Whose balance it is.
    pub scope: Scope,
    /// Credits left, as this node knows them.
    pub remaining: i64,
}

/// Why a metered request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A rate limit is exhausted for its window.
    RateLimited,
    /// A credit balance cannot pay the cost.
    UsageExceeded,
}

/// The outcome of metering one request.
#[derive(Debug, Clone, Default)]
pub struct Metered {
    /// Every applied limit.
    pub ratelimits: Vec<LimitState>,
    /// Every balance spent from.
    pub credits: Vec<BalanceState>,
    /// Why the request is refused; `None`: admitted (and counted).
    pub refusal: Option<Refusal>,
}

/// Now in Unix milliseconds, for a grant that arrives after its request.
fn grant_time() -> i64 {
    crate::db::now().timestamp_millis()
}

/// The maps are split by owner into this many parts, each behind its own
/// lock.
const SHARDS: usize = 16;

type Hasher = foldhash::fast::RandomState;

/// A map split into shards by key.
struct Sharded<V> {
    hasher: Hasher,
    shards: Box<[Mutex<HashMap<String, V, Hasher>>]>,
}

impl<V> Default for Sharded<V> {
    fn default() -> Self {
        let hasher = Hasher::default();
        Sharded {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            hasher,
        }
    }
}

impl<V> Sharded<V> {
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, V, Hasher>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[index].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the entry of `key`, made with `make` when missing.
    fn with<T>(&self, key: &str, make: impl FnOnce() -> V, f: impl FnOnce(&mut V) -> T) -> T {
        let mut shard = self.shard(key);
        if let Some(v) = shard.get_mut(key) {
            return f(v);
        }
        f(shard.entry(key.to_owned()).or_insert_with(make))
    }

    fn retain(&self, mut keep: impl FnMut(&V) -> bool) {
        for shard in self.shards.iter() {
            shard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, v| keep(v));
        }
    }

    fn drain(&self) -> Vec<(String, V)> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// The count of one limit in its current window.
#[derive(Debug, Clone)]
struct Window {
    name: String,
    duration: i64,
    start: i64,
    count: i64,
}

/// The windows of one owner (a key or an identity).
type Windows = Vec<Window>;

/// A node's lease of one balance.
#[derive(Debug, Clone)]
struct Lease {
    /// The balance's epoch when leased.
    epoch: i64,
    /// Credits this node may still spend.
    left: i64,
    /// What the database held after the lease.
    behind: i64,
    /// When the refill period ends (the lease is void after), if refilled.
    ends_ms: Option<i64>,
    /// Start of the refill period it was leased in.
    period: NaiveDateTime,
    /// Size of the last grant (the low-water mark is a quarter of it).
    granted: i64,
    /// Whether a lease taken ahead is on its way.
    renewing: bool,
}

impl Lease {
    fn is_void(&self, epoch: i64, now_ms: i64) -> bool {
        self.epoch < epoch || self.ends_ms.is_some_and(|end| now_ms >= end)
    }
}

/// A spend from a lease.
enum Spend {
    /// Paid; the balance as this node knows it, and whether to lease ahead
    /// now (the lease ran below its low-water mark).
    Paid(i64, bool),
    /// The lease is short by this much.
    Short(i64),
}

/// The node's usage counters: rate-limit windows and credit leases.
#[derive(Default)]
pub struct Metering {
    windows: Sharded<Windows>,
    leases: Sharded<Lease>,
}

impl std::fmt::Debug for Metering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metering")
            .field("owners_with_windows", &self.windows.len())
            .field("leases", &self.leases.len())
            .finish()
    }
}

impl Metering {
    /// Meters one request of `record`'s key: the applied limits (those in
    /// `names`, or all of the key's and its identity's) count `cost`, and
    /// with `spend` the key's and identity's balances pay it. All or
    /// nothing: a refused request counts against no limit and spends no
    /// credit. Waits on the database only to lease credits.
    pub async fn meter(
        self: &Arc<Self>,
        db: &Db,
        record: &KeyRecord,
        names: Option<&[String]>,
        cost: i64,
        spend: bool,
        at: DateTime<Utc>,
    ) -> Result<Metered, ApiError> {
        let usage = &record.usage;
        if usage.is_unlimited() {
            return Ok(Metered::default());
        }
        let now_ms = at.timestamp_millis();
        let mut metered = Metered::default();
        // A database error while leasing undoes the request's counts and
        // payments as a refusal does, then is the answer.
        let mut failed = None;
        for (scope, owner, limit) in usage.limits(&record.key_id, names) {
            let state = self.count(owner, scope, limit, cost, now_ms);
            if state.exceeded {
                metered.refusal = Some(Refusal::RateLimited);
            }
            metered.ratelimits.push(state);
        }
        if metered.refusal.is_none() && spend && cost > 0 {
            let balances = [
                usage
                    .credits
                    .map(|t| (Scope::Key, record.key_id.as_str(), t)),
                usage
                    .identity
                    .as_ref()
                    .and_then(|i| i.credits.map(|t| (Scope::Identity, i.id.as_str(), t))),
            ];
            // The balances paid are the first `paid` of `balances` (and of
            // `metered.credits`): no list of them on the happy path.
            let mut paid = 0;
            for &(scope, owner, terms) in balances.iter().flatten() {
                match self.pay(db, owner, terms, cost, now_ms).await {
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                    Ok(Some(remaining)) => {
                        paid += 1;
                        metered.credits.push(BalanceState { scope, remaining });
                    }
                    Ok(None) => {
                        metered.refusal = Some(Refusal::UsageExceeded);
                        metered.credits.push(BalanceState {
                            scope,
                            remaining: 0,
                        });
                        break;
                    }
                }
            }
            if metered.refusal.is_some() || failed.is_some() {
                let owners = balances.iter().flatten().map(|&(_, owner, _)| owner);
                for (owner, state) in owners.take(paid).zip(metered.credits.iter_mut()) {
                    self.refund(owner, cost);
                    state.remaining += cost;
                }
            }
        }
        if (metered.refusal.is_some() || failed.is_some()) && cost > 0 {
            // Take back what was counted: the limits not exceeded, in the
            // order they were applied (the same iterator as above).
            let applied = usage.limits(&record.key_id, names);
            for ((_, owner, limit), state) in applied.zip(metered.ratelimits.iter_mut()) {
                if !state.exceeded {
                    self.uncount(owner, limit, cost, state.reset_at_ms - limit.duration);
                    state.remaining = (state.remaining + cost).min(state.limit);
                }
            }
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(metered),
        }
    }

    /// Counts `cost` against one limit if it fits in the current window.
    fn count(
        &self,
        owner: &str,
        scope: Scope,
        limit: &RateLimit,
        cost: i64,
        now_ms: i64,
    ) -> LimitState {
        let start = now_ms - now_ms.rem_euclid(limit.duration);
        self.windows.with(owner, Vec::new, |windows| {
            let window = match windows.iter_mut().position(|w| w.name == limit.name) {
                Some(i) => &mut windows[i],
                None => {
                    windows.push(Window {
                        name: limit.name.clone(),
                        duration: limit.duration,
                        start,
                        count: 0,
                    });
                    windows.last_mut().expect("just pushed")
                }
            };
            if window.start != start || window.duration != limit.duration {
                window.start = start;
                window.duration = limit.duration;
                window.count = 0;
            }
            let exceeded = window.count + cost > limit.limit;
            if !exceeded {
                window.count += cost;
            }
            LimitState {
                name: limit.name.clone(),
                scope,
                limit: limit.limit,
                duration: limit.duration,
                remaining: (limit.limit - window.count).max(0),
                reset_at_ms: start + limit.duration,
                exceeded,
            }
        })
    }

    /// Takes back a count made in the window starting at `start`.
    fn uncount(&self, owner: &str, limit: &RateLimit, cost: i64, start: i64) {
        self.windows.with(owner, Vec::new, |windows| {
            if let Some(w) = windows
                .iter_mut()
                .find(|w| w.name == limit.name && w.start == start)
            {
                w.count = (w.count - cost).max(0);
            }
        });
    }

    /// Spends from this node's lease of a balance.
    fn spend(&self, owner: &str, terms: CreditTerms, cost: i64, now_ms: i64) -> Spend {
        let mut shard = self.leases.shard(owner);
        match shard.get_mut(owner) {
            Some(lease) if lease.is_void(terms.epoch, now_ms) => {
                shard.remove(owner);
                Spend::Short(cost)
            }
            Some(lease) if lease.left >= cost => {
                lease.left -= cost;
                let renew = !lease.renewing && lease.behind > 0 && lease.left < lease.granted / 4;
                lease.renewing |= renew;
                Spend::Paid(lease.left + lease.behind, renew)
            }
            Some(lease) => Spend::Short(cost - lease.left),
            None => Spend::Short(cost),
        }
    }

    /// Pays `cost` from a balance, leasing more from the database when the
    /// node's lease is short; `None` when the balance cannot pay.
    async fn pay(
        self: &Arc<Self>,
        db: &Db,
        owner: &str,
        terms: CreditTerms,
        cost: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, ApiError> {
        let need = match self.spend(owner, terms, cost, now_ms) {
            Spend::Paid(remaining, renew) => {
                if renew {
                    // Lease ahead, off the request's path, so the key's
                    // requests do not all wait on the database when the
                    // lease runs out.
                    let (this, db, id) = (Arc::clone(self), db.clone(), owner.to_owned());
                    actix_web::rt::spawn(async move { this.renew(&db, &id).await });
                }
                return Ok(Some(remaining));
            }
            Spend::Short(need) => need,
        };
        let id = owner.to_owned();
        let grant = db
            .write(move |conn| credits::lease(conn, &id, need))
            .await?;
        let Some(grant) = grant else {
            // The balance was removed meanwhile: the key is unlimited now.
            return Ok(Some(0));
        };
        Ok(self.add_lease(owner, grant, cost, now_ms))
    }

    /// Takes the next lease of a balance ahead of need.
    async fn renew(&self, db: &Db, owner: &str) {
        let id = owner.to_owned();
        match db.write(move |conn| credits::lease(conn, &id, 1)).await {
            Ok(Some(grant)) => {
                self.add_lease(owner, grant, 0, grant_time());
            }
            Ok(None) => {}
            Err(err) => log::warn!("could not lease credits ahead: {err}"),
        }
        if let Some(lease) = self.leases.shard(owner).get_mut(owner) {
            lease.renewing = false;
        }
    }

    /// Adds a grant to the node's lease and pays `cost` from it if it can.
    fn add_lease(&self, owner: &str, grant: Grant, cost: i64, now_ms: i64) -> Option<i64> {
        let mut shard = self.leases.shard(owner);
        let lease = shard.entry(owner.to_owned()).or_insert_with(|| Lease {
            epoch: grant.epoch,
            left: 0,
            behind: grant.behind,
            ends_ms: grant.ends_ms,
            period: grant.period,
            granted: grant.granted,
            renewing: false,
        });
        if grant.granted > 0 {
            lease.granted = grant.granted;
        }
        if lease.epoch != grant.epoch
            || lease.period != grant.period
            || lease.is_void(grant.epoch, now_ms)
        {
            // Leased under an older epoch or period: what is left is void.
            lease.left = 0;
            lease.epoch = grant.epoch;
            lease.period = grant.period;
            lease.ends_ms = grant.ends_ms;
        }
        lease.left += grant.granted;
        lease.behind = grant.behind;
        if lease.left >= cost {
            lease.left -= cost;
            Some(lease.left + lease.behind)
        } else {
            None
        }
    }

    /// Puts `cost` back into the node's lease of a balance.
    fn refund(&self, owner: &str, cost: i64) {
        if let Some(lease) = self.leases.shard(owner).get_mut(owner) {
            lease.left += cost;
        }
    }

    /// Forgets windows that ended before `at` (called periodically).
    pub fn sweep(&self, at: DateTime<Utc>) {
        let now_ms = at.timestamp_millis();
        self.windows
            .retain(|windows| windows.iter().any(|w| w.start + w.duration > now_ms));
    }

    /// Returns the unspent part of every lease to the database (at a clean
    /// stop); a lease whose epoch or period has passed is dropped.
    pub async fn give_back(&self, db: &Db) {
        let leases: Vec<(String, i64, i64, NaiveDateTime)> = self
            .leases
            .drain()
            .into_iter()
            .filter(|(_, l)| l.left > 0)
            .map(|(owner, l)| (owner, l.left, l.epoch, l.period))
            .collect();
        if leases.is_empty() {
            return;
        }
        let count = leases.len();
        let result = db
            .write(move |conn| credits::give_back(conn, &leases))
            .await;
        match result {
            Ok(returned) => {
                log::info!("returned the unspent credits of {returned} of {count} leases")
            }
            Err(err) => log::warn!("could not return the unspent credits of {count} leases: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str, limit: i64, duration: i64) -> RateLimit {
        RateLimit {
            name: name.into(),
            limit,
            duration,
        }
    }

    #[test]
    fn a_window_admits_its_limit_then_refuses_until_it_resets() {
        let m = Metering::default();
        let l = limit("requests", 10, 1000);
        let t = 1_700_000_000_250;
        for i in 0..10 {
            let s = m.count("aky_a", Scope::Key, &l, 1, t + i);
            assert!(!s.exceeded);
            assert_eq!(s.remaining, 9 - i);
            assert_eq!(s.reset_at_ms, 1_700_000_001_000);
        }
        assert!(m.count("aky_a", Scope::Key, &l, 1, t + 20).exceeded);
        assert!(!m.count("aky_b", Scope::Key, &l, 1, t + 20).exceeded);
        assert!(
            !m.count("aky_a", Scope::Key, &l, 1, 1_700_000_001_000)
                .exceeded
        );
    }

    #[test]
    fn a_cost_larger_than_what_is_left_is_refused_and_not_counted() {
        let m = Metering::default();
        let l = limit("tokens", 10, 60_000);
        assert!(!m.count("aky_a", Scope::Key, &l, 7, 0).exceeded);
        let s = m.count("aky_a", Scope::Key, &l, 4, 1);
        assert!(s.exceeded);
        assert_eq!(s.remaining, 3);
        assert!(!m.count("aky_a", Scope::Key, &l, 3, 2).exceeded);
    }

    #[test]
    fn limit_rules_name_each_field() {
        let bad = [
            limit("a b", 0, 10),
            limit("x", 1, 1000),
            limit("x", 1, 1000),
        ];
        let fields: Vec<String> = RateLimit::check_all("ratelimits", &bad)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "ratelimits[0].name",
                "ratelimits[0].limit",
                "ratelimits[0].duration",
                "ratelimits[2].name"
            ]
        );
    }

    #[test]
    fn a_lease_pays_until_it_is_short_and_is_void_after_its_period() {
        let m = Metering::default();
        let terms = CreditTerms { epoch: 1 };
        let grant = Grant {
            epoch: 1,
            granted: 3,
            behind: 7,
            ends_ms: Some(1000),
            period: NaiveDateTime::default(),
        };
        assert_eq!(m.add_lease("aky_a", grant, 1, 0), Some(9));
        assert!(matches!(
            m.spend("aky_a", terms, 2, 10),
            Spend::Paid(7, false)
        ));
        assert!(matches!(m.spend("aky_a", terms, 1, 10), Spend::Short(1)));
        assert!(matches!(m.spend("aky_a", terms, 1, 1000), Spend::Short(1)));
        let newer = CreditTerms { epoch: 2 };
        assert_eq!(
            m.add_lease(
                "aky_b",
                Grant {
                    ends_ms: None,
                    ..grant
                },
                1,
                0
            ),
            Some(9)
        );
        assert!(matches!(m.spend("aky_b", newer, 1, 0), Spend::Short(1)));
    }

    #[test]
    fn a_lease_below_a_quarter_asks_once_to_lease_ahead() {
        let m = Metering::default();
        let terms = CreditTerms { epoch: 1 };
        let grant = Grant {
            epoch: 1,
            granted: 100,
            behind: 900,
            ends_ms: None,
            period: NaiveDateTime::default(),
        };
        assert_eq!(m.add_lease("aky_a", grant, 70, 0), Some(930));
        assert!(matches!(
            m.spend("aky_a", terms, 6, 0),
            Spend::Paid(924, true)
        ));
        assert!(matches!(
            m.spend("aky_a", terms, 5, 0),
            Spend::Paid(919, false)
        ));
        let last = Grant { behind: 0, ..grant };
        assert_eq!(m.add_lease("aky_b", last, 80, 0), Some(20));
        assert!(
            matches!(m.spend("aky_b", terms, 1, 0), Spend::Paid(19, false)),
            "nothing left to lease"
        );
    }
}
