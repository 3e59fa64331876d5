//! `limit` and `cursor` on the wire: the query of every list operation,
//! checked and turned into the domain's keyset [`Page`].

use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

pub use crate::db::page::Page;
use crate::error::ApiError;

/// `limit` and `cursor` of every list operation.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    #[validate(range(min = 1, max = 100, message = "must be between 1 and 100"))]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Checks the limit and decodes the cursor.
    pub fn page(&self) -> Result<Page, ApiError> {
        self.validate()?;
        let after = match &self.cursor {
            None => None,
            Some(cursor) => {
                let well_formed = (1..=200).contains(&cursor.len())
                    && cursor
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !well_formed {
                    return Err(ApiError::invalid_field(
                        "cursor",
                        "pattern",
                        "must be 1 to 200 characters of A-Z, a-z, 0-9, '-' and '_'",
                    ));
                }
                // Any text the document allows is accepted, so the
                // contract holds for every valid value.
                Some(cursor.as_str())
            }
        };
        Ok(Page::after_cursor(self.limit.unwrap_or(20), after))
    }
}

/// `include_deleted` of the lists of resources that keep a recovery window
/// (secrets, provider credentials).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeletedFilter {
    /// Also list those deleted within the recovery window (30 days by
    /// default), with their `deleted_at`; `undelete` brings one back.
    pub include_deleted: Option<bool>,
}

impl DeletedFilter {
    /// The oldest deletion to list, under the server's recovery window.
    pub fn since(&self, window: Option<chrono::Duration>) -> Option<chrono::DateTime<chrono::Utc>> {
        crate::db::recovery::listed_since(self.include_deleted, window)
    }
}
