//! Building the application once, for the server and for tests: the pool,
//! migrations, the bootstrap key, the routes, middleware and extractor
//! configuration.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpServer};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::key_format::GeneratedKey;
use crate::config::Settings;
use crate::db::{Db, SetupError};
use crate::error::{no_route, path_error, query_error, ApiError};
use crate::middleware::{reject_nul_query, request_id};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::cache::KeyCache;
use crate::auth::last_used::LastUsed;
use crate::resources::{
    api_keys, audit_events, organizations, organizations::repo::DEFAULT_ORGANIZATION, system,
    verify,
};
use crate::timeout::request_timeout;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Key look-ups, trusted for a bounded time.
    pub cache: Arc<KeyCache>,
    /// `last_used_at` values waiting to be written.
    pub last_used: Arc<LastUsed>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl AppState {
    /// Writes the pending `last_used_at` values.
    pub async fn flush_last_used(&self) {
        let values = self.last_used.drain();
        if values.is_empty() {
            return;
        }
        let written = self
            .db
            .write(move |conn| Ok(crate::auth::last_used::write(conn, &values)?))
            .await;
        if let Err(err) = written {
            log::warn!("could not write last_used_at: {err}");
        }
    }
}

/// Registers every documented operation. The server and
/// `openapi::document()` both call it, so they cannot disagree.
pub fn configure_api(cfg: &mut ServiceConfig) {
    cfg.configure(system::configure).service(
        scope::scope(crate::openapi::API_PREFIX)
            .wrap(from_fn(crate::auth::authenticate))
            .configure(api_keys::configure)
            .configure(verify::configure)
            .configure(audit_events::configure)
            .configure(organizations::configure),
    );
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database connection or migration.
    #[error(transparent)]
    Database(#[from] SetupError),
    /// Bootstrap of an empty database.
    #[error("cannot create the first organization: {0}")]
    Bootstrap(ApiError),
    /// The listen address.
    #[error("KEYGATE_BIND: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Migrates and bootstraps the database. Returns, when an empty database got
/// a generated key, that key (to print once).
pub fn prepare_database(db: &Db, settings: &Settings) -> Result<Option<GeneratedKey>, StartError> {
    db.migrate()?;
    let supplied = settings
        .bootstrap_key
        .clone()
        .map(|value| GeneratedKey { value });
    let was_supplied = supplied.is_some();
    let created = db
        .write_blocking(|conn| organizations::repo::bootstrap(conn, supplied))
        .map_err(StartError::Bootstrap)?;
    let printable = match created {
        Some(created) if !was_supplied => Some(created.key),
        Some(_) => {
            log::info!("created organization {DEFAULT_ORGANIZATION} with the key from KEYGATE_BOOTSTRAP_KEY");
            None
        }
        None => {
            if was_supplied {
                log::info!(
                    "the database already has organizations; KEYGATE_BOOTSTRAP_KEY is ignored"
                );
            }
            None
        }
    };
    Ok(printable)
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    state: web::Data<AppState>,
    flush_every: Duration,
}

impl Application {
    /// Prepares the database and binds the listener.
    pub fn build(
        settings: &Settings,
        workers: usize,
    ) -> Result<(Application, Option<GeneratedKey>), StartError> {
        let db = Db::connect(&settings.database)?;
        let printable = prepare_database(&db, settings)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state = web::Data::new(AppState {
            db,
            cache: Arc::new(KeyCache::new(settings.auth_cache_ttl)),
            last_used: Arc::new(LastUsed::default()),
            max_body_bytes: settings.max_body_bytes,
        });
        let server_state = state.clone();
        let max_body = settings.max_body_bytes;
        let document = crate::openapi::document().clone();
        let server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(server_state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .configure(configure_api)
                .default_service(web::to(no_route))
                .into_app()
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .external_url_unchecked("/api-docs/openapi.json", document.clone())
                        // Authorization is not persisted: the key would sit in the
                        // browser's localStorage in clear text.
                        .config(Config::from("/api-docs/openapi.json")),
                )
                .wrap(from_fn(reject_nul_query))
                .wrap(from_fn(request_timeout))
                .wrap(from_fn(request_id))
                .wrap(Logger::new(r#"%a "%r" %s %b %Dms %{x-request-id}o"#))
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?
        .run();
        Ok((
            Application {
                server,
                port,
                state,
                flush_every: settings.last_used_flush,
            },
            printable,
        ))
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until stopped, writing `last_used_at` every flush interval and
    /// once more at shutdown.
    pub async fn run(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let every = self.flush_every;
        let flusher = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            loop {
                tick.tick().await;
                state.flush_last_used().await;
            }
        });
        let result = self.server.await;
        flusher.abort();
        self.state.flush_last_used().await;
        result
    }
}
