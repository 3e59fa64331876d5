//! The running request's deadline, in a task-local: the HTTP toolkit sets
//! it from `Request-Timeout` headers (`http::timeout`), and `Db` reads it,
//! stops waiting at the deadline with 504 and rolls back a write that would
//! commit after it.

use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The running request's deadline, if its caller set one.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs `work` with `deadline` as the current deadline.
pub async fn within_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}
