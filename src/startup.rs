//! Assembling the application once, for the server and for tests: the
//! pool, migrations, the bootstrap key, the sealing service, the surfaces
//! with their route table, and the middleware and extractor configuration.
//! It imports every layer and nothing imports it but `cli` (and `main`
//! through it).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Logger};
use actix_web::{guard, web, App, HttpResponse, HttpServer};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::audit::Refusals;
use crate::config::{
    Backend, ConfigError, DatabaseSettings, MasterKeySource, ScanningKeysSource, Settings,
};
use crate::crypto::signature::ScanningKeys;
use crate::crypto::vault::{self, VaultError};
use crate::db::{peers, setup, Db, SetupError};
use crate::dialects::apinizer::Apinizer;
use crate::dialects::cloud_connect::CloudConnect;
use crate::dialects::elasticsearch::Elasticsearch;
use crate::dialects::nylas::Nylas;
use crate::dialects::vectara::Vectara;
use crate::error::ApiError;
use crate::http::body::{BodyLimit, BodyTimeout, LARGEST_BODY};
use crate::http::client::client_ip;
use crate::http::observe::observe;
use crate::http::request_id::check_request_target;
use crate::http::timeout::{request_timeout, DefaultDeadline};
use crate::keys::analytics::Analytics;
use crate::keys::cache::KeyCaches;
use crate::keys::format::{self, GeneratedKey, KeyKind};
use crate::keys::last_used::LastUsed;
use crate::keys::usage::Metering;
use crate::resources::api_keys::repo as api_keys;
use crate::resources::organizations::repo::{self as organizations, DEFAULT_ORGANIZATION};
use crate::resources::providers::repo as providers;
use crate::resources::secrets::repo as secrets;
use crate::resources::Native;
use crate::routes::{no_route, Routes};
use crate::state::AppState;
use crate::surface::{respond, Surfaces};

/// Every surface the server answers on: the native `/v1` API, then the
/// vendor dialects (each claims its own paths).
pub fn surfaces() -> Surfaces {
    Surfaces::new(
        Arc::new(Native),
        vec![
            Arc::new(Elasticsearch),
            Arc::new(CloudConnect),
            Arc::new(Nylas),
            Arc::new(Vectara),
            Arc::new(Apinizer),
        ],
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
    // Made anew by each attempt of the write (a key is not `Clone`).
    let supplied = || {
        settings
            .bootstrap_key
            .clone()
            .map(|value| GeneratedKey { value })
    };
    let was_supplied = settings.bootstrap_key.is_some();
    let created = db
        .write_blocking(|conn| organizations::bootstrap(conn, supplied()))
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
            // The command as it was run (`target/release/keygate`), since a
            // plain `keygate` is on the PATH only after `cargo install`.
            reason: format!(
                "is not a well-formed keygate API key (kg_ak_...); make one with `{} keys generate`",
                std::env::args().next().unwrap_or_else(|| "keygate".to_owned())
            ),
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
    analytics_flush_every: Duration,
    audit_retention: Option<chrono::Duration>,
    analytics_retention: Option<chrono::Duration>,
    /// PostgreSQL: where this node starts following the other nodes'
    /// changes, and how.
    peers: Option<Peers>,
    shutdown_timeout: Duration,
    // Held while the server runs: one server an SQLite file.
    _sqlite_lock: Option<setup::SqliteLock>,
}

/// What a PostgreSQL node needs to follow the other nodes' changes
/// (`crate::db::peers`).
struct Peers {
    cursor: peers::Cursor,
    database: DatabaseSettings,
    poll: Duration,
}

/// How often unstored refusals are reported in the log.
const REFUSALS_REPORT_EVERY: Duration = Duration::from_secs(60);
/// The public keys of secret scanning alerts, read and parsed before
/// anything else starts: a list that cannot be used stops the start with
/// one line naming its variable.
fn load_scanning_keys(source: &ScanningKeysSource) -> Result<ScanningKeys, ConfigError> {
    let Some(text) = source.read()? else {
        return Ok(ScanningKeys::default());
    };
    let keys = ScanningKeys::parse(&text).map_err(|reason| ConfigError {
        variable: source.variable(),
        reason,
    })?;
    log::info!(
        "secret scanning alerts are checked against {} public keys",
        keys.len()
    );
    Ok(keys)
}

/// Removes the API keys, secrets and provider credentials deleted longer
/// ago than the recovery window, a batch a transaction; returns how many.
async fn purge_deleted(state: &AppState) -> Result<usize, ApiError> {
    let Some(cutoff) = crate::db::recovery::restorable_since(state.recovery_window) else {
        return Ok(0);
    };
    type Purge =
        fn(&mut crate::db::AnyConnection, chrono::DateTime<chrono::Utc>) -> Result<usize, ApiError>;
    let purges: [(Purge, i64); 3] = [
        (api_keys::purge_deleted, api_keys::PURGE_BATCH),
        (secrets::purge_deleted, secrets::PURGE_BATCH),
        (providers::purge_deleted, providers::PURGE_BATCH),
    ];
    let mut purged = 0;
    for (purge, batch) in purges {
        loop {
            let removed = state.db.write(move |conn| purge(conn, cutoff)).await?;
            purged += removed;
            if (removed as i64) < batch {
                break;
            }
        }
    }
    Ok(purged)
}

/// How often audit events and verification counts past their retention
/// are purged (and once at start).
const AUDIT_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How long a forced stop (a second signal) waits for `last_used_at` and
/// the verification counts.
const FORCED_FLUSH: Duration = Duration::from_secs(2);

impl Application {
    /// Binds the listener, then opens and prepares the database. The
    /// listener comes first: a start that cannot listen touches no file and
    /// no database, so a first start never bootstraps a key it cannot print.
    pub fn build(
        settings: &Settings,
        workers: usize,
    ) -> Result<(Application, Option<GeneratedKey>), StartError> {
        check_bootstrap_key(settings)?;
        let scanning_keys = load_scanning_keys(&settings.secret_scanning_keys)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?;
        // A key given by variable or file is read before any file is made;
        // the SQLite default makes its key in the database's folder.
        let given_key = match &settings.master_key {
            MasterKeySource::BesideDatabase(_) => None,
            source => {
                Some(vault::load(source, &settings.retired_master_keys).map_err(vault_error)?)
            }
        };
        setup::create_files(&settings.database)?;
        let sqlite_lock = setup::lock(&settings.database)?;
        let vault = match given_key {
            Some(vault) => vault,
            None => vault::load(&settings.master_key, &settings.retired_master_keys)
                .map_err(vault_error)?,
        };
        setup::probe(&settings.database, setup::START_PATIENCE)?;
        let db = Db::connect(&settings.database)?;
        let printable = prepare_database(&db, settings)?;
        vault::check(&db, vault.as_ref()).map_err(vault_error)?;
        if let Some(vault) = vault.as_ref().filter(|v| !v.retired_key_ids().is_empty()) {
            log::info!(
                "master key {} seals; retired master keys {} still open what they sealed until `keygate rekey` has moved it",
                vault.active_key_id(),
                vault.retired_key_ids().join(", ")
            );
        }
        if vault.is_none() {
            log::warn!("{}; /readyz reports it", ApiError::MasterKeyMissing);
        }
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let surfaces = surfaces();
        let routes = web::Data::new(Routes::from_documents(
            surfaces.all().map(|s| (s.name(), s.document())),
        ));
        let caches = Arc::new(KeyCaches::new(settings.auth_cache_ttl));
        // Every committed write drops what it changed from the caches.
        let forget = caches.clone();
        let db = db.after_commit(move |changed| forget.forget(changed));
        // Other nodes' changes are read from the cursor's place at start:
        // nothing is cached before it.
        let peers = match settings.database.backend {
            Backend::Postgres => Some(Peers {
                cursor: db
                    .write_blocking(|conn| Ok(peers::Cursor::start(conn)?))
                    .map_err(StartError::Bootstrap)?,
                database: settings.database.clone(),
                poll: settings.invalidation_poll,
            }),
            Backend::Sqlite => None,
        };
        let state = web::Data::new(AppState {
            db,
            caches,
            last_used: Arc::new(LastUsed::default()),
            metering: Arc::new(Metering::default()),
            analytics: Arc::new(Analytics::default()),
            vault,
            policy_names: Arc::new(routes.policy_names()),
            refusals: Arc::new(Refusals::default()),
            metrics_token: settings.metrics_token.clone(),
            scanning_keys: Arc::new(scanning_keys),
            recovery_window: settings.recovery_window,
            secret_versions: settings.secret_versions,
        });
        let deadline = DefaultDeadline(settings.request_deadline);
        let server_state = state.clone();
        let body_limit = BodyLimit(settings.max_body_bytes);
        let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
        let body_timeout = BodyTimeout(settings.body_timeout);
        let surfaces = web::Data::new(surfaces);
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .into_utoipa_app()
                .app_data(server_state.clone())
                .app_data(routes.clone())
                .app_data(trusted_proxies.clone())
                .app_data(surfaces.clone())
                .app_data(body_limit)
                .app_data(body_timeout)
                .app_data(deadline)
                .app_data(web::PayloadConfig::new(body_limit.0.max(LARGEST_BODY)))
                .map(|app| app.configure(browser_redirect));
            for surface in surfaces.in_routing_order() {
                let surface = surface.clone();
                app = app.configure(move |cfg| surface.configure(cfg));
            }
            app.default_service(web::to(no_route))
                .into_app()
                .service(swagger_ui(&surfaces))
                .configure(|cfg| api_docs(cfg, &surfaces))
                .configure(|cfg| redirects(cfg, &surfaces))
                .wrap(from_fn(check_request_target))
                .wrap(from_fn(request_timeout))
                .wrap(from_fn(respond))
                .wrap(from_fn(observe))
                // The client (the TCP peer, or the one a trusted proxy
                // names), the method and the path, never the query string
                // or the protocol: a value pasted into a query parameter
                // stays out of the log.
                .wrap(
                    Logger::new(r#"%{client}xi "%{method}xi %U" %s %b %Dms %{x-request-id}o"#)
                        .custom_request_replace("method", |req| req.method().to_string())
                        .custom_request_replace("client", |req| {
                            client_ip(req).map_or_else(|| "-".to_owned(), |ip| ip.to_string())
                        }),
                )
        })
        .workers(workers)
        // Stopping is `run_until_signal`'s, so SIGINT drains as SIGTERM does.
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
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
                analytics_flush_every: settings.analytics_flush,
                audit_retention: settings.audit_retention,
                analytics_retention: settings.analytics_retention,
                peers,
                shutdown_timeout: settings.shutdown_timeout,
                _sqlite_lock: sqlite_lock,
            },
            printable,
        ))
    }

    /// A handle that stops the server (tests that start another server on
    /// the same SQLite file stop the first one with it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until stopped, writing `last_used_at` and the verification
    /// counts every flush interval and once more at shutdown, reporting
    /// unstored refusals every minute, and purging audit events and
    /// verification counts past their retention at start and every hour.
    pub async fn run(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let every = self.flush_every;
        let flusher = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            loop {
                tick.tick().await;
                state.flush_last_used().await;
                state.metering.sweep(crate::db::now());
            }
        });
        let state = self.state.clone();
        let every = self.analytics_flush_every;
        let analytics_flusher = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(every);
            loop {
                tick.tick().await;
                state.flush_analytics().await;
            }
        });
        let state = self.state.clone();
        let reporter = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(REFUSALS_REPORT_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                state.report_refusals(REFUSALS_REPORT_EVERY);
            }
        });
        let state = self.state.clone();
        let retention = self.audit_retention;
        let analytics_retention = self.analytics_retention;
        let purger = actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(AUDIT_PURGE_EVERY);
            loop {
                tick.tick().await;
                match purge_deleted(&state).await {
                    Ok(0) => {}
                    Ok(n) => log::info!(
                        "purged {n} API keys, secrets and credentials deleted before the recovery window"
                    ),
                    Err(err) => log::warn!("could not purge deleted API keys, secrets and credentials: {err}"),
                }
                if let Some(retention) = analytics_retention {
                    match state.purge_analytics(retention).await {
                        Ok(0) => {}
                        Ok(n) => log::info!(
                            "purged {n} verification counts older than {} days",
                            retention.num_days()
                        ),
                        Err(err) => log::warn!("could not purge old verification counts: {err}"),
                    }
                }
                let Some(retention) = retention else { continue };
                match state.purge_audit(retention).await {
                    Ok(0) => {}
                    Ok(n) => log::info!(
                        "purged {n} audit events older than {} days",
                        retention.num_days()
                    ),
                    Err(err) => log::warn!("could not purge old audit events: {err}"),
                }
            }
        });
        // The listener stops when `_listener` is dropped, with this future.
        let (follower, _listener) = match self.peers {
            Some(peers) => {
                let wake = Arc::new(tokio::sync::Notify::new());
                let waker = wake.clone();
                let listener = peers::spawn_listener(&peers.database, move || waker.notify_one())?;
                let caches = self.state.caches.clone();
                let db = self.state.db.clone();
                let task = actix_web::rt::spawn(peers::follow(
                    db,
                    peers.cursor,
                    wake,
                    peers.poll,
                    move |read| {
                        if read.drop_all {
                            caches.forget_all();
                        }
                        let changed: Vec<_> = read.changed.iter().map(|(c, _)| c.clone()).collect();
                        caches.forget(&changed);
                        let metrics = crate::metrics::metrics();
                        metrics.invalidations.inc_by(changed.len() as u64);
                        let now = crate::db::now().naive_utc();
                        for (_, at) in &read.changed {
                            let lag = (now - *at).num_microseconds().unwrap_or(0).max(0);
                            metrics.invalidation_lag.observe(lag as f64 / 1e6);
                        }
                    },
                ));
                (Some(task), Some(listener))
            }
            None => (None, None),
        };
        let result = self.server.await;
        for task in [flusher, analytics_flusher, reporter, purger]
            .into_iter()
            .chain(follower)
        {
            task.abort();
        }
        self.state.flush().await;
        self.state.metering.give_back(&self.state.db).await;
        result
    }

    /// [`Application::run`] until SIGINT or SIGTERM, then stops gracefully:
    /// no new connections, requests in flight finish (up to
    /// `KEYGATE_SHUTDOWN_TIMEOUT_SECONDS`; a second signal ends them at once), pending
    /// `last_used_at` values and verification counts are written, and the
    /// result is `Ok`. For the
    /// binary; tests use `run` and stop with [`Application::handle`].
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        let grace = self.shutdown_timeout.as_secs();
        actix_web::rt::spawn(async move {
            let signal = stop_signal().await;
            log::info!(
                "{signal}: stopping; requests in flight may finish within {} s (a second signal stops at once)",
                grace
            );
            tokio::select! {
                () = handle.stop(true) => {}
                again = stop_signal() => {
                    // actix ignores a second stop while the first drains.
                    log::warn!("{again} again: stopping at once");
                    let flushed = tokio::time::timeout(FORCED_FLUSH, state.flush());
                    if flushed.await.is_err() {
                        log::warn!(
                            "last_used_at and verification counts not written within {} s",
                            FORCED_FLUSH.as_secs()
                        );
                    }
                    std::process::exit(0);
                }
            }
        });
        let result = self.run().await;
        log::info!("keygate stopped");
        result
    }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        log::warn!("cannot listen for SIGINT and SIGTERM; stop keygate with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// A browser opening `/` (it asks for `text/html`) goes to Swagger UI, even
/// when a dialect answers `GET /` for its clients (Elasticsearch's `info()`
/// asks for JSON). Registered before every surface's routes; a request whose
/// guard does not match goes on to them.
fn browser_redirect(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .guard(guard::Get())
            .guard(guard::fn_guard(|ctx| {
                ctx.header::<header::Accept>()
                    .is_some_and(|accept| accept.iter().any(|q| q.item.subtype() == "html"))
            }))
            .to(|| async {
                HttpResponse::Found()
                    .insert_header((header::LOCATION, "/swagger-ui/"))
                    .finish()
            }),
    );
}

/// `/swagger-ui` and (unless a dialect claims `/`, as Elasticsearch's
/// `GET /` does) `/` lead to Swagger UI. Registered after every surface's
/// routes, so a surface's own route for a path comes first.
fn redirects(cfg: &mut web::ServiceConfig, surfaces: &Surfaces) {
    cfg.service(web::redirect("/swagger-ui", "/swagger-ui/").permanent());
    if !surfaces.claimed_by_dialect("/") {
        cfg.service(web::redirect("/", "/swagger-ui/").using_status_code(StatusCode::FOUND));
    }
}

/// Swagger UI at `/swagger-ui/`, with every surface's document in its
/// selector (served at `/api-docs/<stem>.json`). Authorization is not
/// persisted (a reload forgets it): the key would sit in the browser's
/// localStorage in clear text.
fn swagger_ui(surfaces: &Surfaces) -> SwaggerUi {
    let urls: Vec<String> = surfaces.all().map(api_doc_url).collect();
    let config = match urls.as_slice() {
        [url] => Config::from(url.clone()),
        many => Config::new(many.iter().cloned()),
    };
    SwaggerUi::new("/swagger-ui/{_:.*}").config(config)
}

fn api_doc_url(surface: &Arc<dyn crate::surface::Surface>) -> String {
    format!("/api-docs/{}.json", surface.document_stem())
}

/// Each surface's document at `/api-docs/<stem>.json`, served from the
/// one copy the surface holds: Swagger UI's own `external_url` would keep
/// a copy of every document in every worker (megabytes of idle memory).
fn api_docs(cfg: &mut web::ServiceConfig, surfaces: &Surfaces) {
    for surface in surfaces.all() {
        let document = surface.document();
        cfg.service(
            web::resource(api_doc_url(surface))
                .guard(guard::Get())
                .to(move || async move { HttpResponse::Ok().json(document) }),
        );
    }
}

#[cfg(test)]
mod tests {
    //! The redirects to Swagger UI give way to a dialect that claims `/`,
    //! except for a browser.

    use actix_web::http::header::{HeaderMap, LOCATION};
    use actix_web::test as actix_test;
    use actix_web::{web, App, HttpResponse};
    use serde_json::Value;
    use utoipa_actix_web::service_config::ServiceConfig;

    use super::*;
    use crate::http::problem::ErrorReport;
    use crate::surface::{ErrorContext, Surface};

    /// A dialect that owns every path, as Elasticsearch's `GET /` would.
    struct Root;

    impl Surface for Root {
        fn name(&self) -> &'static str {
            "root"
        }
        fn document_stem(&self) -> &'static str {
            "root"
        }
        fn claims(&self, _: &str) -> bool {
            true
        }
        fn configure(&self, _: &mut ServiceConfig) {}
        fn document(&self) -> &'static Value {
            static EMPTY: Value = Value::Null;
            &EMPTY
        }
        fn write_error(&self, _: &ErrorReport, _: ErrorContext<'_>, _: &mut HeaderMap) -> Vec<u8> {
            Vec::new()
        }
    }

    #[actix_web::test]
    async fn root_leads_to_swagger_ui_unless_a_dialect_claims_it() {
        let native_only = Surfaces::new(Arc::new(Native), Vec::new());
        let with_root = Surfaces::new(Arc::new(Native), vec![Arc::new(Root)]);
        for (surfaces, root_status) in [(native_only, 302), (with_root, 200)] {
            let dialect_routes = surfaces.claimed_by_dialect("/");
            let app = actix_test::init_service(
                App::new()
                    .configure(browser_redirect)
                    .configure(|cfg| {
                        // The dialect's own `GET /`, registered first as
                        // the surfaces are.
                        if dialect_routes {
                            cfg.route(
                                "/",
                                web::get().to(|| async { HttpResponse::Ok().body("root") }),
                            );
                        }
                    })
                    .configure(|cfg| redirects(cfg, &surfaces)),
            )
            .await;
            let res = actix_test::call_service(
                &app,
                actix_test::TestRequest::get().uri("/").to_request(),
            )
            .await;
            assert_eq!(res.status().as_u16(), root_status, "{surfaces:?}");
            let res = actix_test::call_service(
                &app,
                actix_test::TestRequest::get()
                    .uri("/")
                    .insert_header(("accept", "text/html,application/xhtml+xml,*/*;q=0.8"))
                    .to_request(),
            )
            .await;
            assert_eq!(res.status().as_u16(), 302, "a browser: {surfaces:?}");
            assert_eq!(res.headers().get(LOCATION).unwrap(), "/swagger-ui/");
            let res = actix_test::call_service(
                &app,
                actix_test::TestRequest::get()
                    .uri("/swagger-ui")
                    .to_request(),
            )
            .await;
            assert_eq!(res.status().as_u16(), 308);
            assert_eq!(res.headers().get(LOCATION).unwrap(), "/swagger-ui/");
        }
    }
}
