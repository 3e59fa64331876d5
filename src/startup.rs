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
use crate::config::{MasterKeySource, Settings};
use crate::crypto::envelope::MasterKey;
use crate::db::{Db, SetupError};
use crate::error::{no_route, path_error, query_error, ApiError};
use crate::middleware::{reject_nul_query, request_id};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::cache::KeyCache;
use crate::auth::last_used::LastUsed;
use crate::resources::clusters::{self, repo::ClusterKeyRecord};
use crate::resources::providers;
use crate::resources::{
    api_keys, api_proxies, audit_events, connectors, organizations,
    organizations::repo::DEFAULT_ORGANIZATION, projects, secrets, system, verify,
};
use crate::timeout::request_timeout;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Key look-ups, trusted for a bounded time.
    pub cache: Arc<KeyCache>,
    /// Cluster and cluster service key look-ups, trusted for the same time.
    pub cluster_cache: Arc<KeyCache<ClusterKeyRecord>>,
    /// `last_used_at` values waiting to be written.
    pub last_used: Arc<LastUsed>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The master key for stored secrets, when one is configured.
    pub master_key: Option<Arc<MasterKey>>,
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
            .configure(secrets::configure)
            .configure(connectors::configure)
            .configure(projects::configure)
            .configure(api_proxies::configure)
            .configure(providers::configure)
            .configure(organizations::configure)
            .configure(clusters::configure),
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
    /// The master key is missing, unreadable or not the database's.
    #[error("{variable}: {why}")]
    MasterKey {
        /// The variable to fix.
        variable: &'static str,
        /// What is wrong, without the key.
        why: String,
    },
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

/// Reads (or, for the SQLite default, creates) the master key.
pub fn load_master_key(source: &MasterKeySource) -> Result<Option<MasterKey>, StartError> {
    let bad = |variable: &'static str, why: String| StartError::MasterKey { variable, why };
    let from_file = |variable, path: &std::path::Path| -> Result<MasterKey, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(variable, format!("cannot read {}: {e}", path.display())))?;
        MasterKey::from_base64(&text).ok_or_else(|| {
            bad(
                variable,
                format!("{} does not hold base64 of 32 bytes", path.display()),
            )
        })
    };
    match source {
        MasterKeySource::Absent => Ok(None),
        MasterKeySource::Inline(text) => MasterKey::from_base64(text).map(Some).ok_or_else(|| {
            bad(
                "KEYGATE_MASTER_KEY",
                "must be base64 of exactly 32 bytes".to_owned(),
            )
        }),
        MasterKeySource::File(path) => from_file("KEYGATE_MASTER_KEY_FILE", path).map(Some),
        MasterKeySource::BesideDatabase(path) if path.exists() => {
            from_file("KEYGATE_MASTER_KEY_FILE", path).map(Some)
        }
        MasterKeySource::BesideDatabase(path) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let text = MasterKey::generate_base64();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    bad(
                        "KEYGATE_MASTER_KEY_FILE",
                        format!("cannot create {}: {e}", path.display()),
                    )
                })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    bad(
                        "KEYGATE_MASTER_KEY_FILE",
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
            let key = MasterKey::from_base64(&text).expect("a generated key parses");
            log::info!(
                "created master key {} in {} (mode 0600); back it up with the database: secrets cannot be read without it",
                key.id(),
                path.display()
            );
            Ok(Some(key))
        }
    }
}

/// Refuses to start when the database holds values sealed under a key other
/// than the configured one (or under any key, when none is configured).
pub fn check_master_key(db: &Db, key: Option<&MasterKey>) -> Result<(), StartError> {
    let known = db
        .write_blocking(|conn| Ok(crate::resources::secrets::repo::key_ids(conn)?))
        .map_err(StartError::Bootstrap)?;
    match key {
        None if !known.is_empty() => Err(StartError::MasterKey {
            variable: "KEYGATE_MASTER_KEY",
            why: format!(
                "is required: this database holds secrets sealed under master key {}",
                known.join(", ")
            ),
        }),
        Some(key) if !known.is_empty() && !known.contains(&key.id()) => {
            Err(StartError::MasterKey {
                variable: "KEYGATE_MASTER_KEY",
                why: format!(
                "the configured master key is {}, but this database's secrets are sealed under {}",
                key.id(),
                known.join(", ")
            ),
            })
        }
        _ => Ok(()),
    }
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
        let master_key = load_master_key(&settings.master_key)?.map(Arc::new);
        check_master_key(&db, master_key.as_deref())?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let state = web::Data::new(AppState {
            db,
            cache: Arc::new(KeyCache::new(settings.auth_cache_ttl)),
            cluster_cache: Arc::new(KeyCache::new(settings.auth_cache_ttl)),
            last_used: Arc::new(LastUsed::default()),
            max_body_bytes: settings.max_body_bytes,
            master_key,
        });
        let server_state = state.clone();
        let max_body = settings.max_body_bytes;
        let document = crate::openapi::document().clone();
        let server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(server_state.clone())
                .app_data(web::PayloadConfig::new(
                    max_body.max(crate::resources::LARGEST_BODY),
                ))
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
