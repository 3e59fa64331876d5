//! Row versions: the `ETag` of a resource version and the `If-Match`
//! precondition a write checks against it. The tag is derived from the
//! resource id and its last change, so any write changes it; the check runs
//! inside the write's transaction, after the row is loaded, so a stale write
//! is never applied. Reading the header is the HTTP toolkit's
//! (`http::conditional`).

use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The strong ETag of a resource version, quoted.
pub fn etag(id: &str, changed_at: NaiveDateTime) -> String {
    let digest = Sha256::digest(format!("{id}@{}", changed_at.and_utc().timestamp_micros()));
    format!("\"{}\"", &hex::encode(digest)[..20])
}

/// The request's `If-Match` precondition, if any.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// A precondition from header text (tests, other callers).
    pub fn parse(text: Option<&str>) -> IfMatch {
        IfMatch(text.map(|t| {
            t.split(',')
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty())
                .collect()
        }))
    }

    /// Whether the request carried `If-Match` at all (a write that would
    /// create the resource then fails: there is no current version).
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// Ok when there is no precondition, it is `*`, or it lists `current`;
    /// otherwise 412.
    pub fn check(&self, current: &str) -> Result<(), ApiError> {
        match &self.0 {
            None => Ok(()),
            Some(tags) if tags.iter().any(|t| t == "*" || t == current) => Ok(()),
            Some(_) => Err(ApiError::PreconditionFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_current_tag_a_list_or_a_star() {
        let tag = etag("aky_1", NaiveDateTime::default());
        assert!(IfMatch::parse(None).check(&tag).is_ok());
        assert!(IfMatch::parse(Some("*")).check(&tag).is_ok());
        assert!(IfMatch::parse(Some(&format!("\"x\", {tag}")))
            .check(&tag)
            .is_ok());
        assert!(IfMatch::parse(Some("\"stale\"")).check(&tag).is_err());
    }

    #[test]
    fn a_change_changes_the_tag() {
        let t0 = NaiveDateTime::default();
        assert_ne!(
            etag("a", t0),
            etag("a", t0 + chrono::Duration::microseconds(1))
        );
        assert_ne!(etag("a", t0), etag("b", t0));
    }
}
