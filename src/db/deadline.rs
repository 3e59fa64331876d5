//! The running request's deadline, in a task-local: the HTTP toolkit sets
//! it, from `Request-Timeout` headers or keygate's default request deadline
//! (`http::timeout`), and `Db` reads it. A read stops waiting at the
//! deadline; a write checks it just before it commits and rolls back when
//! it has passed, so a change that committed is always reported as done.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::ApiError;

tokio::task_local! {
    static DEADLINE: Deadline;
}

/// When the running request must be answered, and whose limit that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The instant the budget runs out.
    pub at: Instant,
    /// Whether the caller asked for it (`Request-Timeout`), rather than
    /// keygate's default request deadline.
    pub by_caller: bool,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration, by_caller: bool) -> Deadline {
        Deadline {
            at: Instant::now() + budget,
            by_caller,
        }
    }

    /// Whether it has passed.
    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The answer when it ran out: 504 `request_timeout` when the caller
    /// set it; otherwise the database did not answer in keygate's own
    /// bound, which is 503 with `Retry-After` (docs/OPERATIONS.md keeps 504 for
    /// the caller's own budget).
    pub fn ran_out(&self) -> ApiError {
        if self.by_caller {
            ApiError::Timeout
        } else {
            ApiError::Unavailable
        }
    }
}

/// The running request's deadline, if it has one.
pub fn current_deadline() -> Option<Deadline> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs `work` with `deadline` as the current deadline.
pub async fn within_deadline<F: Future>(deadline: Deadline, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}
