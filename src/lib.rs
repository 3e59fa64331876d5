//! keygate: an OpenAPI-first credential gateway.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod resources;
pub mod startup;
