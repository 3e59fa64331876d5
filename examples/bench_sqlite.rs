//! The benchmark's SQLite anchor (`bench/run`): pgbench's two workloads on an
//! SQLite file, through diesel, with keygate's connection settings (WAL,
//! `synchronous = NORMAL`, foreign keys, a 5 s busy timeout).
//!
//! - `init`: 100,000 accounts, like `pgbench -i` at scale 1.
//! - `commit`: pgbench `-N` (simple-update), one writer: `BEGIN IMMEDIATE`,
//!   update an account, read it back, insert a history row, commit.
//! - `read`: pgbench `-S` (select-only): one account by primary key, on
//!   `THREADS` connections at once.
//!
//! ```sh
//! cargo run --release --example bench_sqlite -- PATH init
//! cargo run --release --example bench_sqlite -- PATH commit|read WARMUP_S SECONDS [THREADS]
//! ```
//!
//! It prints `ops=N seconds=S rate=R`, the rate of the measured part.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use rand::rngs::ThreadRng;
use rand::Rng;

const ACCOUNTS: i32 = 100_000;

diesel::table! {
    /// pgbench's `pgbench_accounts`.
    accounts (aid) {
        /// Account number, 1 to 100,000.
        aid -> Integer,
        /// Balance.
        abalance -> Integer,
        /// 84 characters of padding, as in pgbench.
        filler -> Text,
    }
}

diesel::table! {
    /// pgbench's `pgbench_history`: one row per update.
    history (id) {
        /// Row id.
        id -> Integer,
        /// The account updated.
        aid -> Integer,
        /// The change to its balance.
        delta -> Integer,
        /// When.
        mtime -> Text,
    }
}

fn open(path: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(path).expect("open the SQLite file");
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .expect("set the pragmas");
    conn
}

fn init(path: &str) {
    open(path)
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS history; DROP TABLE IF EXISTS accounts;
             CREATE TABLE accounts (aid INTEGER PRIMARY KEY NOT NULL,
                 abalance INTEGER NOT NULL, filler TEXT NOT NULL);
             CREATE TABLE history (id INTEGER PRIMARY KEY NOT NULL,
                 aid INTEGER NOT NULL REFERENCES accounts (aid),
                 delta INTEGER NOT NULL, mtime TEXT NOT NULL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {ACCOUNTS})
             INSERT INTO accounts SELECT x, 0, printf('%084d', 0) FROM n;"
        ))
        .expect("create the tables");
}

/// One pgbench `-N` transaction.
fn commit_once(conn: &mut SqliteConnection, rng: &mut ThreadRng) -> QueryResult<()> {
    let aid = rng.random_range(1..=ACCOUNTS);
    let delta = rng.random_range(-5000..=5000);
    conn.immediate_transaction(|conn| {
        diesel::update(accounts::table.find(aid))
            .set(accounts::abalance.eq(accounts::abalance + delta))
            .execute(conn)?;
        accounts::table
            .find(aid)
            .select(accounts::abalance)
            .first::<i32>(conn)?;
        diesel::insert_into(history::table)
            .values((
                history::aid.eq(aid),
                history::delta.eq(delta),
                history::mtime.eq(chrono::Utc::now().to_rfc3339()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// One pgbench `-S` transaction.
fn read_once(conn: &mut SqliteConnection, rng: &mut ThreadRng) -> QueryResult<()> {
    let aid = rng.random_range(1..=ACCOUNTS);
    accounts::table
        .find(aid)
        .select(accounts::abalance)
        .first::<i32>(conn)
        .map(drop)
}

/// One transaction of a workload.
type Op = fn(&mut SqliteConnection, &mut ThreadRng) -> QueryResult<()>;

/// Runs `op` for `warmup`, then counts how often it runs in `measure`.
fn run(path: &str, op: Op, warmup: Duration, measure: Duration) -> u64 {
    let mut conn = open(path);
    let mut rng = rand::rng();
    let start = Instant::now();
    while start.elapsed() < warmup {
        op(&mut conn, &mut rng).expect("warm-up transaction");
    }
    let start = Instant::now();
    let mut done = 0;
    while start.elapsed() < measure {
        op(&mut conn, &mut rng).expect("transaction");
        done += 1;
    }
    done
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_sqlite PATH init | PATH commit|read WARMUP_S SECONDS [THREADS]";
    let (path, mode) = match args.as_slice() {
        [path, mode, ..] => (path.as_str(), mode.as_str()),
        _ => panic!("{usage}"),
    };
    if mode == "init" {
        init(path);
        return;
    }
    let seconds =
        |i: usize| Duration::from_secs_f64(args.get(i).and_then(|s| s.parse().ok()).expect(usage));
    let (warmup, measure) = (seconds(2), seconds(3));
    let threads: usize = args.get(4).map_or(1, |s| s.parse().expect(usage));
    let op: Op = match mode {
        "commit" => commit_once,
        "read" => read_once,
        _ => panic!("{usage}"),
    };
    let path = path.to_owned();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || run(&path, op, warmup, measure))
        })
        .collect();
    let ops: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let secs = measure.as_secs_f64();
    println!("ops={ops} seconds={secs} rate={:.1}", ops as f64 / secs);
}
