//! What a write changed that something outside the database keeps a copy
//! of (the authentication caches): repos record it inside the transaction
//! ([`record`]), and once the transaction has committed, `Db::write` hands
//! the list to the listener the application registered
//! ([`super::Db::after_commit`]). A transaction that rolls back records
//! nothing, and no handler has to remember a call: whatever goes through
//! `Db::write` is covered.
//!
//! The record is kept per thread: a write's closure runs synchronously on
//! one blocking thread, from `BEGIN` to `COMMIT`.

use std::cell::RefCell;
use std::sync::Arc;

/// One changed thing: a kind (for keys, the owner kind: `api_key`,
/// `cluster`, `cluster_service`) and an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Changed {
    /// What kind of thing changed.
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// Called once after each committed write that recorded changes.
pub type AfterCommit = Arc<dyn Fn(&[Changed]) + Send + Sync>;

thread_local! {
    static RECORDED: RefCell<Option<Vec<Changed>>> = const { RefCell::new(None) };
}

/// Notes, inside a write, that `kind`/`id` changed. Outside a write (a
/// repo called directly on a connection) there is nothing to tell.
pub fn record(kind: &str, id: &str) {
    RECORDED.with(|r| {
        if let Some(list) = r.borrow_mut().as_mut() {
            let changed = Changed {
                kind: kind.to_owned(),
                id: id.to_owned(),
            };
            if !list.contains(&changed) {
                list.push(changed);
            }
        }
    });
}

/// Records the changes of one write while alive; dropped without
/// [`Recording::finish`] (a rollback), it forgets them.
pub(super) struct Recording {
    outer: Option<Vec<Changed>>,
}

impl Recording {
    pub(super) fn start() -> Recording {
        let outer = RECORDED.with(|r| r.borrow_mut().replace(Vec::new()));
        Recording { outer }
    }

    /// The changes recorded so far (to write them for the other nodes
    /// before the commit).
    pub(super) fn so_far(&self) -> Vec<Changed> {
        RECORDED.with(|r| r.borrow().clone().unwrap_or_default())
    }

    /// The changes recorded since the start.
    pub(super) fn finish(self) -> Vec<Changed> {
        RECORDED.with(|r| r.borrow_mut().take().unwrap_or_default())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let outer = self.outer.take();
        RECORDED.with(|r| *r.borrow_mut() = outer);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::{Backend, DatabaseSettings};
    use crate::db::Db;
    use crate::error::ApiError;

    #[test]
    fn a_committed_write_reports_what_it_recorded_and_a_rolled_back_one_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let heard: Arc<Mutex<Vec<Vec<Changed>>>> = Arc::default();
        let listener = heard.clone();
        let db = Db::connect_single(&DatabaseSettings {
            backend: Backend::Sqlite,
            target: dir.path().join("k.db").to_string_lossy().into_owned(),
            pool_size: 1,
            timeouts: Default::default(),
        })
        .unwrap()
        .after_commit(move |changed| listener.lock().unwrap().push(changed.to_vec()));
        db.write_blocking(|_| {
            record("api_key", "aky_1");
            record("api_key", "aky_1");
            record("cluster", "c1");
            Ok(())
        })
        .unwrap();
        let refused: Result<(), ApiError> = db.write_blocking(|_| {
            record("api_key", "aky_2");
            Err(ApiError::PreconditionFailed)
        });
        assert!(refused.is_err());
        db.write_blocking(|_| Ok(())).unwrap();
        // Outside a write there is nothing to tell.
        record("api_key", "aky_3");
        let heard = heard.lock().unwrap();
        let change = |kind: &str, id: &str| Changed {
            kind: kind.to_owned(),
            id: id.to_owned(),
        };
        assert_eq!(
            *heard,
            vec![vec![change("api_key", "aky_1"), change("cluster", "c1")]],
            "one report, for the committed write, each change once"
        );
    }
}
