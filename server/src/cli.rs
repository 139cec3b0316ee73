//! The command line: `fluxgate serve | demo | migrate | user add`.

use crate::database::{self, Database};
use crate::demo;
use crate::http::{self, WebConfig};
use crate::telemetry::{self, LogFormat};
use anyhow::{bail, Context, Result};
use app::auth::Role;
use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "fluxgate",
    version,
    about = "GitOps delivery dashboard and approval portal"
)]
pub struct Cli {
    /// Where fluxgate keeps its SQLite database and hosted git repositories.
    #[arg(
        long,
        global = true,
        env = "FLUXGATE_DATA_DIR",
        default_value = "./fluxgate-data"
    )]
    pub data_dir: PathBuf,
    /// Use this database instead of the SQLite file (postgres://user@host:5432/db).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log lines as text or JSON.
    #[arg(
        long,
        global = true,
        env = "FLUXGATE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web UI and API.
    Serve(ServeArgs),
    /// Serve with sample users, environments and repositories (created if missing).
    Demo(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage local users.
    #[command(subcommand)]
    User(UserCommand),
    /// Render a Kustomize overlay (byte for byte as `kubectl kustomize`) to stdout.
    Render(RenderArgs),
    /// Compare two renders (files or folders of YAML) object by object.
    Diff(DiffArgs),
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub old: PathBuf,
    pub new: PathBuf,
    /// Print the machine-readable form (what the portal stores and shows).
    #[arg(long)]
    pub json: bool,
    /// Lines of context around each change in the text diff.
    #[arg(long, default_value_t = 3)]
    pub context: usize,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The folder holding kustomization.yaml.
    pub dir: PathBuf,
    /// Environment values (a flat YAML map) substituted into `${VAR}` after the build, the
    /// way Flux's post-build substitution does.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// No file outside this folder may be read (default: the current folder, or DIR itself
    /// when DIR is not inside it).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "FLUXGATE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Mark the session cookie Secure (set this when served over HTTPS).
    #[arg(long, env = "FLUXGATE_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a local user. The password is read from standard input (or prompted for twice).
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Groups the user belongs to (repeatable), e.g. --group cluster-admins.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

impl Command {
    /// Render and diff are one-shot and synchronous: `main` runs them without
    /// starting (and stopping) an async runtime, which is most of a small run.
    pub fn is_blocking(&self) -> bool {
        matches!(self, Command::Render(_) | Command::Diff(_))
    }
}

/// Runs a command for which [`Command::is_blocking`] holds.
pub fn run_blocking(cli: &Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    match &cli.command {
        Command::Render(args) => render(args),
        Command::Diff(args) => diff(args),
        _ => bail!("this command needs the async runtime"),
    }
}

/// Runs the command; errors come back to `main` to be printed on one line.
pub async fn run(cli: Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Render(ref args) => render(args),
        Command::Diff(ref args) => diff(args),
        Command::Migrate => {
            let database = open(&cli).await?;
            println!("{} is migrated", database.description);
            Ok(())
        }
        Command::User(UserCommand::Add {
            ref name,
            role,
            ref groups,
        }) => {
            let password = read_password()?;
            let database = open(&cli).await?;
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            app::auth::ssr::create_user(&database.db, name, &password, role, &groups).await?;
            println!("added user {name} with role {role}");
            Ok(())
        }
        Command::Serve(ref args) => {
            let database = open(&cli).await?;
            serve(&database, args, None).await
        }
        Command::Demo(ref args) => {
            let database = open(&cli).await?;
            let data_dir = database::prepare_data_dir(&cli.data_dir)?;
            let repos = demo::seed(&database.db, &data_dir)
                .await
                .context("preparing the demo data")?;
            serve(
                &database,
                args,
                Some(demo::banner(&args.addr.to_string(), &repos)),
            )
            .await
        }
    }
}

async fn open(cli: &Cli) -> Result<Database> {
    let database = database::open(&cli.data_dir, cli.database_url.as_deref()).await?;
    tracing::info!(database = %database.description, "database ready");
    Ok(database)
}

async fn serve(database: &Database, args: &ServeArgs, banner: Option<String>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let router = http::router(
        database,
        http::leptos_options(addr),
        &WebConfig {
            secure_cookies: args.secure_cookies,
        },
    );
    tracing::info!(%addr, "listening");
    if let Some(banner) = banner {
        println!("{banner}");
    }
    http::serve(listener, router, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// One line from stdin when piped; a hidden prompt (typed twice) on a terminal.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// `fluxgate render`: the YAML on stdout, or the error on stderr (via `main`).
fn render(args: &RenderArgs) -> Result<()> {
    use crate::render;
    use std::io::Write;
    let cwd = std::env::current_dir()?;
    let dir = cwd.join(&args.dir);
    let root = match &args.root {
        Some(root) => cwd.join(root),
        None if dir.starts_with(&cwd) => cwd.clone(),
        None => dir.clone(),
    };
    let mut objects = render::render_dir(&root, &dir)?;
    if let Some(values) = &args.values {
        let text = std::fs::read_to_string(values)
            .with_context(|| format!("cannot read values file {}", values.display()))?;
        let values = render::parse_values(&text)?;
        objects = render::substitute(&objects, &values, false)?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(render::to_yaml(&objects).as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `fluxgate diff`: a readable report (or JSON) on stdout. Secret values never appear.
fn diff(args: &DiffArgs) -> Result<()> {
    use std::io::Write;
    let changes = crate::diff::diff_paths_one_shot(&args.old, &args.new, args.context)?;
    let text = if args.json {
        serde_json::to_string_pretty(&changes)? + "\n"
    } else {
        changes.to_text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    // The process ends right after: freeing the ~10^5 allocations of a large
    // change set one by one would only delay the exit.
    std::mem::forget(changes);
    Ok(())
}
