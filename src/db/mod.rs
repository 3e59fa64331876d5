//! The database: one connection type over PostgreSQL and SQLite, the pool
//! that hands connections out, migrations, and `Db::read`/`Db::write`, the
//! only way a handler reaches the database (on the blocking pool, never on
//! an async worker, within the request's deadline). Beside it, what every
//! repo shares: keyset pages, row versions (`ETag`/`If-Match`), and the
//! record of what a write changed, handed on after commit.

pub mod changes;
pub mod deadline;
pub mod page;
pub mod peers;
pub mod recovery;
pub mod retry;
pub mod schema;
pub mod setup;
pub mod version;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{Backend, DatabaseSettings, DatabaseTimeouts};
use crate::error::ApiError;
use changes::{AfterCommit, Changed, Recording};
use deadline::{current_deadline, Deadline};

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
pub(crate) use connection::MultiBackend;

/// Opens connections of the backend the URL names, and only that one.
///
/// diesel's own `ConnectionManager<AnyConnection>` tries each backend in turn
/// and SQLite accepts any string as a file name, so an unreachable PostgreSQL
/// would silently become a local SQLite file. This manager never falls back.
#[derive(Debug)]
pub struct Manager {
    settings: DatabaseSettings,
}

/// A pooled connection and what the pool needs to know of it: since when
/// it has sat idle (a connection back within [`ALIVE_BYPASS`] is lent
/// without a ping) and whether its last use failed in a way that leaves
/// it unusable (it is then closed instead of going back to the pool).
pub struct PoolConn {
    conn: AnyConnection,
    idle_since: Instant,
    discard: bool,
}

/// A connection used this recently is lent without a ping: the ping is one
/// more round trip per request under load (r2d2's `test_on_check_out`
/// sends it on every checkout), while a connection that broke while busy
/// fails its query, answers 503 and is closed ([`Lent::discard`]). One
/// that sat idle longer (through a database restart, say) is pinged first,
/// as before. HikariCP's `aliveBypassWindowMs` (500 ms) is the same idea.
const ALIVE_BYPASS: Duration = Duration::from_secs(1);

impl ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConn, r2d2::Error> {
        self.open().map(|conn| PoolConn {
            conn,
            idle_since: Instant::now(),
            discard: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), r2d2::Error> {
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        // Called as the connection comes back: from now on it is idle.
        conn.idle_since = Instant::now();
        conn.discard || conn.conn.is_broken()
    }
}

impl Manager {
    fn open(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.settings.backend {
            Backend::Postgres => {
                let timeouts = &self.settings.timeouts;
                let mut conn =
                    PgConnection::establish(&with_libpq_timeouts(&self.settings.target, timeouts))
                        .map_err(r2d2::Error::ConnectionError)?;
                // Server-side bounds of this session: no statement runs,
                // and no transaction sits idle holding its row locks (its
                // client gone in a partition, say), longer than this.
                let ms = timeouts.statement.as_millis();
                conn.batch_execute(&format!(
                    "SET statement_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms};"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(conn))
            }
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
}

/// libpq settings keygate adds to a PostgreSQL URL unless it names them
/// itself: a connect timeout, and TCP keepalives with a user timeout, so a
/// connection into a silent partition fails instead of hanging until the
/// kernel gives up (about 15 minutes). The values are in docs/OPERATIONS.md.
fn with_libpq_timeouts(url: &str, timeouts: &DatabaseTimeouts) -> String {
    let connect = timeouts.connect.as_secs().max(2).to_string();
    let defaults = [
        ("connect_timeout", connect.as_str()),
        ("keepalives", "1"),
        ("keepalives_idle", "10"),
        ("keepalives_interval", "5"),
        ("keepalives_count", "3"),
        ("tcp_user_timeout", "30000"),
    ];
    let mut out = url.to_owned();
    if crate::config::is_libpq_keywords(url) {
        // `name=value` words separated by spaces (values of these
        // settings are never quoted).
        for (name, value) in defaults {
            let prefix = format!("{name}=");
            if !url.split_whitespace().any(|word| word.starts_with(&prefix)) {
                out.push_str(&format!(" {name}={value}"));
            }
        }
        return out;
    }
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let named: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .collect();
    for (name, value) in defaults {
        if !named.contains(&name) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// The pool of connections.
pub type Pool = r2d2::Pool<Manager>;

/// r2d2 waits between failed attempts to open a connection with a delay
/// that doubles up to half its own connection timeout; this short one keeps
/// that delay at 0.3 s, so service resumes within about a third of a second
/// of the database's return. Every checkout names its own wait
/// ([`DatabaseTimeouts::pool_checkout`], cut to the request's deadline).
const RECONNECT_BACKOFF_CAP_TWICE: Duration = Duration::from_millis(600);

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
    deadline: Option<Deadline>,
    task: impl std::future::Future<
        Output = Result<Result<T, ApiError>, actix_web::error::BlockingError>,
    >,
) -> Result<T, ApiError> {
    match deadline {
        None => task.await?,
        Some(deadline) => match tokio::time::timeout_at(deadline.at.into(), task).await {
            Ok(done) => done?,
            Err(_) => Err(deadline.ran_out()),
        },
    }
}

/// Where a write stands, shared by the thread doing it and the request
/// waiting for it: the thread may commit only if the request has not given
/// up, and the request may give up only while the thread has not begun to
/// commit. So a write is answered 503/504 exactly when it did not commit.
#[derive(Default)]
struct CommitGate(AtomicU8);

const RUNNING: u8 = 0;
const COMMITTING: u8 = 1;
const ABANDONED: u8 = 2;

impl CommitGate {
    /// The thread's turn: true when it may commit.
    fn begin_commit(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The thread's turn again, after a commit that failed: the write is
    /// retried and may begin to commit once more. Only a request that has
    /// not given up waits for it (its deadline, checked before the retry,
    /// has not passed).
    fn resume(&self) {
        let _ = self
            .0
            .compare_exchange(COMMITTING, RUNNING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The request's turn: true when the write will now never commit.
    fn abandon(&self) -> bool {
        self.0
            .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Now, in UTC, truncated to microseconds so both backends store and return
/// the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// A time from its microseconds since 1970, as cursors carry it, or `None`
/// outside the years 1 to 9999: what RFC 3339 can write and both backends
/// can compare (PostgreSQL refuses a timestamp before 4713 BC with an
/// error, which would be a 500).
pub fn time_from_micros(micros: i64) -> Option<chrono::NaiveDateTime> {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .filter(|t| (1..=9999).contains(&t.year()))
}

/// Runs `work` atomically: in a transaction of its own when none is open,
/// else as part of the open one, without diesel's savepoint (two more round
/// trips). Every [`Db::write`] is one transaction, rolled back whole when
/// its work fails, so a savepoint inside it matters only to a caller that
/// catches an error and goes on; such a caller keeps `conn.transaction`.
pub fn atomic<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    type Manager = <AnyConnection as Connection>::TransactionManager;
    let open = Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(E::from)?
        .is_some();
    if open {
        work(conn)
    } else {
        conn.transaction(work)
    }
}

/// A new time-ordered id with a type prefix: `aky_`, `org_`, `evt_`...
/// (a UUIDv7 in hex, so ids sort in creation order).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// The smallest id [`new_id`] can make at `at` or later: ids before it
/// were made earlier (a UUIDv7 begins with its 48-bit millisecond time).
pub fn first_id_at(prefix: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    format!("{prefix}{millis:012x}{}", "0".repeat(20))
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

/// A connection lent by a [`Source`]. It lives on one blocking thread's
/// stack for one piece of work; boxing the pooled one would cost an
/// allocation per checkout to save stack space nobody needs.
#[expect(clippy::large_enum_variant)]
enum Lent<'a> {
    Pooled(r2d2::PooledConnection<Manager>),
    Single(std::sync::MutexGuard<'a, AnyConnection>),
}

impl std::ops::Deref for Lent<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Lent::Pooled(c) => &c.conn,
            Lent::Single(c) => c,
        }
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Lent::Pooled(c) => &mut c.conn,
            Lent::Single(c) => c,
        }
    }
}

impl Lent<'_> {
    /// Closes a pooled PostgreSQL connection when it comes back if `result`
    /// says the database was unavailable: a connection reset or refused
    /// under it (its next query would fail too), or a session the server
    /// ended; a statement timeout costs a reconnect at worst.
    fn discard_if_unavailable<T>(&mut self, result: &Result<T, ApiError>) {
        if let (Lent::Pooled(c), Err(ApiError::Unavailable)) = (self, result) {
            if matches!(c.conn, AnyConnection::Postgresql(_)) {
                c.discard = true;
            }
        }
    }
}

impl Source {
    /// A connection within `wait` (a pooled one; the command line's single
    /// connection is always there). A pooled connection idle for longer
    /// than [`ALIVE_BYPASS`] is pinged first; one that fails is closed and
    /// the next one taken.
    fn get(&self, wait: Duration) -> Result<Lent<'_>, ApiError> {
        let pool = match self {
            Source::Pool(pool) => pool,
            Source::Single(conn) => {
                return Ok(Lent::Single(conn.lock().unwrap_or_else(|p| p.into_inner())))
            }
        };
        let started = Instant::now();
        let until = started + wait;
        loop {
            let conn = pool.get_timeout(until.saturating_duration_since(Instant::now()));
            let mut conn = match conn {
                Ok(conn) => conn,
                Err(e) => {
                    crate::metrics::metrics()
                        .pool_wait
                        .observe(started.elapsed().as_secs_f64());
                    return Err(e.into());
                }
            };
            if conn.idle_since.elapsed() < ALIVE_BYPASS || conn.conn.ping().is_ok() {
                crate::metrics::metrics()
                    .pool_wait
                    .observe(started.elapsed().as_secs_f64());
                return Ok(Lent::Pooled(conn));
            }
            conn.discard = true;
        }
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
    sqlite_writer: Arc<parking_lot::Mutex<()>>,
    after_commit: Option<AfterCommit>,
    timeouts: DatabaseTimeouts,
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
            .connection_timeout(RECONNECT_BACKOFF_CAP_TWICE)
            // `Source::get` pings only connections that sat idle.
            .test_on_check_out(false)
            .build_unchecked(Manager {
                settings: settings.clone(),
            });
        // The first connection must be made within the checkout wait.
        drop(
            pool.get_timeout(settings.timeouts.pool_checkout)
                .map_err(|e| SetupError::Connect(e.to_string()))?,
        );
        Ok(Db {
            source: Source::Pool(pool),
            backend: settings.backend,
            sqlite_writer: Arc::default(),
            after_commit: None,
            timeouts: settings.timeouts,
        })
    }

    /// Opens one connection on this thread, for a command-line run: no
    /// worker threads, and the connection closes when the `Db` is dropped.
    pub fn connect_single(settings: &DatabaseSettings) -> Result<Db, SetupError> {
        let conn = Manager {
            settings: settings.clone(),
        }
        .open()
        .map_err(
            |e| match (settings.backend, setup::describe(settings, &e)) {
                (Backend::Sqlite, failure) => SetupError::File(failure.line),
                (Backend::Postgres, failure) => SetupError::Connect(failure.line),
            },
        )?;
        Ok(Db {
            source: Source::Single(Arc::new(Mutex::new(conn))),
            backend: settings.backend,
            sqlite_writer: Arc::default(),
            after_commit: None,
            timeouts: settings.timeouts,
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
            .get(self.timeouts.pool_checkout)
            .map_err(|e| SetupError::Connect(e.to_string()))?;
        let result = match &mut *conn {
            // A migration may take longer than a request's statement; the
            // session's bound comes back with the next connection.
            AnyConnection::Postgresql(c) => c
                .batch_execute("SET statement_timeout = 0")
                .map_err(Into::into)
                .and_then(|()| c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop))
                .and_then(|()| {
                    let ms = self.timeouts.statement.as_millis();
                    Ok(c.batch_execute(&format!("SET statement_timeout = {ms}"))?)
                }),
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        };
        result.map_err(|e| SetupError::Migrate(e.to_string()))
    }

    /// How long to wait for a connection: the checkout bound, cut to the
    /// deadline.
    fn checkout_wait(&self, deadline: Option<Deadline>) -> Duration {
        let wait = self.timeouts.pool_checkout;
        deadline.map_or(wait, |d| wait.min(d.remaining()))
    }

    /// A connection, or why none: the deadline's answer when it is what
    /// ran out, else 503.
    fn checkout(&self, deadline: Option<Deadline>) -> Result<Lent<'_>, ApiError> {
        self.source
            .get(self.checkout_wait(deadline))
            .map_err(|err| match deadline {
                Some(d) if d.has_passed() => d.ran_out(),
                _ => err,
            })
    }

    /// Runs read-only database work on the blocking pool, within the
    /// request's deadline (its answer when it runs out: 504 for the
    /// caller's `Request-Timeout`, 503 for keygate's own).
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        let deadline = current_deadline();
        within(
            deadline,
            actix_web::web::block(move || {
                if let Some(d) = deadline.filter(Deadline::has_passed) {
                    return Err(d.ran_out());
                }
                let mut conn = this.checkout(deadline)?;
                let result = work(&mut conn);
                conn.discard_if_unavailable(&result);
                result
            }),
        )
        .await
    }

    /// Runs database work that writes, on the blocking pool, in one
    /// transaction (repo functions' own transactions nest inside it). The
    /// work may run more than once: a transaction ended by a serialization
    /// failure or a deadlock is retried ([`retry`]), so it must not move
    /// what it captures.
    ///
    /// The deadline is checked just before the commit, never after: a
    /// write still running when the deadline passes is rolled back and
    /// answered 504 (the caller's `Request-Timeout`) or 503 (keygate's own
    /// deadline); a write that has begun to commit is waited for (up to the
    /// statement timeout more) and answered with its outcome. Only when
    /// even that wait runs out, which takes a database that stopped
    /// answering mid-commit, is the answer 503 with the outcome unknown.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        let deadline = current_deadline();
        let gate = Arc::new(CommitGate::default());
        let thread_gate = gate.clone();
        let task =
            actix_web::web::block(move || this.write_until(deadline, Some(&thread_gate), work));
        let Some(deadline) = deadline else {
            return task.await?;
        };
        tokio::pin!(task);
        if let Ok(done) = tokio::time::timeout_at(deadline.at.into(), &mut task).await {
            return done?;
        }
        if gate.abandon() {
            return Err(deadline.ran_out());
        }
        match tokio::time::timeout(self.timeouts.statement, task).await {
            Ok(done) => done?,
            Err(_) => {
                log::warn!(
                    "a write's commit did not finish within {:?} of its deadline; \
                     it may or may not have committed",
                    self.timeouts.statement
                );
                Err(ApiError::Unavailable)
            }
        }
    }

    /// The synchronous form of [`Db::write`] without a deadline, for the
    /// command line, start-up and tests.
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, ApiError>,
    {
        self.write_until(None, None, work)
    }

    /// Runs `work` in a transaction, again (with a backoff) when the
    /// database ended it with a serialization failure or a deadlock, as
    /// long as attempts and the deadline allow ([`retry`]).
    fn write_until<T, F>(
        &self,
        deadline: Option<Deadline>,
        gate: Option<&CommitGate>,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, ApiError>,
    {
        let mut attempt = 1;
        loop {
            retry::take();
            let outcome = self.write_once(deadline, gate, &work);
            if outcome.is_ok() || !retry::take() || attempt >= retry::ATTEMPTS {
                return outcome;
            }
            let pause = retry::backoff(attempt);
            if deadline.is_some_and(|d| d.remaining() <= pause) {
                return outcome;
            }
            crate::metrics::metrics().db_retries.inc();
            // A commit that failed may begin again.
            if let Some(gate) = gate {
                gate.resume();
            }
            std::thread::sleep(pause);
            attempt += 1;
        }
    }

    fn write_once<T, F>(
        &self,
        deadline: Option<Deadline>,
        gate: Option<&CommitGate>,
        work: &F,
    ) -> Result<T, ApiError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, ApiError>,
    {
        if let Some(d) = deadline.filter(Deadline::has_passed) {
            return Err(d.ran_out());
        }
        let mut conn = self.checkout(deadline)?;
        let _turn = match self.backend {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .try_lock_for(self.checkout_wait(deadline))
                    .ok_or_else(|| match deadline {
                        Some(d) if d.has_passed() => d.ran_out(),
                        _ => ApiError::Unavailable,
                    })?,
            ),
            Backend::Postgres => None,
        };
        let result = self.transaction(&mut conn, deadline, gate, work);
        conn.discard_if_unavailable(&result);
        result
    }

    /// `work` in one transaction on `conn`, committed unless the deadline
    /// passed or the request gave up first (see [`Db::write`]).
    fn transaction<T, F>(
        &self,
        conn: &mut AnyConnection,
        deadline: Option<Deadline>,
        gate: Option<&CommitGate>,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
    {
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
        // The last moment to give up: past it, the change is committed and
        // reported as done.
        let outcome = work(conn)
            // Told to the other nodes in the same transaction.
            .and_then(|out| Ok(peers::publish(conn, &recording.so_far()).map(|()| out)?))
            .and_then(|out| match deadline {
                Some(d) if d.has_passed() => Err(d.ran_out()),
                Some(d) if !gate.is_none_or(CommitGate::begin_commit) => Err(d.ran_out()),
                _ => Ok(out),
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

    /// The pool's open connections, those lent out, and its size (`None`
    /// for the command line's single connection).
    pub fn pool_state(&self) -> Option<(u32, u32, u32)> {
        match &self.source {
            Source::Pool(pool) => {
                let state = pool.state();
                Some((
                    state.connections,
                    state.connections - state.idle_connections,
                    pool.max_size(),
                ))
            }
            Source::Single(_) => None,
        }
    }

    /// Whether a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.read(|conn| conn.ping().map_err(ApiError::from)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_timeouts_are_added_unless_the_url_names_them() {
        let timeouts = DatabaseTimeouts::default();
        let plain = with_libpq_timeouts("postgres://u@h/db", &timeouts);
        assert_eq!(
            plain,
            "postgres://u@h/db?connect_timeout=3&keepalives=1&keepalives_idle=10\
             &keepalives_interval=5&keepalives_count=3&tcp_user_timeout=30000"
        );
        let own = with_libpq_timeouts(
            "postgres://u@h1,h2/db?connect_timeout=9&sslmode=require&tcp_user_timeout=1",
            &timeouts,
        );
        assert!(own.starts_with("postgres://u@h1,h2/db?connect_timeout=9&sslmode=require&tcp_user_timeout=1&keepalives=1"), "{own}");
        assert_eq!(own.matches("connect_timeout").count(), 1, "{own}");
        assert_eq!(own.matches("tcp_user_timeout").count(), 1, "{own}");
        let words = with_libpq_timeouts(
            "host=a,b port=5432,5433 dbname=k target_session_attrs=read-write keepalives_idle=7",
            &timeouts,
        );
        assert!(words.starts_with("host=a,b port=5432,5433 dbname=k target_session_attrs=read-write keepalives_idle=7 connect_timeout=3 keepalives=1 "), "{words}");
        assert_eq!(words.matches("keepalives_idle").count(), 1, "{words}");
    }

    #[test]
    fn ids_made_at_or_after_a_time_sort_after_its_first_id() {
        let at = chrono::Utc::now();
        let floor = first_id_at("evt_", at);
        let later = new_id("evt_");
        assert!(later >= floor, "{later} >= {floor}");
        let earlier = first_id_at("evt_", at - chrono::Duration::milliseconds(1));
        assert!(earlier < floor);
        assert_eq!(floor.len(), later.len());
    }

    #[test]
    fn cursor_times_outside_the_years_1_to_9999_are_refused() {
        assert!(time_from_micros(0).is_some());
        let year = |y: i32| {
            chrono::NaiveDate::from_ymd_opt(y, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        assert!(time_from_micros(year(1)).is_some());
        assert!(time_from_micros(year(9999)).is_some());
        assert!(time_from_micros(year(0)).is_none());
        assert!(time_from_micros(year(-10_000)).is_none());
        assert!(time_from_micros(year(10_000)).is_none());
        assert!(time_from_micros(i64::MIN).is_none());
    }
}
