//! The database: one connection type over PostgreSQL and SQLite, the pool
//! that hands connections out, migrations, and `Db::run`, the only way a
//! handler reaches the database (on the blocking pool, never on an async
//! worker).

pub mod schema;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{Backend, DatabaseSettings};
use crate::error::ApiError;

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
                // WAL lets readers run beside the one writer; foreign keys are
                // off by default in SQLite; the busy timeout waits for the
                // writer instead of failing at once.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
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

/// Shared handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    // SQLite has one writer at a time and a deferred transaction that reads and
    // then writes can fail at once with SQLITE_BUSY instead of waiting. Writers
    // of this process take turns here first; PostgreSQL needs no such lock.
    sqlite_writer: Arc<Mutex<()>>,
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
            pool,
            backend: settings.backend,
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    /// Which backend this database is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending migration of the backend's tree.
    pub fn migrate(&self) -> Result<(), SetupError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| SetupError::Connect(e.to_string()))?;
        let result = match &mut *conn {
            AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        };
        result.map_err(|e| SetupError::Migrate(e.to_string()))
    }

    /// Runs read-only database work on the blocking pool.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }

    /// Runs database work that writes, on the blocking pool. The work owns its
    /// transaction (repo functions open one each).
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        actix_web::web::block(move || this.write_blocking(work)).await?
    }

    /// The synchronous form of [`Db::write`], for the command line and tests.
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
    {
        let mut conn = self.pool.get()?;
        match self.backend {
            Backend::Sqlite => {
                let _turn = self
                    .sqlite_writer
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                work(&mut conn)
            }
            Backend::Postgres => work(&mut conn),
        }
    }

    /// Whether a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.read(|conn| conn.ping().map_err(ApiError::from)).await
    }
}
