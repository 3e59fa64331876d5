//! Settings, read once at start from flags and the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `KEYGATE_BIND` | `127.0.0.1:8080` | address the server listens on |
//! | `DATABASE_URL` | `sqlite://data/keygate.db` | `sqlite://PATH` or `postgres://...`; `data/` is created for the default |
//! | `KEYGATE_POOL_SIZE` | `8` | connections in the database pool (1 to 256) |
//! | `KEYGATE_BOOTSTRAP_KEY` | generated | the first `personal` key of an empty database (a `kg_ak_` key, see `keygate keys generate`) |
//! | `KEYGATE_MAX_BODY_BYTES` | `65536` | largest accepted request body; larger bodies get 413 |
//! | `KEYGATE_BODY_TIMEOUT_MS` | `10000` | how long the whole request body may take to arrive once its headers did (100 to 600000); later: 408 and the connection is closed |
//! | `KEYGATE_AUTH_CACHE_TTL_MS` | `1000` | how long a key look-up is trusted without the database (0 to 60000; 0 turns the cache off); the staleness bound across nodes |
//! | `KEYGATE_LAST_USED_FLUSH_MS` | `5000` | how often `last_used_at` values are written (100 to 600000) |
//! | `KEYGATE_MASTER_KEY` | — | base64 of 32 bytes: the AES-256-GCM key for stored secrets |
//! | `KEYGATE_MASTER_KEY_FILE` | `master.key` beside an SQLite file | a file holding that base64 text; with SQLite and neither variable, `master.key` is created beside the database (mode 0600) |
//! | `RUST_LOG` | `info` | log filter for env_logger |

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;

/// Default database: an SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/keygate.db";

/// Flags and variables shared by every subcommand that touches the database.
#[derive(Args, Clone)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Connections in the database pool (1 to 256).
    #[arg(long, env = "KEYGATE_POOL_SIZE", default_value = "8")]
    pub pool_size: String,
}

/// Flags and variables of `keygate serve`.
#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEYGATE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The first `personal` key for an empty database (instead of a generated one).
    #[arg(long, env = "KEYGATE_BOOTSTRAP_KEY", hide_env_values = true)]
    pub bootstrap_key: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "KEYGATE_MAX_BODY_BYTES", default_value = "65536")]
    pub max_body_bytes: String,
    /// How long a request body may take to arrive, in ms (100 to 600000).
    #[arg(long, env = "KEYGATE_BODY_TIMEOUT_MS", default_value = "10000")]
    pub body_timeout_ms: String,
    /// How long a key look-up is trusted without the database, in ms (0 to 60000).
    #[arg(long, env = "KEYGATE_AUTH_CACHE_TTL_MS", default_value = "1000")]
    pub auth_cache_ttl_ms: String,
    /// How often `last_used_at` values are written, in ms (100 to 600000).
    #[arg(long, env = "KEYGATE_LAST_USED_FLUSH_MS", default_value = "5000")]
    pub last_used_flush_ms: String,
    /// Master key for stored secrets: base64 of 32 bytes.
    #[arg(long, env = "KEYGATE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// File holding the master key's base64 text.
    #[arg(long, env = "KEYGATE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    #[command(flatten)]
    #[expect(missing_docs, reason = "flattened clap group")]
    pub database: DatabaseArgs,
}

/// The backend a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Where the database lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// Which backend the URL names.
    pub backend: Backend,
    /// For SQLite the file path, for PostgreSQL the full URL.
    pub target: String,
    /// Connections in the pool.
    pub pool_size: u32,
}

impl fmt::Debug for DatabaseSettings {
    // A PostgreSQL URL may carry a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("backend", &self.backend)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// Where the master key for stored secrets comes from.
#[derive(Clone)]
pub enum MasterKeySource {
    /// `KEYGATE_MASTER_KEY` (already checked to be base64 of 32 bytes).
    Inline(String),
    /// `KEYGATE_MASTER_KEY_FILE`.
    File(PathBuf),
    /// The SQLite default: this file beside the database, created if absent.
    BesideDatabase(PathBuf),
    /// None configured (PostgreSQL without a key): secrets cannot be stored.
    Absent,
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Inline(_) => f.write_str("Inline(<redacted>)"),
            MasterKeySource::File(p) => write!(f, "File({})", p.display()),
            MasterKeySource::BesideDatabase(p) => write!(f, "BesideDatabase({})", p.display()),
            MasterKeySource::Absent => f.write_str("Absent"),
        }
    }
}

impl MasterKeySource {
    /// The default for a database: a file beside an SQLite database, none
    /// for PostgreSQL (every node must be given the same key).
    pub fn default_for(database: &DatabaseSettings) -> MasterKeySource {
        match database.backend {
            Backend::Sqlite => MasterKeySource::BesideDatabase(
                Path::new(&database.target)
                    .parent()
                    .map(|p| p.join("master.key"))
                    .unwrap_or_else(|| PathBuf::from("master.key")),
            ),
            Backend::Postgres => MasterKeySource::Absent,
        }
    }
}

/// Everything `keygate serve` needs, validated.
#[derive(Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Database location and pool size.
    pub database: DatabaseSettings,
    /// Bootstrap key for an empty database, if one was supplied.
    pub bootstrap_key: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive (408 after).
    pub body_timeout: Duration,
    /// How long a cached key look-up is trusted.
    pub auth_cache_ttl: Duration,
    /// How often `last_used_at` is written.
    pub last_used_flush: Duration,
    /// Where the master key comes from.
    pub master_key: MasterKeySource,
}

impl Settings {
    /// Defaults for everything but the database (the command line's
    /// subcommands and tests).
    pub fn for_database(database: DatabaseSettings) -> Settings {
        let master_key = MasterKeySource::default_for(&database);
        Settings {
            master_key,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            bootstrap_key: None,
            max_body_bytes: 65_536,
            body_timeout: Duration::from_secs(10),
            auth_cache_ttl: Duration::from_secs(1),
            last_used_flush: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database", &self.database)
            .field(
                "bootstrap_key",
                &self.bootstrap_key.as_ref().map(|_| "<redacted>"),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("body_timeout", &self.body_timeout)
            .field("auth_cache_ttl", &self.auth_cache_ttl)
            .field("last_used_flush", &self.last_used_flush)
            .field("master_key", &self.master_key)
            .finish()
    }
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub variable: &'static str,
    /// What is wrong with it, without echoing secrets.
    pub reason: String,
}

fn config_error(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

impl DatabaseArgs {
    /// Parses the URL and pool size; creates the parent folder of an SQLite file.
    pub fn settings(&self) -> Result<DatabaseSettings, ConfigError> {
        let pool_size = parse_number("KEYGATE_POOL_SIZE", &self.pool_size, 1, 256)?;
        let url = self.database_url.trim();
        let (backend, target) = if let Some(path) = url.strip_prefix("sqlite://") {
            (Backend::Sqlite, path.to_owned())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(config_error(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        };
        if backend == Backend::Sqlite {
            if target.is_empty() {
                return Err(config_error("DATABASE_URL", "sqlite:// needs a file path"));
            }
            // Every pooled connection would get its own empty database.
            if target == ":memory:" || target.contains("mode=memory") {
                return Err(config_error(
                    "DATABASE_URL",
                    "an in-memory SQLite database is not supported; name a file",
                ));
            }
            create_parent(Path::new(&target))?;
        }
        Ok(DatabaseSettings {
            backend,
            target,
            pool_size,
        })
    }
}

// Numbers are parsed here rather than by clap so that the error names the
// environment variable, not only the flag.
fn parse_number<T>(variable: &'static str, text: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    text.trim()
        .parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
        .ok_or_else(|| {
            config_error(
                variable,
                format!("must be a whole number from {min} to {max}, got {text:?}"),
            )
        })
}

fn create_parent(path: &Path) -> Result<(), ConfigError> {
    let parent = path.parent().map(PathBuf::from).unwrap_or_default();
    if parent.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&parent).map_err(|e| {
        config_error(
            "DATABASE_URL",
            format!("cannot create folder {}: {e}", parent.display()),
        )
    })
}

impl ServeArgs {
    /// Validates every value; the first bad one fails with the variable's name.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let bind = self.bind.parse::<SocketAddr>().map_err(|_| {
            config_error(
                "KEYGATE_BIND",
                format!("must be HOST:PORT with an IP address, got {:?}", self.bind),
            )
        })?;
        let max_body_bytes = parse_number(
            "KEYGATE_MAX_BODY_BYTES",
            &self.max_body_bytes,
            1024,
            64 * 1024 * 1024,
        )?;
        let body_timeout = parse_number(
            "KEYGATE_BODY_TIMEOUT_MS",
            &self.body_timeout_ms,
            100,
            600_000,
        )?;
        // Its shape is checked when the server starts, before any database
        // is opened (`startup::check_bootstrap_key`): the key format is the
        // issued-keys room's, above this one.
        let bootstrap_key = self.bootstrap_key.clone();
        let auth_cache_ttl = parse_number(
            "KEYGATE_AUTH_CACHE_TTL_MS",
            &self.auth_cache_ttl_ms,
            0,
            60_000,
        )?;
        let last_used_flush = parse_number(
            "KEYGATE_LAST_USED_FLUSH_MS",
            &self.last_used_flush_ms,
            100,
            600_000,
        )?;
        let database = self.database.settings()?;
        let master_key = match (&self.master_key, &self.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(config_error(
                    "KEYGATE_MASTER_KEY",
                    "set KEYGATE_MASTER_KEY or KEYGATE_MASTER_KEY_FILE, not both",
                ))
            }
            (Some(text), None) => {
                // The sealing service reads it (`crypto::vault::load`); its
                // shape is checked here so a bad value fails first.
                let decoded = STANDARD.decode(text.trim()).map(|b| b.len());
                if decoded != Ok(32) {
                    return Err(config_error(
                        "KEYGATE_MASTER_KEY",
                        "must be base64 of exactly 32 bytes",
                    ));
                }
                MasterKeySource::Inline(text.clone())
            }
            (None, Some(path)) => MasterKeySource::File(path.clone()),
            (None, None) => MasterKeySource::default_for(&database),
        };
        Ok(Settings {
            bind,
            master_key,
            database,
            bootstrap_key,
            max_body_bytes,
            body_timeout: Duration::from_millis(body_timeout),
            auth_cache_ttl: Duration::from_millis(auth_cache_ttl),
            last_used_flush: Duration::from_millis(last_used_flush),
        })
    }
}
