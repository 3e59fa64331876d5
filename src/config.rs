//! Settings, read once at start from flags and the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `KEYGATE_BIND` | `127.0.0.1:8080` | address the server listens on |
//! | `DATABASE_URL` | `sqlite://data/keygate.db` | `sqlite://PATH` or `postgres://...`; `data/` is created for the default |
//! | `KEYGATE_POOL_SIZE` | `8` | connections in the database pool (1 to 256) |
//! | `KEYGATE_POOL_TIMEOUT_MS` | `5000` | longest wait for a pooled connection (100 to 60000); then 503 |
//! | `KEYGATE_DB_CONNECT_TIMEOUT_SECONDS` | `3` | PostgreSQL: libpq `connect_timeout` of a new connection (2 to 300) |
//! | `KEYGATE_DB_STATEMENT_TIMEOUT_MS` | `5000` | PostgreSQL: `statement_timeout` and `idle_in_transaction_session_timeout` of keygate's sessions (100 to 3600000) |
//! | `KEYGATE_BOOTSTRAP_KEY` | generated | the first `personal` key of an empty database (a `kg_ak_` key, see `keygate keys generate`) |
//! | `KEYGATE_MAX_BODY_BYTES` | `65536` | largest accepted request body; larger bodies get 413 |
//! | `KEYGATE_BODY_TIMEOUT_MS` | `10000` | how long the whole request body may take to arrive once its headers did (100 to 600000); later: 408 and the connection is closed |
//! | `KEYGATE_AUTH_CACHE_TTL_MS` | `60000` | how long a key look-up is trusted without the database (0 to 3600000; 0 turns the cache off); the last resort across nodes, after invalidation |
//! | `KEYGATE_METRICS_TOKEN` | — | when set (16 to 256 characters), `GET /metrics` wants `Authorization: Bearer` with it; unset, the metrics are open |
//! | `KEYGATE_TRUSTED_PROXIES` | — | comma-separated CIDRs of proxies whose `Forwarded` / `X-Forwarded-For` give the client address (for `allowed_cidrs` and the access log); unset: the TCP peer |
//! | `KEYGATE_INVALIDATION_POLL_MS` | `1000` | PostgreSQL: how often a node reads the invalidations of other nodes' changes, whatever `LISTEN/NOTIFY` says (50 to 60000) |
//! | `KEYGATE_LAST_USED_FLUSH_MS` | `5000` | how often `last_used_at` values are written (100 to 600000) |
//! | `KEYGATE_REQUEST_DEADLINE_MS` | `5000` | keygate's bound on every request (100 to 600000); a longer `Request-Timeout` is cut to it; running out is 503 |
//! | `KEYGATE_SHUTDOWN_TIMEOUT_SECONDS` | `20` | how long a stopping server lets requests in flight finish (0 to 3600) |
//! | `KEYGATE_AUDIT_RETENTION_DAYS` | `400` | audit events older than this are purged, hourly (0 to 36500; 0 keeps them forever) |
//! | `KEYGATE_ANALYTICS_FLUSH_MS` | `1000` | how often the verification counts noted in memory are added to the database (100 to 600000) |
//! | `KEYGATE_ANALYTICS_RETENTION_DAYS` | `90` | verification counts older than this are purged, hourly (0 to 36500; 0 keeps them forever) |
//! | `KEYGATE_MASTER_KEY` | — | base64 of 32 bytes: the AES-256-GCM key for stored secrets |
//! | `KEYGATE_MASTER_KEY_FILE` | `master.key` beside an SQLite file | a file holding that base64 text; with SQLite and neither variable, `master.key` is created beside the database (mode 0600) |
//! | `KEYGATE_RETIRED_MASTER_KEYS` | — | retired master keys (base64, separated by commas or whitespace): they open what they sealed until `keygate rekey` has moved it to the active key |
//! | `KEYGATE_RETIRED_MASTER_KEYS_FILE` | — | a file holding them, one a line (`#` starts a comment) |
//! | `KEYGATE_RECOVERY_WINDOW_DAYS` | `30` | how long a deleted API key, secret or provider credential stays restorable (`undelete`) before it is purged (0 to 3650; 0 deletes at once) |
//! | `KEYGATE_SECRET_VERSIONS` | `10` | how many values a secret had before its current one are kept (readable with `?version=`, restorable) (0 to 100; 0 keeps none) |
//! | `KEYGATE_SECRET_SCANNING_KEYS` | — | JSON of the public keys GitHub signs secret scanning alerts with, in GitHub's published shape `{"public_keys": [{"key_identifier", "key"}]}`; without it (or the file) every alert is refused with 401 |
//! | `KEYGATE_SECRET_SCANNING_KEYS_FILE` | — | a file holding that JSON (e.g. GitHub's list, saved) |
//! | `RUST_LOG` | `info` | log filter for env_logger; one that does not parse stops the start ([`log_filter`]) |

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::Args;

/// Days an audit event is kept by default: a little over a year, so a
/// yearly review still finds last year's events.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 400;

/// Days verification counts are kept by default: a quarter, enough to
/// compare this month's usage with the two before.
pub const DEFAULT_ANALYTICS_RETENTION_DAYS: i64 = 90;

/// Days a deleted API key stays restorable by default, as Google Cloud
/// keeps deleted API keys.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 30;

/// Earlier values of a secret kept by default, as many as a Vault KV
/// engine keeps.
pub const DEFAULT_SECRET_VERSIONS: i64 = 10;

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
    /// Longest wait for a pooled connection, in ms (100 to 60000).
    #[arg(long, env = "KEYGATE_POOL_TIMEOUT_MS", default_value = "5000")]
    pub pool_timeout_ms: String,
    /// PostgreSQL: seconds to establish a new connection (2 to 300).
    #[arg(long, env = "KEYGATE_DB_CONNECT_TIMEOUT_SECONDS", default_value = "3")]
    pub db_connect_timeout_seconds: String,
    /// PostgreSQL: longest statement, and longest idle time inside a
    /// transaction, in ms (100 to 3600000).
    #[arg(long, env = "KEYGATE_DB_STATEMENT_TIMEOUT_MS", default_value = "5000")]
    pub db_statement_timeout_ms: String,
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
    /// How long a key look-up is trusted without the database, in ms (0 to 3600000).
    #[arg(long, env = "KEYGATE_AUTH_CACHE_TTL_MS", default_value = "60000")]
    pub auth_cache_ttl_ms: String,
    /// Proxies whose forwarding headers are believed: comma-separated CIDRs.
    #[arg(long, env = "KEYGATE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// A token `GET /metrics` wants as `Authorization: Bearer` (unset: open).
    #[arg(long, env = "KEYGATE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// PostgreSQL: how often other nodes' invalidations are read, in ms (50 to 60000).
    #[arg(long, env = "KEYGATE_INVALIDATION_POLL_MS", default_value = "1000")]
    pub invalidation_poll_ms: String,
    /// How often `last_used_at` values are written, in ms (100 to 600000).
    #[arg(long, env = "KEYGATE_LAST_USED_FLUSH_MS", default_value = "5000")]
    pub last_used_flush_ms: String,
    /// keygate's bound on every request, in ms (100 to 600000).
    #[arg(long, env = "KEYGATE_REQUEST_DEADLINE_MS", default_value = "5000")]
    pub request_deadline_ms: String,
    /// How long a stopping server lets requests in flight finish, in s (0 to 3600).
    #[arg(long, env = "KEYGATE_SHUTDOWN_TIMEOUT_SECONDS", default_value = "20")]
    pub shutdown_timeout_seconds: String,
    /// Days an audit event is kept (0 to 36500; 0: forever).
    #[arg(long, env = "KEYGATE_AUDIT_RETENTION_DAYS", default_value = "400")]
    pub audit_retention_days: String,
    /// How often verification counts are written, in ms (100 to 600000).
    #[arg(long, env = "KEYGATE_ANALYTICS_FLUSH_MS", default_value = "1000")]
    pub analytics_flush_ms: String,
    /// Days verification counts are kept (0 to 36500; 0: forever).
    #[arg(long, env = "KEYGATE_ANALYTICS_RETENTION_DAYS", default_value = "90")]
    pub analytics_retention_days: String,
    #[command(flatten)]
    #[expect(missing_docs, reason = "flattened clap group")]
    pub keyring: KeyringArgs,
    /// Days a deleted API key stays restorable (0 to 3650; 0: deleted at once).
    #[arg(long, env = "KEYGATE_RECOVERY_WINDOW_DAYS", default_value = "30")]
    pub recovery_window_days: String,
    /// Earlier values of a secret kept (0 to 100; 0: none).
    #[arg(long, env = "KEYGATE_SECRET_VERSIONS", default_value = "10")]
    pub secret_versions: String,
    /// JSON of the public keys secret scanning alerts are signed with.
    #[arg(long, env = "KEYGATE_SECRET_SCANNING_KEYS")]
    pub secret_scanning_keys: Option<String>,
    /// File holding that JSON.
    #[arg(long, env = "KEYGATE_SECRET_SCANNING_KEYS_FILE")]
    pub secret_scanning_keys_file: Option<PathBuf>,
    #[command(flatten)]
    #[expect(missing_docs, reason = "flattened clap group")]
    pub database: DatabaseArgs,
}

/// Flags and variables of the master keys (`serve` and `rekey`).
#[derive(Args, Clone)]
pub struct KeyringArgs {
    /// Master key for stored secrets (the active one): base64 of 32 bytes.
    #[arg(long, env = "KEYGATE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// File holding the master key's base64 text.
    #[arg(long, env = "KEYGATE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Retired master keys that still open what they sealed: base64 keys
    /// separated by commas or whitespace.
    #[arg(long, env = "KEYGATE_RETIRED_MASTER_KEYS", hide_env_values = true)]
    pub retired_master_keys: Option<String>,
    /// File holding the retired master keys, one a line (`#` starts a comment).
    #[arg(long, env = "KEYGATE_RETIRED_MASTER_KEYS_FILE")]
    pub retired_master_keys_file: Option<PathBuf>,
}

impl KeyringArgs {
    /// Where the active and the retired master keys come from, the
    /// defaults for `database` when unset.
    pub fn sources(
        &self,
        database: &DatabaseSettings,
    ) -> Result<(MasterKeySource, RetiredKeysSource), ConfigError> {
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
            (None, None) => MasterKeySource::default_for(database),
        };
        let retired =
            match (&self.retired_master_keys, &self.retired_master_keys_file) {
                (Some(_), Some(_)) => return Err(config_error(
                    "KEYGATE_RETIRED_MASTER_KEYS",
                    "set KEYGATE_RETIRED_MASTER_KEYS or KEYGATE_RETIRED_MASTER_KEYS_FILE, not both",
                )),
                (Some(text), None) if text.trim().is_empty() => RetiredKeysSource::None,
                (Some(text), None) => RetiredKeysSource::Inline(text.clone()),
                (None, Some(path)) => RetiredKeysSource::File(path.clone()),
                (None, None) => RetiredKeysSource::None,
            };
        if matches!(master_key, MasterKeySource::Absent) && retired != RetiredKeysSource::None {
            return Err(config_error(
                "KEYGATE_RETIRED_MASTER_KEYS",
                "needs an active master key (KEYGATE_MASTER_KEY or KEYGATE_MASTER_KEY_FILE) to rekey to",
            ));
        }
        Ok((master_key, retired))
    }
}

/// Where the retired master keys come from: keys that open what they
/// sealed while `keygate rekey` moves their values to the active key.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum RetiredKeysSource {
    /// None: the active key is the only one.
    #[default]
    None,
    /// `KEYGATE_RETIRED_MASTER_KEYS`.
    Inline(String),
    /// `KEYGATE_RETIRED_MASTER_KEYS_FILE`.
    File(PathBuf),
}

impl fmt::Debug for RetiredKeysSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetiredKeysSource::None => f.write_str("None"),
            RetiredKeysSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            RetiredKeysSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// Where the public keys of secret scanning alerts come from; they are
/// parsed at start (`startup`), so a bad list stops it in one line.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ScanningKeysSource {
    /// None configured: every alert is refused.
    #[default]
    None,
    /// `KEYGATE_SECRET_SCANNING_KEYS`.
    Inline(String),
    /// `KEYGATE_SECRET_SCANNING_KEYS_FILE`.
    File(PathBuf),
}

impl ScanningKeysSource {
    /// The variable a problem with this source is reported under.
    pub fn variable(&self) -> &'static str {
        match self {
            ScanningKeysSource::File(_) => "KEYGATE_SECRET_SCANNING_KEYS_FILE",
            _ => "KEYGATE_SECRET_SCANNING_KEYS",
        }
    }

    /// The JSON text, `None` when no source is configured.
    pub fn read(&self) -> Result<Option<String>, ConfigError> {
        match self {
            ScanningKeysSource::None => Ok(None),
            ScanningKeysSource::Inline(text) => Ok(Some(text.clone())),
            ScanningKeysSource::File(path) => {
                std::fs::read_to_string(path).map(Some).map_err(|e| {
                    config_error(
                        self.variable(),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
            }
        }
    }
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
    /// How long each database wait may last.
    pub timeouts: DatabaseTimeouts,
}

/// The bounds of every wait on the database, so that no request waits
/// without one (see docs/OPERATIONS.md, "Timeouts").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// Longest wait for a pooled connection.
    pub pool_checkout: Duration,
    /// PostgreSQL: libpq `connect_timeout` (whole seconds, at least 2).
    pub connect: Duration,
    /// PostgreSQL: `statement_timeout` and
    /// `idle_in_transaction_session_timeout`; also how long a write whose
    /// commit is under way at its deadline is still waited for.
    pub statement: Duration,
}

impl Default for DatabaseTimeouts {
    fn default() -> DatabaseTimeouts {
        DatabaseTimeouts {
            pool_checkout: Duration::from_secs(5),
            connect: Duration::from_secs(3),
            statement: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for DatabaseSettings {
    // A PostgreSQL URL may carry a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("backend", &self.backend)
            .field("pool_size", &self.pool_size)
            .field("timeouts", &self.timeouts)
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
    /// PostgreSQL: how often other nodes' invalidations are read.
    pub invalidation_poll: Duration,
    /// What `GET /metrics` wants, if anything.
    pub metrics_token: Option<crate::metrics::MetricsToken>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: crate::net::TrustedProxies,
    /// How often `last_used_at` is written.
    pub last_used_flush: Duration,
    /// keygate's bound on every request.
    pub request_deadline: Duration,
    /// How long a stopping server lets requests in flight finish.
    pub shutdown_timeout: Duration,
    /// How long audit events are kept; `None`: forever.
    pub audit_retention: Option<chrono::Duration>,
    /// How often verification counts are written.
    pub analytics_flush: Duration,
    /// How long verification counts are kept; `None`: forever.
    pub analytics_retention: Option<chrono::Duration>,
    /// Where the master key comes from.
    pub master_key: MasterKeySource,
    /// Where the retired master keys come from.
    pub retired_master_keys: RetiredKeysSource,
    /// Where the public keys of secret scanning alerts come from.
    pub secret_scanning_keys: ScanningKeysSource,
    /// How long a deleted API key stays restorable; `None`: deleted at once.
    pub recovery_window: Option<chrono::Duration>,
    /// How many earlier values of a secret are kept.
    pub secret_versions: i64,
}

impl Settings {
    /// Defaults for everything but the database (the command line's
    /// subcommands and tests).
    pub fn for_database(database: DatabaseSettings) -> Settings {
        let master_key = MasterKeySource::default_for(&database);
        Settings {
            master_key,
            retired_master_keys: RetiredKeysSource::None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            bootstrap_key: None,
            max_body_bytes: 65_536,
            body_timeout: Duration::from_secs(10),
            auth_cache_ttl: Duration::from_secs(1),
            invalidation_poll: Duration::from_secs(1),
            metrics_token: None,
            trusted_proxies: crate::net::TrustedProxies::default(),
            last_used_flush: Duration::from_secs(5),
            request_deadline: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(20),
            audit_retention: Some(chrono::Duration::days(DEFAULT_AUDIT_RETENTION_DAYS)),
            analytics_flush: Duration::from_secs(1),
            analytics_retention: Some(chrono::Duration::days(DEFAULT_ANALYTICS_RETENTION_DAYS)),
            secret_scanning_keys: ScanningKeysSource::None,
            recovery_window: Some(chrono::Duration::days(DEFAULT_RECOVERY_WINDOW_DAYS)),
            secret_versions: DEFAULT_SECRET_VERSIONS,
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
            .field("invalidation_poll", &self.invalidation_poll)
            .field("metrics_token", &self.metrics_token)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("last_used_flush", &self.last_used_flush)
            .field("request_deadline", &self.request_deadline)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("audit_retention", &self.audit_retention)
            .field("analytics_flush", &self.analytics_flush)
            .field("analytics_retention", &self.analytics_retention)
            .field("master_key", &self.master_key)
            .field("retired_master_keys", &self.retired_master_keys)
            .field("secret_scanning_keys", &self.secret_scanning_keys)
            .field("recovery_window", &self.recovery_window)
            .field("secret_versions", &self.secret_versions)
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
    /// Parses the URL and pool size (touching no file: the SQLite folder is
    /// created when the database is opened, `db::setup`).
    pub fn settings(&self) -> Result<DatabaseSettings, ConfigError> {
        let pool_size = parse_number("KEYGATE_POOL_SIZE", &self.pool_size, 1, 256)?;
        let timeouts = DatabaseTimeouts {
            pool_checkout: Duration::from_millis(parse_number(
                "KEYGATE_POOL_TIMEOUT_MS",
                &self.pool_timeout_ms,
                100,
                60_000,
            )?),
            connect: Duration::from_secs(parse_number(
                "KEYGATE_DB_CONNECT_TIMEOUT_SECONDS",
                &self.db_connect_timeout_seconds,
                2,
                300,
            )?),
            statement: Duration::from_millis(parse_number(
                "KEYGATE_DB_STATEMENT_TIMEOUT_MS",
                &self.db_statement_timeout_ms,
                100,
                3_600_000,
            )?),
        };
        let url = self.database_url.trim();
        let (backend, target) = if let Some(path) = url.strip_prefix("sqlite://") {
            (Backend::Sqlite, path.to_owned())
        } else if url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || is_libpq_keywords(url)
        {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(config_error(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://, or be libpq keywords (host=... dbname=...)",
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
        }
        Ok(DatabaseSettings {
            backend,
            target,
            pool_size,
            timeouts,
        })
    }
}

/// Whether a `DATABASE_URL` is in libpq's keyword form (`host=a,b
/// port=5432,5433 dbname=keygate target_session_attrs=read-write`): its
/// first word is one of libpq's connection keywords followed by `=`.
pub fn is_libpq_keywords(url: &str) -> bool {
    const FIRST: &[&str] = &[
        "host", "hostaddr", "port", "dbname", "user", "password", "service", "passfile",
    ];
    url.split_once('=')
        .is_some_and(|(name, _)| FIRST.contains(&name.trim()))
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
            3_600_000,
        )?;
        let invalidation_poll = parse_number(
            "KEYGATE_INVALIDATION_POLL_MS",
            &self.invalidation_poll_ms,
            50,
            60_000,
        )?;
        let last_used_flush = parse_number(
            "KEYGATE_LAST_USED_FLUSH_MS",
            &self.last_used_flush_ms,
            100,
            600_000,
        )?;
        let request_deadline = parse_number(
            "KEYGATE_REQUEST_DEADLINE_MS",
            &self.request_deadline_ms,
            100,
            600_000,
        )?;
        let shutdown_timeout = parse_number(
            "KEYGATE_SHUTDOWN_TIMEOUT_SECONDS",
            &self.shutdown_timeout_seconds,
            0,
            3600,
        )?;
        let audit_retention = match parse_number(
            "KEYGATE_AUDIT_RETENTION_DAYS",
            &self.audit_retention_days,
            0,
            36_500,
        )? {
            0 => None,
            days => Some(chrono::Duration::days(days)),
        };
        let analytics_flush = parse_number(
            "KEYGATE_ANALYTICS_FLUSH_MS",
            &self.analytics_flush_ms,
            100,
            600_000,
        )?;
        let analytics_retention = match parse_number(
            "KEYGATE_ANALYTICS_RETENTION_DAYS",
            &self.analytics_retention_days,
            0,
            36_500,
        )? {
            0 => None,
            days => Some(chrono::Duration::days(days)),
        };
        let metrics_token = match self.metrics_token.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(token) if !(16..=256).contains(&token.len()) || !token.is_ascii() => {
                return Err(config_error(
                    "KEYGATE_METRICS_TOKEN",
                    "must be 16 to 256 ASCII characters",
                ))
            }
            Some(token) => Some(crate::metrics::MetricsToken::new(token.to_owned())),
        };
        let trusted_proxies =
            crate::net::TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or(""))
                .map_err(|why| config_error("KEYGATE_TRUSTED_PROXIES", why))?;
        let recovery_window = match parse_number(
            "KEYGATE_RECOVERY_WINDOW_DAYS",
            &self.recovery_window_days,
            0,
            3_650,
        )? {
            0 => None,
            days => Some(chrono::Duration::days(days)),
        };
        let secret_versions =
            parse_number("KEYGATE_SECRET_VERSIONS", &self.secret_versions, 0, 100)?;
        let database = self.database.settings()?;
        let (master_key, retired_master_keys) = self.keyring.sources(&database)?;
        let secret_scanning_keys = match (
            &self.secret_scanning_keys,
            &self.secret_scanning_keys_file,
        ) {
            (Some(_), Some(_)) => return Err(config_error(
                "KEYGATE_SECRET_SCANNING_KEYS",
                "set KEYGATE_SECRET_SCANNING_KEYS or KEYGATE_SECRET_SCANNING_KEYS_FILE, not both",
            )),
            (Some(text), None) => ScanningKeysSource::Inline(text.clone()),
            (None, Some(path)) => ScanningKeysSource::File(path.clone()),
            (None, None) => ScanningKeysSource::None,
        };
        Ok(Settings {
            recovery_window,
            secret_versions,
            secret_scanning_keys,
            bind,
            master_key,
            retired_master_keys,
            database,
            bootstrap_key,
            max_body_bytes,
            body_timeout: Duration::from_millis(body_timeout),
            auth_cache_ttl: Duration::from_millis(auth_cache_ttl),
            invalidation_poll: Duration::from_millis(invalidation_poll),
            metrics_token,
            trusted_proxies,
            last_used_flush: Duration::from_millis(last_used_flush),
            request_deadline: Duration::from_millis(request_deadline),
            shutdown_timeout: Duration::from_secs(shutdown_timeout),
            audit_retention,
            analytics_flush: Duration::from_millis(analytics_flush),
            analytics_retention,
        })
    }
}

/// The log filter: `RUST_LOG` when set, else `info`. A value env_logger
/// would misread fails with one line instead: a syntax error, an unknown
/// level, or a word that is neither a level nor a module path (`[[[` would
/// otherwise be read as the name of a module, turning every line off).
pub fn log_filter(value: Option<&str>) -> Result<String, ConfigError> {
    let Some(spec) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok("info".to_owned());
    };
    let bad = |why: String| config_error("RUST_LOG", why);
    let directives = spec.split_once('/').map_or(spec, |(d, _)| d);
    let is_level = |word: &str| word.parse::<log::LevelFilter>().is_ok();
    let is_path = |word: &str| {
        !word.is_empty()
            && word.split("::").all(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
    };
    for directive in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        match directive.split_once('=') {
            Some((module, level)) => {
                if !is_path(module.trim()) {
                    return Err(bad(format!("`{directive}`: `{module}` is not a module path such as keygate or actix_web")));
                }
                if !level.trim().is_empty() && !is_level(level.trim()) {
                    return Err(bad(format!("`{directive}`: `{level}` is not a level (off, error, warn, info, debug, trace)")));
                }
            }
            None if is_level(directive) || is_path(directive) => {}
            None => {
                return Err(bad(format!(
                    "`{directive}` is neither a level (off, error, warn, info, debug, trace) nor a module path such as keygate=debug"
                )))
            }
        }
    }
    env_filter::Builder::new()
        .try_parse(spec)
        .map_err(|e| bad(e.to_string()))?;
    Ok(spec.to_owned())
}
