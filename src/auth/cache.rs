//! The authentication cache: a presented key's hash to what the database
//! said of it (or that it does not exist), kept for a bounded time. After a
//! key's first use, authenticating and verifying it touch no database until
//! the entry is older than the TTL (default 1 s). A change made on this node
//! drops the affected entries at once; another node sees it within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::resources::api_keys::repo::KeyRecord;

/// Most entries kept; past it, stale entries are dropped, then all.
const MAX_ENTRIES: usize = 100_000;

/// What a cache holds of a found key: whose secret it is, so a change to
/// the owner can drop its entries.
pub trait CachedRecord {
    /// The id of the secret's owner (`owner_id` of `key_secrets`).
    fn owner_id(&self) -> &str;
}

impl CachedRecord for KeyRecord {
    fn owner_id(&self) -> &str {
        &self.secret.owner_id
    }
}

struct Entry<R> {
    record: Option<Arc<R>>,
    fetched: Instant,
}

/// Hash-to-record cache with a time-to-live: API keys by default; cluster
/// keys have their own (`crate::resources::clusters::repo::ClusterKeyRecord`).
pub struct KeyCache<R = KeyRecord> {
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry<R>>>,
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
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh answer for a hash: `Some(None)` means "known not to exist".
    pub fn get(&self, hash: &str) -> Option<Option<Arc<R>>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|e| e.fetched.elapsed() < self.ttl)
            .map(|e| e.record.clone())
    }

    /// Remembers what the database said of a hash, fetched at `fetched`.
    pub fn put(&self, hash: String, record: Option<Arc<R>>, fetched: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.fetched.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, Entry { record, fetched });
    }

    /// Drops every entry of an owner (a key changed, rotated or deleted here).
    pub fn invalidate_owner(&self, owner_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, e| e.record.as_ref().is_none_or(|r| r.owner_id() != owner_id));
    }

    /// Drops everything (an organization-wide change).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
