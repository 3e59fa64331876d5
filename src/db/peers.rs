//! What a write changed, told to the other nodes sharing a PostgreSQL
//! database, so their authentication caches drop it within a second
//! although their entries live a minute.
//!
//! - **In the changing transaction** ([`publish`], called by `Db::write`
//!   before it commits): one `cache_invalidations` row per changed key
//!   owner ([`super::changes`]), and a `NOTIFY keygate_invalidation`, which
//!   PostgreSQL delivers only once the transaction has committed. Only key
//!   changes record anything; the `last_used_at` write-behind never does
//!   (NOTIFY takes an instance-wide lock at commit).
//! - **The cursor** ([`Cursor`]): every node reads the rows past the last id
//!   it has seen, on a pool connection, whenever the listener wakes it and
//!   at least every `KEYGATE_INVALIDATION_POLL_MS` (the backstop). Ids come
//!   from a sequence and a transaction that took a smaller id may commit
//!   after a larger one was read, so the ids skipped over are asked again
//!   for [`HOLE_LIFE`] (a rolled-back write leaves one for good).
//! - **The listener** ([`spawn_listener`]): a connection of its own
//!   (`application_name=keygate-listener`), not from the pool, that runs
//!   `LISTEN` and wakes the cursor. It reconnects with a jittered backoff
//!   and wakes the cursor on each reconnect, so whatever was missed while it
//!   was away is read at once. At start it checks that a notification comes
//!   back (PgBouncer in transaction mode silently breaks `LISTEN`) and warns
//!   when none does; the poll then carries revocation alone.
//! - **Pruning** ([`prune`]): rows older than [`KEEP`] are deleted.
//!
//! SQLite has one node and writes none of it. docs/OPERATIONS.md, "Running
//! several nodes", states the bounds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::changes::Changed;
use super::schema::cache_invalidations;
use super::{now, with_libpq_timeouts, AnyConnection};
use crate::config::DatabaseSettings;

/// The notification channel.
pub const CHANNEL: &str = "keygate_invalidation";

/// The listener connection's `application_name`, so operators (and the
/// multi-node suite) can tell it from the pool's connections.
pub const LISTENER_APPLICATION: &str = "keygate-listener";

/// How long an id skipped over by the cursor is asked for again: longer
/// than a write takes from taking its id (just before its commit) to the
/// end of that commit.
pub const HOLE_LIFE: Duration = Duration::from_secs(30);

/// How long rows are kept: a node whose cursor fell further behind than
/// this clears its caches instead ([`Cursor::read`]).
pub const KEEP: Duration = Duration::from_secs(3600);

/// Rows read in one query; more are read by the next query at once.
const READ_BATCH: i64 = 5_000;

/// Most ids remembered as skipped over.
const MAX_HOLES: usize = 10_000;

/// How often the listener looks for delivered notifications (a read of
/// what has already arrived on its socket, no query).
const LISTEN_TICK: Duration = Duration::from_millis(5);

/// How long the start-up probe waits for its own notification.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// The listener's reconnect backoff: from the first, doubling to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Writes the invalidation rows of a write's changes and the notification,
/// inside its transaction (PostgreSQL only; SQLite's one node needs none).
pub(super) fn publish(conn: &mut AnyConnection, changed: &[Changed]) -> QueryResult<()> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    if changed.is_empty() {
        return Ok(());
    }
    let at = now().naive_utc();
    let rows: Vec<_> = changed
        .iter()
        .map(|c| {
            (
                cache_invalidations::owner_kind.eq(&c.kind),
                cache_invalidations::owner_id.eq(&c.id),
                cache_invalidations::created_at.eq(at),
            )
        })
        .collect();
    diesel::insert_into(cache_invalidations::table)
        .values(rows)
        .execute(pg)?;
    pg.batch_execute(&format!("NOTIFY {CHANNEL}"))
}

/// Deletes the rows older than [`KEEP`]; returns how many.
pub fn prune(conn: &mut AnyConnection) -> QueryResult<usize> {
    let cutoff = (now() - chrono::Duration::from_std(KEEP).unwrap_or_default()).naive_utc();
    diesel::delete(cache_invalidations::table.filter(cache_invalidations::created_at.lt(cutoff)))
        .execute(conn)
}

/// What one read of the cursor found.
#[derive(Debug, Default)]
pub struct Read {
    /// The changes, each with the time it was written.
    pub changed: Vec<(Changed, chrono::NaiveDateTime)>,
    /// The cursor had fallen too far behind: drop every cached entry.
    pub drop_all: bool,
}

/// A node's place in `cache_invalidations`.
#[derive(Debug)]
pub struct Cursor {
    last: i64,
    /// Ids skipped over, and when.
    holes: BTreeMap<i64, Instant>,
    /// When a read last succeeded.
    read_at: Instant,
}

impl Cursor {
    /// A cursor at the newest row: nothing was cached before it.
    pub fn start(conn: &mut AnyConnection) -> QueryResult<Cursor> {
        let last: Option<i64> = cache_invalidations::table
            .select(diesel::dsl::max(cache_invalidations::id))
            .first(conn)?;
        Ok(Cursor {
            last: last.unwrap_or(0),
            holes: BTreeMap::new(),
            read_at: Instant::now(),
        })
    }

    /// The rows written since the last read, and those of ids skipped over
    /// that have committed since.
    pub fn read(&mut self, conn: &mut AnyConnection) -> QueryResult<Read> {
        let mut read = Read {
            drop_all: self.read_at.elapsed() > KEEP / 2,
            ..Read::default()
        };
        self.holes.retain(|_, at| at.elapsed() < HOLE_LIFE);
        loop {
            let holes: Vec<i64> = self.holes.keys().copied().collect();
            let rows: Vec<(i64, String, String, chrono::NaiveDateTime)> =
                cache_invalidations::table
                    .filter(
                        cache_invalidations::id
                            .gt(self.last)
                            .or(cache_invalidations::id.eq_any(holes)),
                    )
                    .order(cache_invalidations::id.asc())
                    .limit(READ_BATCH)
                    .select((
                        cache_invalidations::id,
                        cache_invalidations::owner_kind,
                        cache_invalidations::owner_id,
                        cache_invalidations::created_at,
                    ))
                    .load(conn)?;
            let full = rows.len() as i64 == READ_BATCH;
            for (id, kind, owner_id, at) in rows {
                if id > self.last {
                    let skipped = id - self.last - 1;
                    if skipped > 0 && skipped as usize <= MAX_HOLES {
                        let seen = Instant::now();
                        self.holes.extend((self.last + 1..id).map(|h| (h, seen)));
                    }
                    self.last = id;
                } else {
                    self.holes.remove(&id);
                }
                read.changed.push((Changed { kind, id: owner_id }, at));
            }
            while self.holes.len() > MAX_HOLES {
                self.holes.pop_first();
            }
            if !full {
                break;
            }
        }
        self.read_at = Instant::now();
        Ok(read)
    }
}

/// How often the rows past [`KEEP`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Follows the other nodes' changes until the task is dropped: reads the
/// cursor when `wake` is notified (the listener) and at least every
/// `every` (the backstop), and hands each read to `apply`; prunes old rows
/// every minute. A failed read is logged and tried again at the next turn;
/// the cursor keeps its place, so nothing is skipped.
pub async fn follow(
    db: super::Db,
    cursor: Cursor,
    wake: Arc<tokio::sync::Notify>,
    every: Duration,
    apply: impl Fn(&Read),
) {
    let cursor = Arc::new(parking_lot::Mutex::new(cursor));
    let mut pruned = Instant::now();
    let mut failing = false;
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(every) => {}
        }
        let reading = cursor.clone();
        let read = db.read(move |conn| Ok(reading.lock().read(conn)?)).await;
        match read {
            Ok(read) => {
                if failing {
                    log::info!("reading invalidations again");
                    failing = false;
                }
                if read.drop_all || !read.changed.is_empty() {
                    apply(&read);
                }
            }
            Err(err) if !failing => {
                log::warn!(
                    "cannot read invalidations ({err}); retrying every {} ms",
                    every.as_millis()
                );
                failing = true;
            }
            Err(_) => {}
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = db.write(|conn| Ok(prune(conn)?)).await {
                log::warn!("cannot prune old invalidations: {err}");
            }
        }
    }
}

/// What the listener reports: whether it is connected, and whether the
/// start-up probe heard its own notification.
#[derive(Debug, Default)]
pub struct ListenerStatus {
    /// `LISTEN` is in effect on a live connection.
    pub connected: AtomicBool,
    /// The start-up probe's notification came back.
    pub probe_heard: AtomicBool,
    /// Set when the listener must end (its [`Listener`] was dropped).
    stop: AtomicBool,
}

/// The running listener; dropping it ends the thread and its connection.
#[derive(Debug)]
pub struct Listener {
    /// What it reports.
    pub status: Arc<ListenerStatus>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.status.stop.store(true, Ordering::Release);
    }
}

/// Starts the listener thread: it runs `LISTEN` on its own connection and
/// calls `wake` when a notification arrives and after each (re)connect.
pub fn spawn_listener(
    settings: &DatabaseSettings,
    wake: impl Fn() + Send + 'static,
) -> std::io::Result<Listener> {
    let url = listener_url(settings);
    let status = Arc::new(ListenerStatus::default());
    let thread_status = status.clone();
    std::thread::Builder::new()
        .name("keygate-listener".to_owned())
        .spawn(move || listen(&url, &thread_status, &wake))?;
    Ok(Listener { status })
}

/// The database URL with the listener's `application_name` (replacing one
/// the URL names) and keygate's libpq timeouts.
fn listener_url(settings: &DatabaseSettings) -> String {
    let url = with_libpq_timeouts(&settings.target, &settings.timeouts);
    if crate::config::is_libpq_keywords(&url) {
        // In the keyword form a later word wins over an earlier one.
        return format!("{url} application_name={LISTENER_APPLICATION}");
    }
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("application_name="))
        .collect();
    let own = format!("application_name={LISTENER_APPLICATION}");
    pairs.push(&own);
    format!("{base}?{}", pairs.join("&"))
}

fn listen(url: &str, status: &ListenerStatus, wake: &dyn Fn()) {
    let mut backoff = BACKOFF.0;
    let mut probed = false;
    // One line per outage, not one per attempt.
    let mut failing = false;
    while !status.stop.load(Ordering::Acquire) {
        match connect_and_listen(url) {
            Ok(mut conn) => {
                if failing {
                    log::info!("invalidation listener connected again");
                    failing = false;
                }
                status.connected.store(true, Ordering::Release);
                crate::metrics::metrics().listener_up.set(1);
                // Catch up on whatever was written while away.
                wake();
                if !probed {
                    probed = true;
                    probe(url, &mut conn, status, wake);
                }
                let since = Instant::now();
                let err = relay(&mut conn, status, wake);
                status.connected.store(false, Ordering::Release);
                crate::metrics::metrics().listener_up.set(0);
                let Some(err) = err else { return };
                log::warn!("invalidation listener lost its connection ({err}); reconnecting");
                if since.elapsed() > BACKOFF.1 {
                    backoff = BACKOFF.0;
                }
            }
            Err(err) if !failing => {
                failing = true;
                log::warn!(
                    "invalidation listener cannot connect ({err}); retrying with a backoff up to {} ms; \
                     the poll carries revocation meanwhile",
                    BACKOFF.1.as_millis()
                );
            }
            Err(_) => {}
        }
        std::thread::sleep(jittered(backoff));
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// A delay between half of `d` and `d`.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.5..=1.0))
}

fn connect_and_listen(url: &str) -> Result<PgConnection, String> {
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Wakes the cursor for every notification until the connection fails
/// (its error) or the listener is stopped (`None`).
fn relay(conn: &mut PgConnection, status: &ListenerStatus, wake: &dyn Fn()) -> Option<String> {
    loop {
        if status.stop.load(Ordering::Acquire) {
            return None;
        }
        let mut heard = false;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(_) => heard = true,
                Err(err) => return Some(err.to_string()),
            }
        }
        if heard {
            wake();
        }
        std::thread::sleep(LISTEN_TICK);
    }
}

/// Sends a notification from another connection and waits for it.
fn probe(url: &str, conn: &mut PgConnection, status: &ListenerStatus, wake: &dyn Fn()) {
    let token = format!("probe-{}", uuid::Uuid::now_v7().simple());
    let sent = PgConnection::establish(url)
        .map_err(|e| e.to_string())
        .and_then(|mut other| {
            other
                .batch_execute(&format!("NOTIFY {CHANNEL}, '{token}'"))
                .map_err(|e| e.to_string())
        });
    let started = Instant::now();
    let mut heard = false;
    if sent.is_ok() {
        while !heard && started.elapsed() < PROBE_WAIT {
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) => heard |= n.payload == token,
                    Err(_) => break,
                }
            }
            std::thread::sleep(LISTEN_TICK);
        }
    }
    // Whatever else arrived meanwhile is read by the cursor now.
    wake();
    status.probe_heard.store(heard, Ordering::Release);
    if !heard {
        log::warn!(
            "LISTEN/NOTIFY: the start-up probe's notification did not arrive within {} s{} \
             (a pooler in transaction mode breaks LISTEN); revocations reach this node \
             through the poll (KEYGATE_INVALIDATION_POLL_MS) instead",
            PROBE_WAIT.as_secs(),
            sent.err().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backend, DatabaseTimeouts};

    #[test]
    fn the_listener_url_names_its_own_application() {
        let settings = |target: &str| DatabaseSettings {
            backend: Backend::Postgres,
            target: target.to_owned(),
            pool_size: 1,
            timeouts: DatabaseTimeouts::default(),
        };
        let url = listener_url(&settings(
            "postgres://u@h1:1,h2:2/db?application_name=mine&target_session_attrs=read-write",
        ));
        assert!(url.starts_with("postgres://u@h1:1,h2:2/db?target_session_attrs=read-write&"));
        assert!(url.ends_with("&application_name=keygate-listener"), "{url}");
        assert_eq!(url.matches("application_name").count(), 1);
        let words = listener_url(&settings("host=a,b port=1,2 application_name=mine"));
        assert!(
            words.ends_with(" application_name=keygate-listener"),
            "{words}"
        );
        let plain = listener_url(&settings("postgres://u@h/db"));
        assert!(plain.contains("?connect_timeout=3&"), "{plain}");
        assert!(plain.ends_with("&application_name=keygate-listener"));
    }
}
