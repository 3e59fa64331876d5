//! The vendor dialects: each folder serves one vendor's own paths, bodies,
//! envelopes and errors over the same domain as the native `/v1` API, as a
//! surface of its own (docs/ARCHITECTURE.md, "Adding a dialect";
//! docs/DIALECTS.md records each one's decisions).

pub mod apinizer;
pub mod cloud_connect;
pub mod elasticsearch;
pub mod nylas;
pub mod shared;
pub mod vectara;
