//! The vendor dialects, one file a dialect.

mod cloud_connect;
mod elasticsearch;
