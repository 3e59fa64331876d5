//! The sealing service: the one owner of the master keys. It loads (or, for
//! the SQLite default, creates) the master key, refuses a start whose key
//! the database does not know, seals values bound to their row and records
//! in `encryption_keys`, inside the caller's transaction, which key sealed
//! them; it opens envelopes and hashes low-entropy values under a key only
//! the server holds.
//!
//! The keys form a keyring: one active key seals and hashes; every key of
//! the ring opens what it sealed (an envelope names its key id), and finds
//! the keyed hashes it made. The retired keys (`KEYGATE_RETIRED_MASTER_KEYS`)
//! stay in the ring until `keygate rekey` (`crypto::rekey`) has moved every
//! value to the active key and forgotten them here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::prelude::*;

use super::envelope::{key_id_of, MasterKey, Place};
use crate::config::{MasterKeySource, RetiredKeysSource};
use crate::db::schema::encryption_keys;
use crate::db::{now, AnyConnection, Db};
use crate::error::ApiError;

/// A master key that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key is missing, unreadable or not the database's.
    #[error("{variable}: {why}")]
    Key {
        /// The variable to fix.
        variable: &'static str,
        /// What is wrong, without the key.
        why: String,
    },
    /// The recorded key ids could not be read.
    #[error("{0}")]
    Database(ApiError),
}

struct Keyring {
    /// Seals and hashes.
    active: MasterKey,
    /// Open what they sealed before a rekeying.
    retired: Vec<MasterKey>,
    /// Whether the start found the active key recorded in
    /// `encryption_keys` ([`check`]): a committed row, and nothing deletes
    /// them, so seals need not look again (one query less per write that
    /// seals). A read inside a write cannot tell its own uncommitted insert
    /// from a committed row, so only the start sets it.
    active_recorded: AtomicBool,
}

/// The sealing service, cheap to clone. Reached by handlers through
/// `AppState::vault`, which answers 503 `master_key_missing` when no key is
/// configured. `Debug` shows key ids only.
#[derive(Clone)]
pub struct Vault {
    ring: Arc<Keyring>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("active", &self.ring.active.id())
            .field("retired", &self.retired_key_ids())
            .finish()
    }
}

impl Vault {
    /// A vault whose one key is `active`.
    pub fn new(active: MasterKey) -> Vault {
        Vault::with_retired(active, Vec::new())
    }

    /// A vault that seals under `active` and also opens what the `retired`
    /// keys sealed.
    pub fn with_retired(active: MasterKey, retired: Vec<MasterKey>) -> Vault {
        Vault {
            ring: Arc::new(Keyring {
                active,
                retired,
                active_recorded: AtomicBool::new(false),
            }),
        }
    }

    /// The id of the key that seals.
    pub fn active_key_id(&self) -> String {
        self.ring.active.id()
    }

    /// The ids of the retired keys of the ring.
    pub fn retired_key_ids(&self) -> Vec<String> {
        self.ring.retired.iter().map(MasterKey::id).collect()
    }

    fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.ring.active).chain(&self.ring.retired)
    }

    /// Whether an envelope is sealed under the active key already.
    pub fn is_active(&self, envelope: &[u8]) -> bool {
        key_id_of(envelope).as_deref() == Some(self.active_key_id().as_str())
    }

    /// Opens a value sealed (under any key of the ring) for its place and
    /// seals it again under the active key, for the same place, recording
    /// the active key in the caller's transaction.
    pub fn reseal(
        &self,
        conn: &mut AnyConnection,
        place: Place<'_>,
        envelope: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let plain = self.open(place, envelope)?;
        self.seal(conn, place, &plain)
    }

    /// Seals a value for its place, recording the active key in the
    /// caller's transaction first.
    pub fn seal(
        &self,
        conn: &mut AnyConnection,
        place: Place<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        self.record(conn)?;
        Ok(self.ring.active.seal(place, plaintext))
    }

    /// The keyed hash of a value that is stored (a proxy key), recording
    /// the active key in the caller's transaction first: a start with
    /// another key could not find it again.
    pub fn stored_hash(
        &self,
        conn: &mut AnyConnection,
        domain: &str,
        scope: &str,
        value: &[u8],
    ) -> Result<String, ApiError> {
        self.record(conn)?;
        Ok(self.keyed_hash(domain, scope, value))
    }

    /// The keyed hash of a value under the active key, the one it is
    /// stored under once rekeyed (never to store: use
    /// [`Vault::stored_hash`]).
    pub fn keyed_hash(&self, domain: &str, scope: &str, value: &[u8]) -> String {
        self.ring.active.keyed_hash(domain, scope, value)
    }

    /// The keyed hashes of a presented value under every key of the ring,
    /// the active key's first, with each key's id: a stored hash made by a
    /// retired key before a rekeying is still found.
    pub fn keyed_hashes(&self, domain: &str, scope: &str, value: &[u8]) -> Vec<(String, String)> {
        self.keys()
            .map(|k| (k.id(), k.keyed_hash(domain, scope, value)))
            .collect()
    }

    /// Opens an envelope sealed for this place with whichever key of the
    /// ring sealed it. One that does not open is a 500 whose cause (never
    /// the data) goes to the log.
    pub fn open(&self, place: Place<'_>, envelope: &[u8]) -> Result<Vec<u8>, ApiError> {
        let sealed_by = key_id_of(envelope);
        let Some(key) = self
            .keys()
            .find(|k| sealed_by.as_deref() == Some(k.id().as_str()))
        else {
            // A key removed from the ring before `keygate rekey` moved this
            // value: say which key it needs, never guess.
            return Err(ApiError::internal(format!(
                "{} {} of {} is sealed under master key {}, which is not configured \
                 (give it in KEYGATE_RETIRED_MASTER_KEYS and run `keygate rekey`)",
                place.table,
                place.row_id,
                place.organization_id,
                sealed_by.as_deref().unwrap_or("(not an envelope)")
            )));
        };
        key.open(place, envelope).map_err(|e| {
            ApiError::internal(format!(
                "{} {} of {} does not open: {e}",
                place.table, place.row_id, place.organization_id
            ))
        })
    }

    fn record(&self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        if self.ring.active_recorded.load(Ordering::Relaxed) {
            return Ok(());
        }
        let id = self.active_key_id();
        let known: i64 = encryption_keys::table
            .filter(encryption_keys::key_id.eq(&id))
            .count()
            .get_result(conn)?;
        if known == 0 {
            // The first seals of a new key may race (several requests, or
            // nodes, at once): the first insert wins and the others do
            // nothing, instead of failing on the primary key and aborting
            // their transaction. diesel's `on_conflict_do_nothing` does not
            // build for the multi-backend connection; both backends read
            // this statement alike (SQLite takes `$n` as numbered too).
            diesel::sql_query(
                "INSERT INTO encryption_keys (key_id, created_at) VALUES ($1, $2) \
                 ON CONFLICT (key_id) DO NOTHING",
            )
            .bind::<diesel::sql_types::Text, _>(&id)
            .bind::<diesel::sql_types::Timestamp, _>(now().naive_utc())
            .execute(conn)?;
        }
        Ok(())
    }
}

/// The master key ids recorded as having sealed or hashed data here.
pub fn key_ids(conn: &mut AnyConnection) -> QueryResult<Vec<String>> {
    encryption_keys::table
        .select(encryption_keys::key_id)
        .order(encryption_keys::key_id)
        .load(conn)
}

/// Forgets a retired key's record once nothing here needs it (`keygate
/// rekey` counted none): a start without it is then no longer refused.
/// Never the active key's.
pub fn forget(conn: &mut AnyConnection, vault: &Vault, key_id: &str) -> QueryResult<usize> {
    if key_id == vault.active_key_id() {
        return Ok(0);
    }
    diesel::delete(encryption_keys::table.filter(encryption_keys::key_id.eq(key_id))).execute(conn)
}

/// Reads (or, for the SQLite default, creates) the master key, and the
/// retired keys; `None` when no master key is configured.
pub fn load(
    source: &MasterKeySource,
    retired: &RetiredKeysSource,
) -> Result<Option<Vault>, VaultError> {
    let bad = |variable: &'static str, why: String| VaultError::Key { variable, why };
    let from_file = |variable, path: &std::path::Path| -> Result<MasterKey, VaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(variable, format!("cannot read {}: {e}", path.display())))?;
        MasterKey::from_base64(&text).ok_or_else(|| {
            bad(
                variable,
                format!("{} does not hold base64 of 32 bytes", path.display()),
            )
        })
    };
    let key = match source {
        MasterKeySource::Absent => return Ok(None),
        MasterKeySource::Inline(text) => MasterKey::from_base64(text).ok_or_else(|| {
            bad(
                "KEYGATE_MASTER_KEY",
                "must be base64 of exactly 32 bytes".to_owned(),
            )
        })?,
        MasterKeySource::File(path) => from_file("KEYGATE_MASTER_KEY_FILE", path)?,
        MasterKeySource::BesideDatabase(path) if path.exists() => {
            from_file("KEYGATE_MASTER_KEY_FILE", path)?
        }
        MasterKeySource::BesideDatabase(path) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let text = MasterKey::generate_base64();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    bad(
                        "KEYGATE_MASTER_KEY_FILE",
                        format!("cannot create {}: {e}", path.display()),
                    )
                })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    bad(
                        "KEYGATE_MASTER_KEY_FILE",
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
            let key = MasterKey::from_base64(&text).expect("a generated key parses");
            log::info!(
                "created master key {} in {} (mode 0600); back it up with the database: secrets cannot be read without it",
                key.id(),
                path.display()
            );
            key
        }
    };
    let retired = load_retired(retired, &key)?;
    Ok(Some(Vault::with_retired(key, retired)))
}

/// The retired keys: base64 keys separated by commas or whitespace (a file
/// may comment with `#`). A key given twice counts once; the active key
/// among them is refused, as a sign of a rotation half done.
fn load_retired(
    source: &RetiredKeysSource,
    active: &MasterKey,
) -> Result<Vec<MasterKey>, VaultError> {
    let (variable, text) = match source {
        RetiredKeysSource::None => return Ok(Vec::new()),
        RetiredKeysSource::Inline(text) => ("KEYGATE_RETIRED_MASTER_KEYS", text.clone()),
        RetiredKeysSource::File(path) => (
            "KEYGATE_RETIRED_MASTER_KEYS_FILE",
            std::fs::read_to_string(path).map_err(|e| VaultError::Key {
                variable: "KEYGATE_RETIRED_MASTER_KEYS_FILE",
                why: format!("cannot read {}: {e}", path.display()),
            })?,
        ),
    };
    let mut keys: Vec<MasterKey> = Vec::new();
    let words = text
        .lines()
        .map(|line| line.split_once('#').map_or(line, |(before, _)| before))
        .flat_map(|line| line.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|word| !word.is_empty());
    for (at, word) in words.enumerate() {
        let key = MasterKey::from_base64(word).ok_or_else(|| VaultError::Key {
            variable,
            why: format!("key {} is not base64 of exactly 32 bytes", at + 1),
        })?;
        if key.id() == active.id() {
            return Err(VaultError::Key {
                variable,
                why: format!(
                    "holds the active master key {}; a retired key is one the active key replaces",
                    key.id()
                ),
            });
        }
        if !keys.iter().any(|k| k.id() == key.id()) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Refuses to start when the database holds values sealed under a key the
/// ring does not hold (or under any key, when none is configured).
pub fn check(db: &Db, vault: Option<&Vault>) -> Result<(), VaultError> {
    let known = db
        .write_blocking(|conn| Ok(key_ids(conn)?))
        .map_err(VaultError::Database)?;
    let Some(vault) = vault else {
        return match known.is_empty() {
            true => Ok(()),
            false => Err(VaultError::Key {
                variable: "KEYGATE_MASTER_KEY",
                why: format!(
                    "is required: this database holds secrets sealed under master key {}",
                    known.join(", ")
                ),
            }),
        };
    };
    if known.contains(&vault.active_key_id()) {
        vault.ring.active_recorded.store(true, Ordering::Relaxed);
    }
    let ring: Vec<String> = vault.keys().map(MasterKey::id).collect();
    let missing: Vec<&str> = known
        .iter()
        .filter(|id| !ring.contains(id))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let retired = match vault.retired_key_ids() {
        ids if ids.is_empty() => String::new(),
        ids => format!(" (retired: {})", ids.join(", ")),
    };
    Err(VaultError::Key {
        variable: "KEYGATE_MASTER_KEY",
        why: format!(
            "the configured master key is {}{retired}, but this database's secrets are sealed under {}; \
             to rotate, give the old key in KEYGATE_RETIRED_MASTER_KEYS and run `keygate rekey`",
            vault.active_key_id(),
            missing.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (String, MasterKey) {
        let text = MasterKey::generate_base64();
        let key = MasterKey::from_base64(&text).unwrap();
        (text, key)
    }

    fn place() -> Place<'static> {
        Place {
            table: "secrets",
            organization_id: "org_1",
            row_id: "sec_1",
            field: "value",
        }
    }

    #[test]
    fn the_ring_opens_what_a_retired_key_sealed_and_hashes_under_every_key() {
        let (_, old) = key();
        let (_, new) = key();
        let sealed = old.seal(place(), b"hunter2");
        let old_hash = old.keyed_hash("d", "s", b"v");
        let new_id = new.id();
        let vault = Vault::with_retired(new, vec![old]);
        assert_eq!(vault.open(place(), &sealed).unwrap(), b"hunter2");
        assert!(!vault.is_active(&sealed));
        let hashes = vault.keyed_hashes("d", "s", b"v");
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[0].0, new_id, "the active key's first");
        assert_eq!(hashes[1].1, old_hash);
    }

    #[test]
    fn a_value_under_a_key_the_ring_lacks_is_a_clear_error_naming_the_key() {
        let (_, gone) = key();
        let (_, active) = key();
        let sealed = gone.seal(place(), b"hunter2");
        let error = Vault::new(active).open(place(), &sealed).unwrap_err();
        let text = format!("{error:?}");
        assert!(text.contains(&gone.id()), "{text}");
        assert!(text.contains("KEYGATE_RETIRED_MASTER_KEYS"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn retired_keys_parse_from_a_list_with_comments_and_refuse_bad_or_active_ones() {
        let (active_text, _) = key();
        let (a, a_key) = key();
        let (b, b_key) = key();
        let load = |text: String| {
            load(
                &MasterKeySource::Inline(active_text.clone()),
                &RetiredKeysSource::Inline(text),
            )
        };
        let vault = load(format!("{a}, {b}\n# a comment\n{a}"))
            .unwrap()
            .unwrap();
        assert_eq!(vault.retired_key_ids(), vec![a_key.id(), b_key.id()]);
        let error = load(format!("{a},not-a-key")).unwrap_err().to_string();
        assert!(
            error.starts_with("KEYGATE_RETIRED_MASTER_KEYS: key 2 "),
            "{error}"
        );
        assert!(!error.contains(&a), "{error}");
        let error = load(active_text.clone()).unwrap_err().to_string();
        assert!(error.contains("holds the active master key"), "{error}");
        assert!(!error.contains(&active_text), "{error}");
    }
}
