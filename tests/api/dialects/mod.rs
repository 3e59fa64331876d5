//! The vendor dialects, one file a dialect.

mod elasticsearch;
