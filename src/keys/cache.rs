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

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::records::{ClusterKeyRecord, KeyRecord};
use super::{OWNER_API_KEY, OWNER_CLUSTER, OWNER_CLUSTER_SERVICE};
use crate::db::changes::Changed;
use crate::db::{AnyConnection, Db};
use crate::error::ApiError;

/// Most entries kept; past it, stale entries are dropped, then all.
const MAX_ENTRIES: usize = 100_000;

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

struct Entries<R> {
    by_hash: HashMap<String, Entry<R>>,
    /// When entries were last dropped for a change.
    dropped: Option<Instant>,
}

/// Hash-to-record cache with a time-to-live: API keys by default; cluster
/// keys have their own ([`ClusterKeyRecord`]).
pub struct KeyCache<R = KeyRecord> {
    ttl: Duration,
    entries: RwLock<Entries<R>>,
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
            entries: RwLock::new(Entries {
                by_hash: HashMap::new(),
                dropped: None,
            }),
        }
    }

    /// A fresh answer for a hash: `Some(None)` means "known not to exist".
    pub fn get(&self, hash: &str) -> Option<Option<Arc<R>>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
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
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.dropped.is_some_and(|dropped| dropped >= fetched) {
            return;
        }
        let by_hash = &mut entries.by_hash;
        if by_hash.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            by_hash.retain(|_, e| e.fetched.elapsed() < ttl);
            if by_hash.len() >= MAX_ENTRIES {
                by_hash.clear();
            }
        }
        by_hash.insert(hash, Entry { record, fetched });
    }

    /// Drops every entry of an owner (a key changed, rotated or deleted here).
    pub fn invalidate_owner(&self, owner_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.dropped = Some(Instant::now());
        entries
            .by_hash
            .retain(|_, e| e.record.as_ref().is_none_or(|r| r.owner_id() != owner_id));
    }

    /// How many entries are held (fresh or not yet pruned).
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.by_hash.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (this node may have missed other nodes' changes).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.dropped = Some(Instant::now());
        entries.by_hash.clear();
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
}
