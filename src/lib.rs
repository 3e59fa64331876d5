//! keygate: an OpenAPI-first credential gateway.
//!
//! The modules form layers, bottom up; none imports one above it and no
//! two rooms import each other (`tests/api/layers.rs` checks it, and
//! docs/ARCHITECTURE.md draws it):
//!
//! - foundations: `config`, `error`, `db`, `crypto`, `net`, `fields`;
//! - domain: `audit`, `keys`, and each resource's `model`, `repo` and
//!   `domain` under `resources/`;
//! - HTTP toolkit: `http`, `routes`, `surface`, `state`, `auth`, `openapi`;
//! - surfaces: `resources` (the native `/v1` API: handlers, wire types,
//!   `configure`) and `dialects` (each vendor's paths over the same domain);
//! - `startup`, which assembles; then `cli` and the binary.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dialects;
pub mod error;
pub mod fields;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod openapi;
pub mod resources;
pub mod routes;
pub mod startup;
pub mod state;
pub mod surface;
