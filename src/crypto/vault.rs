//! The sealing service: the one owner of the master keys. It loads (or, for
//! the SQLite default, creates) the master key, refuses a start whose key
//! the database does not know, seals values bound to their row and records
//! in `encryption_keys`, inside the caller's transaction, which key sealed
//! them; it opens envelopes and hashes low-entropy values under a key only
//! the server holds.
//!
//! The keys form a keyring: one active key seals and hashes; every key of
//! the ring opens what it sealed (an envelope names its key id). Today the
//! ring holds the one configured key; rekeying adds retired keys to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::prelude::*;

use super::envelope::{key_id_of, MasterKey, Place};
use crate::config::MasterKeySource;
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
    /// Open what they sealed before a rekeying (none yet).
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
            .field("retired", &self.ring.retired.len())
            .finish()
    }
}

impl Vault {
    /// A vault whose one key is `active`.
    pub fn new(active: MasterKey) -> Vault {
        Vault {
            ring: Arc::new(Keyring {
                active,
                retired: Vec::new(),
                active_recorded: AtomicBool::new(false),
            }),
        }
    }

    /// The id of the key that seals.
    pub fn active_key_id(&self) -> String {
        self.ring.active.id()
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

    /// The keyed hash of a presented value, to compare with stored ones
    /// (never to store: use [`Vault::stored_hash`]).
    pub fn keyed_hash(&self, domain: &str, scope: &str, value: &[u8]) -> String {
        self.ring.active.keyed_hash(domain, scope, value)
    }

    /// Opens an envelope sealed for this place with whichever key of the
    /// ring sealed it. One that does not open is a 500 whose cause (never
    /// the data) goes to the log.
    pub fn open(&self, place: Place<'_>, envelope: &[u8]) -> Result<Vec<u8>, ApiError> {
        let sealed_by = key_id_of(envelope);
        let key = std::iter::once(&self.ring.active)
            .chain(&self.ring.retired)
            .find(|k| sealed_by.as_deref() == Some(k.id().as_str()))
            .unwrap_or(&self.ring.active);
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
        .load(conn)
}

/// Reads (or, for the SQLite default, creates) the master key; `None` when
/// none is configured.
pub fn load(source: &MasterKeySource) -> Result<Option<Vault>, VaultError> {
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
    Ok(Some(Vault::new(key)))
}

/// Refuses to start when the database holds values sealed under a key other
/// than the configured one (or under any key, when none is configured).
pub fn check(db: &Db, vault: Option<&Vault>) -> Result<(), VaultError> {
    let known = db
        .write_blocking(|conn| Ok(key_ids(conn)?))
        .map_err(VaultError::Database)?;
    if let Some(vault) = vault.filter(|v| known.contains(&v.active_key_id())) {
        vault.ring.active_recorded.store(true, Ordering::Relaxed);
    }
    match vault.map(Vault::active_key_id) {
        None if !known.is_empty() => Err(VaultError::Key {
            variable: "KEYGATE_MASTER_KEY",
            why: format!(
                "is required: this database holds secrets sealed under master key {}",
                known.join(", ")
            ),
        }),
        Some(id) if !known.is_empty() && !known.contains(&id) => Err(VaultError::Key {
            variable: "KEYGATE_MASTER_KEY",
            why: format!(
                "the configured master key is {id}, but this database's secrets are sealed under {}",
                known.join(", ")
            ),
        }),
        _ => Ok(()),
    }
}
