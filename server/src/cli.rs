//! The command line: `fluxgate serve | demo | runner | migrate | user | token | app | cluster | probe | render | diff | helm`.

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
    /// Run pipeline jobs only (no web server); several runners may share one PostgreSQL.
    Runner(RunnerArgs),
    /// Manage local users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage registered applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Check the audit log's hash chain; names the first broken entry.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Stop every merge into every environment (`on REASON`), or allow them again (`off`).
    StopTheLine {
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// Why (shown on every change request while it is on).
        reason: Option<String>,
    },
    /// Render a Kustomize overlay (byte for byte as `kubectl kustomize`) to stdout.
    Render(RenderArgs),
    /// Compare two renders (files or folders of YAML) object by object.
    Diff(DiffArgs),
    /// Render Helm charts natively (`fluxgate helm template NAME CHART`).
    #[command(subcommand)]
    Helm(crate::cli_helm::HelmCommand),
    /// Register a cluster whose Flux reports to fluxgate (prints its webhook secret once).
    #[command(subcommand)]
    Cluster(crate::cli_flux::ClusterCommand),
    /// HTTP probes that verify an app in an environment after Flux applied it.
    #[command(subcommand)]
    Probe(crate::cli_flux::ProbeCommand),
    /// Push the GitOps repository to a remote (a forge, another server).
    #[command(subcommand)]
    Gitops(crate::cli_gitops::GitopsCommand),
    /// Copy the database and the hosted git repositories into DIR, while the server runs.
    Backup { dir: PathBuf },
    /// Bring a backup back into an empty data directory (and, with DATABASE_URL, an empty
    /// PostgreSQL database). Every session ends.
    Restore { dir: PathBuf },
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
    /// The address people open fluxgate at (e.g. https://fluxgate.example.com): browser
    /// requests for another host name are refused, cross-site checks compare against it,
    /// and https makes the session cookie Secure.
    #[arg(long, env = "FLUXGATE_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,
    /// Serve only the web UI and API; pipeline jobs are left to `fluxgate runner`.
    #[arg(long)]
    pub no_runner: bool,
    /// A session ends this long after sign-in however active it is (e.g. 7d, 12h, 30m).
    #[arg(long, env = "FLUXGATE_SESSION_LIFETIME", default_value = "7d", value_parser = parse_span)]
    pub session_lifetime: std::time::Duration,
    #[command(flatten)]
    pub oidc: crate::oidc::OidcArgs,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// An http(s) URL with a host and nothing after it but `/`.
fn parse_public_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{text:?}: write e.g. https://fluxgate.example.com"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?}: fluxgate is served at the root of its host; drop the path"
        ));
    }
    Ok(url)
}

/// `7d`, `12h`, `30m` or `45s`: a positive whole number and one unit.
fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{text:?}: write e.g. 7d, 12h, 30m or 45s")),
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .and_then(|n| n.checked_mul(unit_secs))
        .filter(|&s| s <= 366 * 86_400)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?}: a whole number from 1 up to a year, e.g. 7d"))
}

#[derive(Args, Debug, Clone)]
pub struct RunnerArgs {
    /// Jobs done at once by this process.
    #[arg(long, env = "FLUXGATE_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Pipeline steps (child processes) running at once in this process.
    #[arg(long, env = "FLUXGATE_MAX_PARALLEL_STEPS", default_value_t = 4)]
    pub max_parallel_steps: usize,
    /// Seconds between fetches of each application repository (the demo uses 5).
    #[arg(long, env = "FLUXGATE_POLL_INTERVAL")]
    pub poll_interval: Option<u64>,
    /// Run `run:` steps WITHOUT a sandbox, as fluxgate's own user: any developer who can
    /// push a branch can then read fluxgate's data. Only for hosts where bubblewrap
    /// cannot work; warned about at start, on Settings and on every run page.
    #[arg(long, env = "FLUXGATE_UNSANDBOXED_STEPS")]
    pub unsandboxed_steps: bool,
    /// The most memory one step may ask for in its `limits:` (e.g. 8Gi).
    #[arg(long, env = "FLUXGATE_MAX_STEP_MEMORY", value_parser = bytes_arg)]
    pub max_step_memory: Option<u64>,
    /// The most processes one step may ask for.
    #[arg(long, env = "FLUXGATE_MAX_STEP_PROCESSES")]
    pub max_step_processes: Option<u64>,
    /// The most CPU time per process one step may ask for, in seconds.
    #[arg(long, env = "FLUXGATE_MAX_STEP_CPU")]
    pub max_step_cpu: Option<u64>,
    /// The most output (stdout and stderr) one step may ask for (e.g. 512Mi).
    #[arg(long, env = "FLUXGATE_MAX_STEP_OUTPUT", value_parser = bytes_arg)]
    pub max_step_output: Option<u64>,
    /// The largest private /tmp (and HOME) one step may ask for (e.g. 8Gi).
    #[arg(long, env = "FLUXGATE_MAX_STEP_TMP", value_parser = bytes_arg)]
    pub max_step_tmp: Option<u64>,
    /// Let verification probes reach link-local addresses, where cloud metadata services
    /// (and their credentials) live. Off by default: probe URLs are written by developers.
    #[arg(long, env = "FLUXGATE_PROBES_MAY_REACH_LINK_LOCAL")]
    pub probes_may_reach_link_local: bool,
}

fn bytes_arg(text: &str) -> Result<u64, String> {
    crate::pipeline::limits::parse_bytes(text)
        .ok_or_else(|| format!("{text:?} is not a size: write e.g. 512Mi or 8Gi"))
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token acting as USER; the token is printed once.
    Create {
        #[arg(long)]
        user: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// read, review, merge or git-read:<environment>; repeat for several. Without
        /// any: read, review and merge (no git access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime from now: 90d, 12h, 30m. Without it the token does not expire.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their values), of one user with --user.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by the id `token list` shows; it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute every entry's hash and check the anchors that the GitOps repository's
    /// commits carry; exit 1 and name the first break if any.
    Verify,
    /// Write entries as JSON lines (one object each, oldest first) for a SIEM.
    Export {
        /// Only entries after this sequence number (what the last export ended with).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only entries at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
}

/// `fluxgate audit export`: pages of 1,000 entries, streamed to stdout.
async fn export_audit(db: &fluxgate_core::db::Db, after: i64, since: Option<&str>) -> Result<()> {
    use std::io::Write;
    let since = match since {
        None => String::new(),
        Some(text) => {
            let t =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .with_context(|| {
                    format!("--since {text:?}: write an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
                })?;
            // Stored times are UTC, whole seconds, RFC 3339: compared as text.
            t.to_offset(time::UtcOffset::UTC)
                .replace_nanosecond(0)?
                .format(&time::format_description::well_known::Rfc3339)?
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut after = after;
    loop {
        let page = app::audit::ssr::export_page(db, after, &since, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            serde_json::to_writer(&mut out, entry)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Register an application repository (a local path or file:// URL).
    Add {
        name: String,
        #[arg(long)]
        repo: String,
        #[arg(long, default_value = "main")]
        branch: String,
        /// Folder of the deployment templates in the repository.
        #[arg(long, default_value = "deploy")]
        templates: String,
    },
    /// Set a secret given to the app's steps as an environment variable and masked in their
    /// output. The value is read from standard input. Only CI runs of the default branch
    /// receive it, unless --for-pr also gives it to PR runs (which any pushed branch starts).
    SetSecret {
        app: String,
        name: String,
        #[arg(long)]
        for_pr: bool,
    },
    /// Credentials for fetching the app's repository over https (a user name, and the
    /// password or token read from standard input) or ssh (--ssh-key FILE).
    SetCredentials {
        app: String,
        #[arg(long, default_value = "")]
        username: String,
        /// A private key file for ssh remotes (stored in the database, never shown).
        #[arg(long)]
        ssh_key: Option<PathBuf>,
    },
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
        /// The e-mail of the user's git commits (their changes are then known as theirs).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a user's password (read from standard input, or prompted for twice); every
    /// session the user has ends.
    SetPassword { name: String },
    /// Register an SSH public key the user signs commits with (git's gpg.format ssh).
    AddKey {
        name: String,
        /// The public key file (e.g. ~/.ssh/id_ed25519.pub), or - for standard input.
        key: PathBuf,
        #[arg(long, default_value = "")]
        title: String,
    },
    /// List a user's signing keys.
    Keys { name: String },
    /// Remove a signing key by its fingerprint (SHA256:…).
    RemoveKey { name: String, fingerprint: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

impl Command {
    /// Render and diff are one-shot and synchronous: `main` runs them without
    /// starting (and stopping) an async runtime, which is most of a small run.
    pub fn is_blocking(&self) -> bool {
        matches!(
            self,
            Command::Render(_) | Command::Diff(_) | Command::Helm(_)
        )
    }
}

/// Runs a command for which [`Command::is_blocking`] holds.
pub fn run_blocking(cli: &Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    match &cli.command {
        Command::Render(args) => render(args),
        Command::Diff(args) => diff(args),
        Command::Helm(cmd) => crate::cli_helm::run(cmd),
        _ => bail!("this command needs the async runtime"),
    }
}

/// Runs the command; errors come back to `main` to be printed on one line.
pub async fn run(cli: Cli) -> Result<()> {
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Render(ref args) => render(args),
        Command::Diff(ref args) => diff(args),
        Command::Helm(ref cmd) => crate::cli_helm::run(cmd),
        Command::Migrate => {
            let database = open(&cli).await?;
            println!("{} is migrated", database.description);
            Ok(())
        }
        Command::User(UserCommand::Add {
            ref name,
            role,
            ref groups,
            ref email,
        }) => {
            let password = read_password()?;
            let database = open(&cli).await?;
            let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
            app::auth::ssr::create_user(&database.db, name, &password, role, &groups).await?;
            if let Some(email) = email {
                app::auth::ssr::set_email(&database.db, name, email).await?;
            }
            app::audit::ssr::append(
                &database.db,
                "cli",
                "user.add",
                &format!("user:{name}"),
                serde_json::json!({ "role": role.as_str(), "groups": groups }),
            )
            .await?;
            println!("added user {name} with role {role}");
            Ok(())
        }
        Command::Serve(ref args) => {
            let database = open(&cli).await?;
            let listener = listen(args.addr).await?;
            serve(&database, &cli.data_dir, args, listener, None, 60).await
        }
        Command::Runner(ref args) => {
            let database = open(&cli).await?;
            let data_dir = database::prepare_data_dir(&cli.data_dir)?;
            start_runner(&database, &data_dir, args, 60);
            shutdown_signal().await;
            tracing::info!("stopped");
            Ok(())
        }
        Command::User(ref command) => {
            let database = open(&cli).await?;
            crate::cli_keys::run(&database.db, command).await
        }
        Command::Token(ref command) => {
            let database = open(&cli).await?;
            crate::tokens::cli(&database.db, command).await
        }
        Command::App(AppCommand::Add {
            ref name,
            ref repo,
            ref branch,
            ref templates,
        }) => {
            let database = open(&cli).await?;
            let repo = local_repo_address(repo)?;
            crate::apps::register(&database.db, name, &repo, branch, templates).await?;
            println!("registered app {name} ({repo}, branch {branch})");
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let database = open(&cli).await?;
            match crate::audit_anchors::verify(&database.db).await? {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(broken) => bail!("{broken}"),
            }
        }
        Command::Backup { ref dir } => {
            let database = open(&cli).await?;
            let m =
                crate::backup::backup(&database, &cli.data_dir, cli.database_url.as_deref(), dir)
                    .await?;
            println!(
                "backed up the {} database and {} repositories into {} (audit log up to entry {})",
                m.database,
                m.repos.len(),
                dir.display(),
                m.audit_head.map_or(0, |(seq, _)| seq)
            );
            Ok(())
        }
        Command::Restore { ref dir } => {
            let database =
                crate::backup::restore(dir, &cli.data_dir, cli.database_url.as_deref()).await?;
            match crate::audit_anchors::verify(&database.db).await? {
                Ok(report) => println!("restored into {}; {report}", cli.data_dir.display()),
                Err(broken) => bail!("restored, but {broken}"),
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Export { after, ref since }) => {
            let database = open(&cli).await?;
            export_audit(&database.db, after, since.as_deref()).await
        }
        Command::StopTheLine {
            ref state,
            ref reason,
        } => {
            let database = open(&cli).await?;
            let reason = reason
                .clone()
                .unwrap_or_else(|| "stopped from the command line".into());
            app::settings::ssr::set_stop_the_line(
                &database.db,
                "cli",
                (state == "on").then_some(reason.as_str()),
            )
            .await?;
            println!("stop-the-line is {state}");
            Ok(())
        }
        Command::App(AppCommand::SetSecret {
            ref app,
            ref name,
            for_pr,
        }) => {
            let value = read_password()?;
            let database = open(&cli).await?;
            crate::apps::set_secret(&database.db, app, name, &value, for_pr).await?;
            let runs = if for_pr {
                "CI and PR runs"
            } else {
                "CI runs of the default branch"
            };
            println!("secret {name} set for {app} (given to {runs})");
            Ok(())
        }
        Command::App(AppCommand::SetCredentials {
            ref app,
            ref username,
            ref ssh_key,
        }) => {
            let creds = crate::repos::credentials::Credentials {
                username: username.clone(),
                password: if ssh_key.is_some() {
                    String::new()
                } else {
                    read_password()?
                },
                ssh_key: match ssh_key {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                    None => String::new(),
                },
            };
            let database = open(&cli).await?;
            let found = crate::apps::by_name(&database.db, app)
                .await?
                .with_context(|| format!("no app named {app}"))?;
            crate::repos::credentials::put(&database.db, &found.id, &creds).await?;
            println!("credentials set for {app}");
            Ok(())
        }
        Command::Cluster(ref c) => crate::cli_flux::cluster(&open(&cli).await?.db, c).await,
        Command::Probe(ref c) => crate::cli_flux::probe(&open(&cli).await?.db, c).await,
        Command::Gitops(ref c) => {
            let database = open(&cli).await?;
            let data_dir = database::prepare_data_dir(&cli.data_dir)?;
            crate::cli_gitops::gitops(&database.db, &data_dir, c, read_password).await
        }
        Command::Demo(ref args) => {
            let database = open(&cli).await?;
            let data_dir = database::prepare_data_dir(&cli.data_dir)?;
            let repos = demo::seed(&database.db, &data_dir)
                .await
                .context("preparing the demo data")?;
            demo::seed_chart_app(&database.db, &data_dir)
                .await
                .context("preparing the demo's Helm chart app")?;
            demo::install_push_hook(&database.db, &repos, &args.addr.to_string())
                .await
                .context("installing the demo's push hook")?;
            let listener = listen(args.addr).await?;
            demo::start_reconciler(&database.db, &data_dir, listener.local_addr()?)
                .await
                .context("starting the demo reconciler")?;
            serve(
                &database,
                &data_dir,
                args,
                listener,
                Some(demo::banner(&args.addr.to_string(), &repos)),
                demo::POLL_INTERVAL_SECS,
            )
            .await
        }
    }
}

async fn open(cli: &Cli) -> Result<Database> {
    let database = database::open(&cli.data_dir, cli.database_url.as_deref()).await?;
    if matches!(cli.command, Command::Serve(_) | Command::Runner(_)) {
        let data_dir = database::prepare_data_dir(&cli.data_dir)?;
        crate::cd::ensure_gitops_setting(&database.db, &data_dir).await?;
    }
    tracing::info!(database = %database.description, "database ready");
    Ok(database)
}

/// Starts the pipeline runner in this process.
fn start_runner(
    database: &Database,
    data_dir: &std::path::Path,
    args: &RunnerArgs,
    default_poll: u64,
) {
    let mut config = crate::runner::RunnerConfig::new(data_dir.to_path_buf());
    config.workers = args.workers.max(1);
    config.max_parallel_steps = args.max_parallel_steps.max(1);
    config.poll_interval =
        std::time::Duration::from_secs(args.poll_interval.unwrap_or(default_poll).max(1));
    let max = &mut config.max_limits;
    max.memory = args.max_step_memory.unwrap_or(max.memory);
    max.processes = args.max_step_processes.unwrap_or(max.processes).max(1);
    max.cpu = args
        .max_step_cpu
        .map_or(max.cpu, std::time::Duration::from_secs);
    max.output = args.max_step_output.unwrap_or(max.output);
    max.tmp = args.max_step_tmp.unwrap_or(max.tmp);
    config.probes_may_reach_link_local = args.probes_may_reach_link_local;
    if args.unsandboxed_steps {
        config.isolation = std::sync::Arc::new(crate::runner::sandbox::Isolation::Unsandboxed);
    }
    crate::runner::sandbox::announce(&config.isolation);
    crate::runner::start(database.db.clone(), config);
}

/// A local repository path made absolute (the runner may run elsewhere); URLs unchanged.
fn local_repo_address(repo: &str) -> Result<String> {
    // URLs, and scp-like ssh addresses (`git@host:org/repo.git`), stay as they are.
    let scp_like = repo
        .split_once(':')
        .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    if repo.contains("://") || scp_like {
        return Ok(repo.to_string());
    }
    let path = std::path::Path::new(repo)
        .canonicalize()
        .with_context(|| format!("repository {repo} does not exist"))?;
    Ok(path.to_string_lossy().into_owned())
}

async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

async fn serve(
    database: &Database,
    data_dir: &std::path::Path,
    args: &ServeArgs,
    listener: tokio::net::TcpListener,
    banner: Option<String>,
    default_poll: u64,
) -> Result<()> {
    if args.no_runner {
        tracing::info!("--no-runner: pipeline jobs are left to `fluxgate runner`");
    } else {
        let data_dir = database::prepare_data_dir(data_dir)?;
        start_runner(database, &data_dir, &args.runner, default_poll);
    }
    let addr = listener.local_addr()?;
    let oidc = args.oidc.provider()?.map(std::sync::Arc::new);
    if let Some(p) = &oidc {
        tracing::info!(issuer = %p.settings.issuer, client = %p.settings.client_id, "sign-in through the identity provider is on");
    }
    let router = http::router(
        database,
        http::leptos_options(addr),
        &WebConfig {
            secure_cookies: args.secure_cookies,
            session_lifetime: app::auth::ssr::SessionLifetime(args.session_lifetime),
            public_url: args.public_url.clone(),
            oidc,
            local_login: args.oidc.local_login == "on",
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
pub(crate) fn read_password() -> Result<String> {
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
    use kustomize as render;
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
    let changes = manifest_diff::diff_paths_one_shot(&args.old, &args.new, args.context)?;
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
