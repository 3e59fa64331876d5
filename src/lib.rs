//! keygate: an OpenAPI-first credential gateway.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod middleware;
pub mod net;
pub mod openapi;
pub mod resources;
pub mod rotation;
pub mod startup;
pub mod timeout;
