//! Keyset pages: how many rows, after which id, and the opaque cursor that
//! names the position (the base64url of the last id seen). Repos fetch
//! `limit + 1` rows after `after`; [`Page::finish`] cuts the extra row off
//! and makes the next cursor.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A validated page request: how many, and after which id.
#[derive(Debug, Clone)]
pub struct Page {
    /// Items to return.
    pub limit: i64,
    /// Return ids strictly after this one.
    pub after: Option<String>,
}

impl Page {
    /// A page of `limit` rows after the position a cursor names. Any
    /// cursor text is accepted: one this API did not return simply pages
    /// from its position in id order (possibly an empty page).
    pub fn after_cursor(limit: i64, cursor: Option<&str>) -> Page {
        let after = cursor.map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                // Ids are printable ASCII; anything else (a NUL PostgreSQL
                // cannot compare, say) came from no id.
                .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| cursor.to_owned())
        });
        Page { limit, after }
    }

    /// Splits a fetch of `limit + 1` rows into the page and the next cursor.
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|row| URL_SAFE_NO_PAD.encode(id(row)));
        (rows, next)
    }
}

/// Every row a paged query has, read `limit` rows at a time in id order:
/// `read` answers a page as the repos do (one row more than the limit when
/// there is a next page), `id` names a row's id. For surfaces whose lists
/// answer every row at once.
pub fn every<R, E>(
    limit: i64,
    mut read: impl FnMut(&Page) -> Result<Vec<R>, E>,
    id: impl Fn(&R) -> &str,
) -> Result<Vec<R>, E> {
    let mut all = Vec::new();
    let mut page = Page { limit, after: None };
    loop {
        let mut rows = read(&page)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit.max(0) as usize);
        page.after = rows.last().map(|r| id(r).to_owned());
        all.extend(rows);
        if !more || page.after.is_none() {
            return Ok(all);
        }
    }
}
