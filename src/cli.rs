//! The command line: `serve` (the default), `migrate`, `openapi`,
//! `keys create` / `keys generate` for recovery and scripting, and `rekey`
//! for a master-key rotation.

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, DatabaseArgs, DatabaseSettings, KeyringArgs, ServeArgs};
use crate::crypto::rekey::{self, Store};
use crate::crypto::vault;
use crate::db::{setup, Db};
use crate::keys::format::{self, KeyKind};
use crate::keys::rights::Role;
use crate::resources::api_keys::repo::{self as key_repo, NewApiKey};
use crate::resources::organizations::repo as org_repo;
use crate::startup::{prepare_database, Application, StartError};

/// keygate: issue and verify API keys, and keep the secrets integrations run on.
#[derive(Parser)]
#[command(
    name = "keygate",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default when no command is given).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Manage API keys directly in the database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Re-seal every stored value under the active master key (in batches,
    /// while nodes serve).
    ///
    /// Then the retired keys nothing needs any more are forgotten, so a
    /// start without them is accepted.
    Rekey(RekeyArgs),
}

#[derive(Args)]
struct RekeyArgs {
    /// Rows a transaction (1 to 10000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    batch_size: i64,
    /// Only count the values under each key; change nothing.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    keyring: KeyringArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Mint a key straight into the database and print it once (recovery).
    Create(CreateKeyArgs),
    /// Print a new well-formed key without storing it (for KEYGATE_BOOTSTRAP_KEY).
    Generate,
}

#[derive(Args)]
struct CreateKeyArgs {
    /// Organization id (`org_...`) or name (e.g. `default`).
    #[arg(long)]
    org: String,
    /// Name of the new key.
    #[arg(long)]
    name: String,
    /// Role of the new key.
    #[arg(long, value_parser = ["serving", "serving_and_indexing", "personal"])]
    role: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// A command that failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The server stopped with an error.
    #[error("server: {0}")]
    Serve(#[from] std::io::Error),
    /// A database operation failed.
    #[error("{0}")]
    Operation(String),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(*args),
        Some(Command::Migrate(args)) => {
            let db = open_single(&args.settings()?)?;
            db.migrate().map_err(StartError::from)?;
            drop(db);
            eprintln!("keygate: migrations applied");
            Ok(())
        }
        Some(Command::Openapi) => {
            print!("{}", crate::resources::document_pretty());
            Ok(())
        }
        Some(Command::Keys(KeysCommand::Generate)) => {
            println!("{}", format::generate(KeyKind::ApiKey).value);
            Ok(())
        }
        Some(Command::Keys(KeysCommand::Create(args))) => create_key(args),
        Some(Command::Rekey(args)) => rekey(args),
    }
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    let settings = args.settings()?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    actix_web::rt::System::new().block_on(async move {
        let (app, printable) = Application::build(&settings, workers)?;
        if let Some(key) = printable {
            eprintln!(
                "keygate: created organization `default` with a personal API key. It is shown only this once:\n\n    {}\n",
                key.value
            );
        }
        log::info!("keygate listening on http://{} (Swagger UI at /swagger-ui/)", settings.bind);
        app.run_until_signal().await?;
        Ok(())
    })
}

/// One connection on this thread, for a command: the SQLite files are
/// made as the server makes them (folder 0700, file 0600).
fn open_single(settings: &DatabaseSettings) -> Result<Db, StartError> {
    setup::create_files(settings)?;
    Ok(Db::connect_single(settings)?)
}

fn create_key(args: CreateKeyArgs) -> Result<(), CliError> {
    let settings = crate::config::Settings::for_database(args.database.settings()?);
    let db = open_single(&settings.database)?;
    let printable = prepare_database(&db, &settings)?;
    if let Some(key) = printable {
        eprintln!(
            "keygate: the database was empty; created organization `default` with key {}",
            key.value
        );
    }
    let input = NewApiKey {
        name: args.name,
        role: Role::parse(&args.role).expect("clap checked the role"),
        policy: None,
        allowed_cidrs: None,
        expires_at: None,
        enabled: true,
        resource_scopes: None,
        usage: Default::default(),
    };
    let (row, key) = db
        .write_blocking(|conn| {
            let org = org_repo::find(conn, &args.org)?;
            let audit = crate::audit::AuditEvent::success(
                &org.id,
                None,
                "cli_create_api_key",
                "api_key",
                "",
                "cli",
            );
            key_repo::create_unchecked(conn, &org.id, &input, audit)
        })
        .map_err(|e| CliError::Operation(e.to_string()))?;
    // Close the connection on this thread before printing and exiting.
    drop(db);
    eprintln!(
        "keygate: created {} ({}) in {}; the key is shown only this once:",
        row.id, row.api_key_role, row.organization_id
    );
    println!("{}", key.value);
    Ok(())
}

/// Every store of values tied to the master key: sealed columns and keyed
/// hashes. A resource that seals a new column adds it here.
pub fn sealed_stores() -> [&'static dyn Store; 5] {
    use crate::resources::{api_proxies, providers, secrets};
    [
        &secrets::repo::SEALED,
        &secrets::repo::SEALED_VERSION,
        &providers::repo::SEALED,
        &api_proxies::repo::SEALED_SECRET_KEY,
        &api_proxies::repo::KeyHashes,
    ]
}

fn rekey(args: RekeyArgs) -> Result<(), CliError> {
    let database = args.database.settings()?;
    let (source, retired) = args.keyring.sources(&database)?;
    let db = open_single(&database)?;
    db.migrate().map_err(StartError::from)?;
    let start_error = |e| CliError::Start(StartError::MasterKey(e));
    let vault = vault::load(&source, &retired)
        .map_err(start_error)?
        .ok_or_else(|| {
            CliError::Config(ConfigError {
                variable: "KEYGATE_MASTER_KEY",
                reason: "is required: rekey seals under it".to_owned(),
            })
        })?;
    vault::check(&db, Some(&vault)).map_err(|e| match e {
        vault::VaultError::Database(e) => CliError::Operation(e.to_string()),
        key => start_error(key),
    })?;
    eprintln!(
        "keygate: {} under master key {} (retired: {})",
        if args.check {
            "counting values"
        } else {
            "re-sealing values"
        },
        vault.active_key_id(),
        match vault.retired_key_ids() {
            ids if ids.is_empty() => "none".to_owned(),
            ids => ids.join(", "),
        }
    );
    let stores = sealed_stores();
    let report = rekey::run(&db, &vault, &stores, args.batch_size, args.check, |p| {
        eprintln!(
            "keygate: rekey {}: {} of {} rows done, {} to go, {} re-sealed",
            p.store,
            p.read,
            p.total,
            p.total - p.read,
            p.moved
        );
    })
    .map_err(|e| CliError::Operation(e.to_string()))?;
    drop(db);
    for store in report.stores.iter().filter(|s| s.changed_meanwhile > 0) {
        eprintln!(
            "keygate: rekey {}: {} values were changed by a node while being re-sealed and kept as written",
            store.name, store.changed_meanwhile
        );
    }
    for key_id in &report.forgotten {
        eprintln!(
            "keygate: master key {key_id}: 0 values remain; it is forgotten here and can be removed from KEYGATE_RETIRED_MASTER_KEYS"
        );
    }
    for key_id in vault.retired_key_ids() {
        if !report.remaining.contains_key(&key_id) && !report.forgotten.contains(&key_id) {
            eprintln!("keygate: master key {key_id}: 0 values remain; it can be removed");
        }
    }
    if report.remaining.is_empty() {
        eprintln!(
            "keygate: every value is under master key {}",
            vault.active_key_id()
        );
        return Ok(());
    }
    let left: Vec<String> = report
        .remaining
        .iter()
        .map(|(key_id, stores)| {
            let per_store: Vec<String> = stores.iter().map(|(s, n)| format!("{s}: {n}")).collect();
            format!(
                "master key {key_id}: {} values remain ({})",
                stores.values().sum::<u64>(),
                per_store.join(", ")
            )
        })
        .collect();
    for line in &left {
        eprintln!("keygate: {line}");
    }
    Err(CliError::Operation(match args.check {
        true => "values remain under other master keys; run `keygate rekey`".to_owned(),
        false => "values remain under other master keys (sealed meanwhile by a node whose active key is another?); run `keygate rekey` again".to_owned(),
    }))
}
