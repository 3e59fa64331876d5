//! Assembling the application once, for the server and for tests: the
//! pool, migrations, the bootstrap key, the sealing service, the surfaces
//! with their route table, and the middleware and extractor configuration.
//! It imports every layer and nothing imports it but `cli` (and `main`
//! through it).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpServer};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::config::{ConfigError, Settings};
use crate::crypto::vault::{self, VaultError};
use crate::db::{Db, SetupError};
use crate::dialects::cloud_connect::CloudConnect;
use crate::dialects::elasticsearch::Elasticsearch;
use crate::error::ApiError;
use crate::http::body::{BodyLimit, BodyTimeout, LARGEST_BODY};
use crate::http::request_id::check_request_target;
use crate::http::timeout::request_timeout;
use crate::keys::cache::KeyCaches;
use crate::keys::format::{self, GeneratedKey, KeyKind};
use crate::keys::last_used::LastUsed;
use crate::resources::organizations::repo::{self as organizations, DEFAULT_ORGANIZATION};
use crate::resources::Native;
use crate::routes::{no_route, Routes};
use crate::state::AppState;
use crate::surface::{respond, Surfaces};

/// Every surface the server answers on: the native `/v1` API, then the
/// vendor dialects (each claims its own paths).
pub fn surfaces() -> Surfaces {
    Surfaces::new(
        Arc::new(Native),
        vec![Arc::new(Elasticsearch), Arc::new(CloudConnect)],
    )
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
    /// A setting that cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The master key is missing, unreadable or not the database's.
    #[error(transparent)]
    MasterKey(VaultError),
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
        .write_blocking(|conn| organizations::bootstrap(conn, supplied))
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

/// Refuses a bootstrap key that is not a well-formed API key, before any
/// database is opened (and without echoing it).
pub fn check_bootstrap_key(settings: &Settings) -> Result<(), ConfigError> {
    match &settings.bootstrap_key {
        Some(key) if format::parse(key) != Ok(KeyKind::ApiKey) => Err(ConfigError {
            variable: "KEYGATE_BOOTSTRAP_KEY",
            reason: "is not a well-formed keygate API key (kg_ak_...); make one with `keygate keys generate`".to_owned(),
        }),
        _ => Ok(()),
    }
}

fn vault_error(err: VaultError) -> StartError {
    match err {
        // Reading the recorded key ids failed: reported as any other
        // failure to prepare the database.
        VaultError::Database(err) => StartError::Bootstrap(err),
        key => StartError::MasterKey(key),
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
        check_bootstrap_key(settings)?;
        let db = Db::connect(&settings.database)?;
        let printable = prepare_database(&db, settings)?;
        let vault = vault::load(&settings.master_key).map_err(vault_error)?;
        vault::check(&db, vault.as_ref()).map_err(vault_error)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let surfaces = surfaces();
        let routes = web::Data::new(Routes::from_documents(
            surfaces.all().map(|s| (s.name(), s.document())),
        ));
        let caches = Arc::new(KeyCaches::new(settings.auth_cache_ttl));
        // Every committed write drops what it changed from the caches.
        let forget = caches.clone();
        let db = db.after_commit(move |changed| forget.forget(changed));
        let state = web::Data::new(AppState {
            db,
            caches,
            last_used: Arc::new(LastUsed::default()),
            vault,
            policy_names: Arc::new(routes.policy_names()),
        });
        let server_state = state.clone();
        let body_limit = BodyLimit(settings.max_body_bytes);
        let body_timeout = BodyTimeout(settings.body_timeout);
        let surfaces = web::Data::new(surfaces);
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .into_utoipa_app()
                .app_data(server_state.clone())
                .app_data(routes.clone())
                .app_data(surfaces.clone())
                .app_data(body_limit)
                .app_data(body_timeout)
                .app_data(web::PayloadConfig::new(body_limit.0.max(LARGEST_BODY)));
            for surface in surfaces.in_routing_order() {
                let surface = surface.clone();
                app = app.configure(move |cfg| surface.configure(cfg));
            }
            app.default_service(web::to(no_route))
                .into_app()
                .service(swagger_ui(&surfaces))
                .wrap(from_fn(check_request_target))
                .wrap(from_fn(request_timeout))
                .wrap(from_fn(respond))
                // The method and the path, never the query string or the
                // protocol: a value pasted into a query parameter stays out
                // of the log.
                .wrap(
                    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms %{x-request-id}o"#)
                        .custom_request_replace("method", |req| req.method().to_string()),
                )
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

/// Swagger UI at `/swagger-ui/`, with every surface's document in its
/// selector (served at `/api-docs/<stem>.json`). Authorization is not
/// persisted: the key would sit in the browser's localStorage in clear text.
fn swagger_ui(surfaces: &Surfaces) -> SwaggerUi {
    let documents: Vec<(String, &serde_json::Value)> = surfaces
        .all()
        .map(|s| {
            (
                format!("/api-docs/{}.json", s.document_stem()),
                s.document(),
            )
        })
        .collect();
    let config = match documents.as_slice() {
        [(url, _)] => Config::from(url.clone()),
        many => Config::new(many.iter().map(|(url, _)| url.clone())),
    };
    documents
        .into_iter()
        .fold(SwaggerUi::new("/swagger-ui/{_:.*}"), |ui, (url, doc)| {
            ui.external_url_unchecked(url, doc.clone())
        })
        .config(config)
}
