//! Opening the database at start, so that every failure is one line that
//! names its cause, and a permanent one fails at once: an SQLite database's
//! files (the folder created 0700, the file 0600, so its `-wal` and `-shm`
//! files are 0600 too: SQLite gives them the database file's mode), the lock
//! that lets one server at a time serve an SQLite file, and a first
//! connection made on this thread before any pool exists (r2d2 would log
//! each failed attempt as a multi-line ERROR block and retry a database that
//! does not exist until its timeout).

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::r2d2::{self, ManageConnection};

use super::{Manager, SetupError};
use crate::config::{Backend, DatabaseSettings};

/// How long a start waits for a database that may come up (refused, timed
/// out, starting up); permanent failures are reported at once.
pub const START_PATIENCE: Duration = Duration::from_secs(5);

/// The SQLite file of the settings, when it is a plain path (not a
/// `file:` URI, whose options SQLite reads itself).
fn sqlite_file(settings: &DatabaseSettings) -> Option<&Path> {
    (settings.backend == Backend::Sqlite && !settings.target.starts_with("file:"))
        .then(|| Path::new(&settings.target))
}

fn file_error(path: &Path, what: &str, err: &std::io::Error) -> SetupError {
    SetupError::File(format!("cannot {what} {}: {err}", path.display()))
}

/// Creates an SQLite database's folder (0700) and file (0600) when they do
/// not exist yet; an existing folder or file keeps its mode. Nothing for
/// PostgreSQL.
pub fn create_files(settings: &DatabaseSettings) -> Result<(), SetupError> {
    let Some(path) = sqlite_file(settings) else {
        return Ok(());
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| file_error(parent, "create folder", &e))?;
    }
    // An existing file is left unopened: closing a descriptor of a file
    // this process also has SQLite connections to would drop their POSIX
    // locks (a process that starts a server on the same file again, as
    // tests do).
    if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| file_error(path, "open", &e))
}

/// Held while a server serves an SQLite file: an exclusive lock on
/// `<file>.lock` beside it (0600, holding the server's process id). The
/// operating system releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct SqliteLock {
    _file: File,
}

/// Takes the lock of an SQLite database for this process, or fails with one
/// line when another process holds it. `None` for PostgreSQL, which many
/// servers share.
pub fn lock(settings: &DatabaseSettings) -> Result<Option<SqliteLock>, SetupError> {
    let Some(path) = sqlite_file(settings) else {
        return Ok(None);
    };
    let mut lock_path = PathBuf::from(path).into_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| file_error(&lock_path, "open", &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!("another keygate process (pid {pid})"),
                Err(_) => "another keygate process".to_owned(),
            };
            return Err(SetupError::File(format!(
                "{} is already served by {holder}; one SQLite file takes one server (stop the other, or use PostgreSQL for several)",
                path.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(file_error(&lock_path, "lock", &e)),
    }
    // The holder's id, for the message above; the lock matters, not this.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| write!(file, "{}", std::process::id()));
    Ok(Some(SqliteLock { _file: file }))
}

/// Why a connection could not be made, as one line, and whether waiting
/// could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line naming the cause (never the password).
    pub line: String,
    /// No retry can help (no such database, wrong credentials, ...).
    pub permanent: bool,
}

/// Where a PostgreSQL URL points, without its credentials: `host:port/db`.
fn postgres_place(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("localhost");
            let port = url.port().unwrap_or(5432);
            format!("{host}:{port}{}", url.path())
        }
        Err(_) => "the DATABASE_URL".to_owned(),
    }
}

/// The `FATAL:` (or first) line of a libpq message, without its prefix.
fn libpq_reason(message: &str) -> String {
    let line = message
        .lines()
        .find_map(|l| l.split_once("FATAL:").map(|(_, rest)| rest))
        .or_else(|| message.lines().next())
        .unwrap_or(message);
    let line = line.rsplit_once(" failed: ").map_or(line, |(_, r)| r);
    line.trim().to_owned()
}

/// Classifies a failed connection to the settings' database.
pub fn describe(settings: &DatabaseSettings, err: &r2d2::Error) -> Failure {
    let message = err.to_string();
    match settings.backend {
        Backend::Postgres => {
            let place = postgres_place(&settings.target);
            let reason = libpq_reason(&message);
            let has = |needle: &str| message.contains(needle);
            let (what, permanent) = if has("Connection refused") {
                (
                    "refuses connections (is it running, and listening there?)",
                    false,
                )
            } else if has("does not exist") && has("database \"") {
                ("has no such database", true)
            } else if has("password authentication failed")
                || has("no password supplied")
                || has("authentication failed")
                || has("no pg_hba.conf entry")
                || (has("role \"") && has("does not exist"))
            {
                ("refuses the credentials (authentication failed)", true)
            } else if has("permission denied") || has("CONNECT privilege") {
                (
                    "denies this user access to the database (permission denied)",
                    true,
                )
            } else if has("could not translate host name") {
                ("cannot be found (unknown host name)", false)
            } else if has("timeout expired") {
                ("does not answer (connection timed out)", false)
            } else {
                ("cannot be reached", false)
            };
            Failure {
                line: format!("PostgreSQL at {place} {what}: {reason}"),
                permanent,
            }
        }
        Backend::Sqlite => {
            let path = &settings.target;
            let line = if message.contains("file is not a database") {
                format!("{path} is not an SQLite database")
            } else if message.contains("database is locked") {
                return Failure {
                    line: format!("{path} is locked by another process: {message}"),
                    permanent: false,
                };
            } else {
                format!("cannot open {path}: {message}")
            };
            Failure {
                line,
                permanent: true,
            }
        }
    }
}

/// Makes one connection on this thread, and closes it: permanent failures
/// fail at once, others are tried again until `patience` runs out. Each
/// failure is one line.
pub fn probe(settings: &DatabaseSettings, patience: Duration) -> Result<(), SetupError> {
    let manager = Manager {
        settings: settings.clone(),
    };
    let started = Instant::now();
    loop {
        let err = match manager.connect() {
            Ok(conn) => {
                drop(conn);
                return Ok(());
            }
            Err(err) => describe(settings, &err),
        };
        let waited = started.elapsed();
        if err.permanent || waited >= patience {
            let line = if err.permanent {
                err.line
            } else {
                format!("{} (gave up after {} s)", err.line, waited.as_secs().max(1))
            };
            return Err(match settings.backend {
                Backend::Sqlite => SetupError::File(line),
                Backend::Postgres => SetupError::Connect(line),
            });
        }
        std::thread::sleep(Duration::from_millis(200).min(patience.saturating_sub(waited)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> DatabaseSettings {
        DatabaseSettings {
            backend: Backend::Postgres,
            target: url.to_owned(),
            pool_size: 1,
            timeouts: Default::default(),
        }
    }

    #[test]
    fn libpq_messages_are_classified_into_one_line_without_the_password() {
        let settings = pg("postgres://alice:s3cret@db.example:6543/keygate");
        let cases = [
            ("connection to server at \"db.example\" (10.0.0.1), port 6543 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n", "refuses connections", false),
            ("connection to server at \"db.example\" (10.0.0.1), port 6543 failed: FATAL:  database \"keygate\" does not exist\n", "no such database", true),
            ("connection to server at \"db.example\" (10.0.0.1), port 6543 failed: FATAL:  password authentication failed for user \"alice\"\n", "authentication failed", true),
            ("connection to server at \"db.example\" (10.0.0.1), port 6543 failed: FATAL:  permission denied for database \"keygate\"\nDETAIL:  User does not have CONNECT privilege.\n", "permission denied", true),
        ];
        for (message, expected, permanent) in cases {
            let err = r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                message.to_owned(),
            ));
            let failure = describe(&settings, &err);
            assert!(failure.line.contains(expected), "{message}: {failure:?}");
            assert!(
                failure.line.contains("db.example:6543/keygate"),
                "{failure:?}"
            );
            assert!(!failure.line.contains("s3cret"), "{failure:?}");
            assert!(!failure.line.contains('\n'), "{failure:?}");
            assert_eq!(failure.permanent, permanent, "{message}");
        }
    }
}
