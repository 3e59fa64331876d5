//! The recovery window (`KEYGATE_RECOVERY_WINDOW_DAYS`): a deleted API key
//! or secret is only marked deleted, stays restorable for the window and
//! is purged after it. These say, once for every resource, which deleted
//! rows a request may still see.

use chrono::{DateTime, Duration, Utc};

/// The oldest deletion still within the window, if there is a window.
pub fn restorable_since(window: Option<Duration>) -> Option<DateTime<Utc>> {
    window.map(|window| super::now() - window)
}

/// For a list: with `include_deleted=true` and a window, the oldest
/// deletion to show; else `None` (deleted rows are left out).
pub fn listed_since(
    include_deleted: Option<bool>,
    window: Option<Duration>,
) -> Option<DateTime<Utc>> {
    include_deleted
        .unwrap_or(false)
        .then(|| restorable_since(window))
        .flatten()
}
