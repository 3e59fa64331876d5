//! The command line: `serve` (the default), `migrate`, `openapi`, and
//! `keys create` / `keys generate` for recovery and scripting.

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, DatabaseArgs, DatabaseSettings, ServeArgs};
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
