//! The authentication cache: a presented key's hash to what the database
//! said of it (or that it does not exist), kept for a bounded time. After a
//! key's first use, authenticating and verifying it touch no database until
//! the entry is older than the TTL (default 60 s). A change made on this
//! node drops the affected entries at once, and an answer fetched before
//! such a drop is not cached (it may predate the change); another node on
//! the same PostgreSQL drops them when it reads the change's invalidation
//! row (`crate::db::peers`: within about a second), the TTL being the last
//! resort. Which entries to drop comes from what a committed write changed
//! ([`KeyCaches::forget`], registered with `Db::after_commit` at start and
//! with the invalidation follower), never from a call a handler must
//! remember.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::records::{ClusterKeyRecord, KeyRecord};
use super::repo::KEY_APPEARED;
use super::{OWNER_API_KEY, OWNER_CLUSTER, OWNER_CLUSTER_SERVICE};
use crate::db::changes::Changed;
use crate::db::{AnyConnection, Db};
use crate::error::ApiError;

/// Most entries kept; past it, the oldest are dropped first.
const MAX_ENTRIES: usize = 100_000;

/// The entries are split by hash into this many parts, each behind its own
/// lock: a miss being stored locks one part, and the look-ups of the other
/// keys go on beside it.
const SHARDS: usize = 16;

/// The maps' hasher: the keys are SHA-256 hashes, already uniform, and
/// foldhash (seeded per process) costs a fraction of SipHash on them.
type Hasher = foldhash::fast::RandomState;

/// What a cache holds of a found key: whose secret it is, so a change to
/// the owner can drop its entries.
pub trait CachedRecord {
    /// The cache's name in the metrics (`crate::metrics::CACHES`).
    const CACHE: &'static str;

    /// The id of the secret's owner (`owner_id` of `key_secrets`).
    fn owner_id(&self) -> &str;
}

impl CachedRecord for KeyRecord {
    const CACHE: &'static str = "api_keys";

    fn owner_id(&self) -> &str {
        &self.secret.owner_id
    }
}

impl CachedRecord for ClusterKeyRecord {
    const CACHE: &'static str = "clusters";

    fn owner_id(&self) -> &str {
        &self.secret.owner_id
    }
}

struct Entry<R> {
    record: Option<Arc<R>>,
    fetched: Instant,
}

/// One part of the entries, and two indexes that keep every change to it
/// bounded: the order the entries were stored in (expired ones leave from
/// its front as new ones come in, so none outlives the TTL by more than
/// the time to the next store; never a scan of the whole map), and each
/// owner's hashes (a key change drops its own entries only).
struct Shard<R> {
    by_hash: HashMap<Arc<str>, Entry<R>, Hasher>,
    /// Hashes by the time they were stored, oldest first. A hash stored
    /// again (or dropped) stays here until it comes to the front, where
    /// it only removes the entry stored at that very time.
    stored: VecDeque<(Arc<str>, Instant)>,
    by_owner: HashMap<Arc<str>, Vec<Arc<str>>, Hasher>,
    /// When entries were last dropped for a change.
    dropped: Option<Instant>,
}

impl<R: CachedRecord> Shard<R> {
    fn new() -> Shard<R> {
        Shard {
            by_hash: HashMap::default(),
            stored: VecDeque::new(),
            by_owner: HashMap::default(),
            dropped: None,
        }
    }

    /// Removes the entry of `hash` (if it is the one stored at `stored`,
    /// when given) and its place in its owner's list.
    fn remove(&mut self, hash: &str, stored: Option<Instant>) {
        let Some(entry) = self.by_hash.get(hash) else {
            return;
        };
        if stored.is_some_and(|at| at != entry.fetched) {
            return;
        }
        if let Some(entry) = self.by_hash.remove(hash) {
            if let Some(record) = entry.record {
                self.unlink_owner(record.owner_id(), hash);
            }
        }
    }

    fn unlink_owner(&mut self, owner: &str, hash: &str) {
        if let Some(hashes) = self.by_owner.get_mut(owner) {
            hashes.retain(|h| &**h != hash);
            if hashes.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }

    /// Drops what expired from the front of the store order, and the
    /// oldest entries while the part holds its share of [`MAX_ENTRIES`].
    fn expire(&mut self, ttl: Duration, now: Instant) {
        while let Some((hash, at)) = self.stored.front().cloned() {
            let expired = now.saturating_duration_since(at) >= ttl;
            let full = self.by_hash.len() >= MAX_ENTRIES / SHARDS;
            if !expired && !full && self.stored.len() <= 2 * MAX_ENTRIES / SHARDS {
                break;
            }
            self.stored.pop_front();
            self.remove(&hash, Some(at));
        }
    }

    fn insert(&mut self, hash: String, record: Option<Arc<R>>, fetched: Instant) {
        let hash: Arc<str> = Arc::from(hash);
        self.remove(&hash, None);
        if let Some(record) = &record {
            let owner = record.owner_id();
            match self.by_owner.get_mut(owner) {
                Some(hashes) => hashes.push(hash.clone()),
                None => {
                    self.by_owner.insert(Arc::from(owner), vec![hash.clone()]);
                }
            }
        }
        self.stored.push_back((hash.clone(), fetched));
        self.by_hash.insert(hash, Entry { record, fetched });
    }

    fn invalidate_owner(&mut self, owner_id: &str, now: Instant) {
        self.dropped = Some(now);
        if let Some(hashes) = self.by_owner.remove(owner_id) {
            for hash in hashes {
                self.by_hash.remove(&hash);
            }
        }
    }
}

/// Hash-to-record cache with a time-to-live: API keys by default; cluster
/// keys have their own ([`ClusterKeyRecord`]).
pub struct KeyCache<R = KeyRecord> {
    ttl: Duration,
    shards: Box<[RwLock<Shard<R>>]>,
    /// Picks a hash's part (the hashes are hex; a look-up's key is not
    /// hashed twice with the maps' hasher).
    pick: Hasher,
}

impl<R> std::fmt::Debug for KeyCache<R> {
    // Never prints the hashes it holds.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<R: CachedRecord> KeyCache<R> {
    /// A cache whose entries live `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> KeyCache<R> {
        KeyCache {
            ttl,
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::new())).collect(),
            pick: Hasher::default(),
        }
    }

    fn shard(&self, hash: &str) -> &RwLock<Shard<R>> {
        use std::hash::BuildHasher;
        let at = usize::try_from(self.pick.hash_one(hash)).unwrap_or_default() % SHARDS;
        &self.shards[at]
    }

    fn write(shard: &RwLock<Shard<R>>) -> RwLockWriteGuard<'_, Shard<R>> {
        shard.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh answer for a hash: `Some(None)` means "known not to exist".
    pub fn get(&self, hash: &str) -> Option<Option<Arc<R>>> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard
            .by_hash
            .get(hash)
            .filter(|e| e.fetched.elapsed() < self.ttl)
            .map(|e| e.record.clone())
    }

    /// Remembers what the database said of a hash, fetched at `fetched`
    /// (taken before the query). Not kept when entries were dropped since:
    /// the query may have read the state from before that change.
    pub fn put(&self, hash: String, record: Option<Arc<R>>, fetched: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut shard = Self::write(self.shard(&hash));
        if shard.dropped.is_some_and(|dropped| dropped >= fetched) {
            return;
        }
        shard.expire(self.ttl, Instant::now());
        shard.insert(hash, record, fetched);
    }

    /// Drops every entry of an owner (a key changed, rotated or deleted here).
    pub fn invalidate_owner(&self, owner_id: &str) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            Self::write(shard).invalidate_owner(owner_id, now);
        }
    }

    /// Drops what is held for one hash: a key that was not there (deleted,
    /// or never issued here) has just appeared, and an earlier "no such
    /// key" must not outlive it.
    pub fn forget_hash(&self, hash: &str) {
        let mut shard = Self::write(self.shard(hash));
        shard.dropped = Some(Instant::now());
        shard.by_hash.remove(hash);
    }

    /// How many entries are held (fresh or not yet removed).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).by_hash.len())
            .sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (this node may have missed other nodes' changes).
    pub fn clear(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            let mut shard = Self::write(shard);
            shard.dropped = Some(now);
            shard.by_hash.clear();
            shard.stored.clear();
            shard.by_owner.clear();
        }
    }

    /// Finds a well-formed presented key's record by its hash: from the
    /// cache while fresh, else with `find` on the database, caching the
    /// answer (found or not).
    pub async fn lookup(
        &self,
        db: &Db,
        key: &str,
        find: fn(&mut AnyConnection, &str) -> Result<Option<R>, ApiError>,
    ) -> Result<Option<Arc<R>>, ApiError>
    where
        R: Send + Sync + 'static,
    {
        let hash = crate::crypto::hash_key(key);
        let counters = crate::metrics::metrics().cache(R::CACHE);
        if let Some(record) = self.get(&hash) {
            counters.hits.inc();
            return Ok(record);
        }
        counters.misses.inc();
        let fetched = Instant::now();
        let query_hash = hash.clone();
        let record = db
            .read(move |conn| find(conn, &query_hash))
            .await?
            .map(Arc::new);
        self.put(hash, record.clone(), fetched);
        Ok(record)
    }
}

/// The node's look-up caches: API keys, and cluster and cluster service
/// keys, each trusted for the same time.
#[derive(Debug)]
pub struct KeyCaches {
    /// API keys.
    pub api_keys: KeyCache<KeyRecord>,
    /// Cluster and cluster service keys.
    pub clusters: KeyCache<ClusterKeyRecord>,
}

impl KeyCaches {
    /// Empty caches whose entries live `ttl`.
    pub fn new(ttl: Duration) -> KeyCaches {
        KeyCaches {
            api_keys: KeyCache::new(ttl),
            clusters: KeyCache::new(ttl),
        }
    }

    /// Drops every entry of both caches.
    pub fn forget_all(&self) {
        self.api_keys.clear();
        self.clusters.clear();
    }

    /// Drops the entries of every key owner a committed write changed
    /// (here, or on another node: `crate::db::peers`).
    pub fn forget(&self, changed: &[Changed]) {
        for change in changed {
            match change.kind.as_str() {
                OWNER_API_KEY => self.api_keys.invalidate_owner(&change.id),
                OWNER_CLUSTER | OWNER_CLUSTER_SERVICE => self.clusters.invalidate_owner(&change.id),
                KEY_APPEARED => self.api_keys.forget_hash(&change.id),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Owned(&'static str);

    impl CachedRecord for Owned {
        const CACHE: &'static str = "api_keys";

        fn owner_id(&self) -> &str {
            self.0
        }
    }

    fn cache() -> KeyCache<Owned> {
        KeyCache::new(Duration::from_secs(60))
    }

    #[test]
    fn an_answer_fetched_before_a_change_is_not_kept() {
        for drop in [
            (|c: &KeyCache<Owned>| c.invalidate_owner("a")) as fn(&KeyCache<Owned>),
            |c| c.invalidate_owner("b"),
        ] {
            let cache = cache();
            let fetched = Instant::now();
            // The key changes while the look-up is still reading.
            drop(&cache);
            cache.put("h".to_owned(), Some(Arc::new(Owned("a"))), fetched);
            assert!(cache.get("h").is_none(), "a stale answer was cached");
            // An answer fetched after the change is kept.
            std::thread::sleep(Duration::from_millis(1));
            cache.put("h".to_owned(), Some(Arc::new(Owned("a"))), Instant::now());
            assert!(cache.get("h").is_some_and(|r| r.is_some()));
        }
    }

    #[test]
    fn invalidating_an_owner_drops_only_its_entries() {
        let cache = cache();
        cache.put("a1".to_owned(), Some(Arc::new(Owned("a"))), Instant::now());
        cache.put("b1".to_owned(), Some(Arc::new(Owned("b"))), Instant::now());
        cache.put("none".to_owned(), None, Instant::now());
        cache.invalidate_owner("a");
        assert!(cache.get("a1").is_none());
        assert!(cache.get("b1").is_some_and(|r| r.is_some()));
        assert!(cache.get("none").is_some_and(|r| r.is_none()));
    }

    #[test]
    fn expired_entries_leave_as_new_ones_come() {
        let cache: KeyCache<Owned> = KeyCache::new(Duration::from_millis(20));
        for i in 0..1000 {
            cache.put(
                format!("old{i}"),
                Some(Arc::new(Owned("a"))),
                Instant::now(),
            );
        }
        assert_eq!(cache.len(), 1000);
        std::thread::sleep(Duration::from_millis(30));
        // Each part drops what expired when something is stored in it.
        // (1,000 stores reach every one of the 16 parts but with a chance
        // of about 1e-28.)
        for i in 0..1000 {
            cache.put(format!("new{i}"), None, Instant::now());
        }
        assert_eq!(cache.len(), 1000, "expired entries were kept");
        for shard in cache.shards.iter() {
            let shard = shard.read().unwrap();
            assert!(
                shard.by_owner.is_empty(),
                "an owner index outlived its entries"
            );
            assert_eq!(shard.stored.len(), shard.by_hash.len());
        }
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let cache = cache();
        for i in 0..MAX_ENTRIES + 5_000 {
            cache.put(format!("h{i}"), None, Instant::now());
        }
        assert!(cache.len() <= MAX_ENTRIES, "{} entries", cache.len());
        // The newest are the ones kept.
        let last = format!("h{}", MAX_ENTRIES + 4_999);
        assert!(cache.get(&last).is_some());
        assert!(cache.get("h0").is_none());
    }

    #[test]
    fn an_entry_stored_again_survives_the_expiry_of_its_first_store() {
        let cache: KeyCache<Owned> = KeyCache::new(Duration::from_millis(40));
        cache.put("h".to_owned(), Some(Arc::new(Owned("a"))), Instant::now());
        std::thread::sleep(Duration::from_millis(25));
        cache.put("h".to_owned(), Some(Arc::new(Owned("a"))), Instant::now());
        std::thread::sleep(Duration::from_millis(25));
        // The first store expired; storing anything runs the expiry.
        for i in 0..1000 {
            cache.put(format!("x{i}"), None, Instant::now());
        }
        assert!(cache.get("h").is_some_and(|r| r.is_some()));
        cache.invalidate_owner("a");
        assert!(cache.get("h").is_none());
    }
}
