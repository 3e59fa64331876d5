//! The database: one connection type over PostgreSQL and SQLite, the pool
//! that hands connections out, migrations, and `Db::read`/`Db::write`, the
//! only way a handler reaches the database (on the blocking pool, never on
//! an async worker, within the request's deadline). Beside it, what every
//! repo shares: keyset pages, row versions (`ETag`/`If-Match`), and the
//! record of what a write changed, handed on after commit.

pub mod changes;
pub mod deadline;
pub mod page;
pub mod schema;
pub mod setup;
pub mod version;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{Backend, DatabaseSettings};
use crate::error::ApiError;
use changes::{AfterCommit, Changed, Recording};
use deadline::current_deadline;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

mod connection {
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A connection to either backend; queries are written once against it.
    #[derive(diesel::MultiConnection)]
    pub enum AnyConnection {
        /// PostgreSQL, for production and many nodes.
        Postgresql(PgConnection),
        /// SQLite, the embedded default.
        Sqlite(SqliteConnection),
    }
}

pub use connection::AnyConnection;

/// Opens connections of the backend the URL names, and only that one.
///
/// diesel's own `ConnectionManager<AnyConnection>` tries each backend in turn
/// and SQLite accepts any string as a file name, so an unreachable PostgreSQL
/// would silently become a local SQLite file. This manager never falls back.
#[derive(Debug)]
pub struct Manager {
    settings: DatabaseSettings,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.settings.backend {
            Backend::Postgres => PgConnection::establish(&self.settings.target)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.settings.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // The busy timeout waits for the writer instead of failing at
                // once; it comes first, because switching to WAL needs a lock
                // that a migration on another connection may hold (the pool
                // opens connections while the first start migrates). WAL lets
                // readers run beside the one writer; foreign keys are off by
                // default in SQLite.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// The pool of connections.
pub type Pool = r2d2::Pool<Manager>;

/// A failure to open or migrate the database at start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The first connection could not be made.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
    /// The SQLite file or its folder cannot be used (see [`setup`]).
    #[error("DATABASE_URL: {0}")]
    File(String),
}

async fn within<T>(
    deadline: Option<Instant>,
    task: impl std::future::Future<
        Output = Result<Result<T, ApiError>, actix_web::error::BlockingError>,
    >,
) -> Result<T, ApiError> {
    match deadline {
        None => task.await?,
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(done) => done?,
            Err(_) => Err(ApiError::Timeout),
        },
    }
}

/// Now, in UTC, truncated to microseconds so both backends store and return
/// the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// A new time-ordered id with a type prefix: `aky_`, `org_`, `evt_`...
/// (a UUIDv7 in hex, so ids sort in creation order).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// Where connections come from.
#[derive(Clone)]
enum Source {
    /// The server: an r2d2 pool.
    Pool(Pool),
    /// The command line: one connection made and closed on the calling
    /// thread. r2d2 opens connections on worker threads, and a PostgreSQL
    /// connection still in a worker while the process exits can crash the
    /// exit (libpq and OpenSSL tear down underneath it).
    Single(Arc<Mutex<AnyConnection>>),
}

/// A connection lent by a [`Source`].
enum Lent<'a> {
    Pooled(r2d2::PooledConnection<Manager>),
    Single(std::sync::MutexGuard<'a, AnyConnection>),
}

impl std::ops::Deref for Lent<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Lent::Pooled(c) => c,
            Lent::Single(c) => c,
        }
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Lent::Pooled(c) => c,
            Lent::Single(c) => c,
        }
    }
}

impl Source {
    fn get(&self) -> Result<Lent<'_>, ApiError> {
        Ok(match self {
            Source::Pool(pool) => Lent::Pooled(pool.get()?),
            Source::Single(conn) => Lent::Single(conn.lock().unwrap_or_else(|p| p.into_inner())),
        })
    }
}

/// Shared handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    source: Source,
    backend: Backend,
    // SQLite has one writer at a time and a deferred transaction that reads and
    // then writes can fail at once with SQLITE_BUSY instead of waiting. Writers
    // of this process take turns here first; PostgreSQL needs no such lock.
    sqlite_writer: Arc<Mutex<()>>,
    after_commit: Option<AfterCommit>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Opens the pool and checks that one connection can be made.
    pub fn connect(settings: &DatabaseSettings) -> Result<Db, SetupError> {
        let pool = r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(Manager {
                settings: settings.clone(),
            })
            .map_err(|e| SetupError::Connect(e.to_string()))?;
        Ok(Db {
            source: Source::Pool(pool),
            backend: settings.backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            after_commit: None,
        })
    }

    /// Opens one connection on this thread, for a command-line run: no
    /// worker threads, and the connection closes when the `Db` is dropped.
    pub fn connect_single(settings: &DatabaseSettings) -> Result<Db, SetupError> {
        let conn = Manager {
            settings: settings.clone(),
        }
        .connect()
        .map_err(
            |e| match (settings.backend, setup::describe(settings, &e)) {
                (Backend::Sqlite, failure) => SetupError::File(failure.line),
                (Backend::Postgres, failure) => SetupError::Connect(failure.line),
            },
        )?;
        Ok(Db {
            source: Source::Single(Arc::new(Mutex::new(conn))),
            backend: settings.backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            after_commit: None,
        })
    }

    /// The same database, telling `listener` after each committed write
    /// what it changed (see [`changes`]).
    pub fn after_commit(mut self, listener: impl Fn(&[Changed]) + Send + Sync + 'static) -> Db {
        self.after_commit = Some(Arc::new(listener));
        self
    }

    /// Which backend this database is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration of the backend's tree.
    pub fn migrate(&self) -> Result<(), SetupError> {
        let mut conn = self
            .source
            .get()
            .map_err(|e| SetupError::Connect(e.to_string()))?;
        let result = match &mut *conn {
            AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        };
        result.map_err(|e| SetupError::Migrate(e.to_string()))
    }

    /// Runs read-only database work on the blocking pool, within the
    /// request's deadline (504 when it runs out).
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let source = self.source.clone();
        let deadline = current_deadline();
        within(
            deadline,
            actix_web::web::block(move || {
                let mut conn = source.get()?;
                work(&mut conn)
            }),
        )
        .await
    }

    /// Runs database work that writes, on the blocking pool, in one
    /// transaction (repo functions' own transactions nest inside it). When
    /// the request has a deadline the answer is 504 once it runs out, and a
    /// transaction that finishes after it is rolled back, never committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        let deadline = current_deadline();
        within(
            deadline,
            actix_web::web::block(move || this.write_until(deadline, work)),
        )
        .await
    }

    /// The synchronous form of [`Db::write`] without a deadline, for the
    /// command line, start-up and tests.
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
    {
        self.write_until(None, work)
    }

    fn write_until<T, F>(&self, deadline: Option<Instant>, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
    {
        let expired = || deadline.is_some_and(|d| Instant::now() >= d);
        if expired() {
            return Err(ApiError::Timeout);
        }
        let mut conn = self.source.get()?;
        let _turn = match self.backend {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ),
            Backend::Postgres => None,
        };
        let conn = &mut *conn;
        type Manager = <AnyConnection as Connection>::TransactionManager;
        match conn {
            // A deferred BEGIN that reads and then writes fails at once with
            // SQLITE_BUSY when another process holds the write lock; IMMEDIATE
            // takes the lock up front, so busy_timeout applies.
            AnyConnection::Sqlite(c) => {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
            }
            AnyConnection::Postgresql(_) => Manager::begin_transaction(conn)?,
        }
        let recording = Recording::start();
        let outcome = work(conn).and_then(|out| {
            if expired() {
                Err(ApiError::Timeout)
            } else {
                Ok(out)
            }
        });
        match outcome {
            Ok(out) => match Manager::commit_transaction(conn) {
                Ok(()) => {
                    let changed = recording.finish();
                    if let (false, Some(listener)) = (changed.is_empty(), &self.after_commit) {
                        listener(&changed);
                    }
                    Ok(out)
                }
                Err(err) => {
                    let _ = Manager::rollback_transaction(conn);
                    Err(err.into())
                }
            },
            Err(err) => {
                if let Err(rollback) = Manager::rollback_transaction(conn) {
                    log::warn!("rollback failed: {rollback}");
                }
                Err(err)
            }
        }
    }

    /// Whether a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.read(|conn| conn.ping().map_err(ApiError::from)).await
    }
}
