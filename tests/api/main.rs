//! keygate's integration tests: one binary, a real server per test on a
//! fresh SQLite file or a fresh PostgreSQL database.

mod helpers;

mod analytics;
mod api_keys;
mod api_proxies;
mod audit;
mod auth;
mod cli;
mod clusters;
mod conditional;
mod connectors;
mod dialects;
mod document_rules;
mod errors;
mod import;
mod input_errors;
mod key_policies;
mod layers;
mod leaks;
mod lifecycle;
mod metrics;
mod migrations;
mod nodes;
mod openapi;
mod organizations;
mod projects;
mod providers;
mod recovery;
mod rekey;
mod secrets;
mod usage;
