//! Opening the database: the SQLite file in the data directory by default, PostgreSQL when a
//! URL names one. Migrations from `migrations/` are embedded and applied at start.
//!
//! Two pools share the database: an `AnyPool` for fluxgate's own queries (one query text for
//! both backends) and a concrete pool for the session store, which needs one.

use anyhow::{bail, Context, Result};
use fluxgate_core::db::{Backend, Db};
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The concrete pool the session store uses.
#[derive(Clone, Debug)]
pub enum SessionPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open, migrated database.
#[derive(Clone, Debug)]
pub struct Database {
    pub db: Db,
    pub sessions: SessionPool,
    /// Printable description with any password removed.
    pub description: String,
}

/// How long an SQLite writer waits for another before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Creates the data directory if needed, makes it the owner's alone (0700: it holds the
/// database, sessions and repositories, none of which other local users may read) and
/// checks that it can be written.
pub fn prepare_data_dir(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("data directory {} cannot be created", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| {
        format!(
            "data directory {} cannot be made owner-only (0700)",
            dir.display()
        )
    })?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("data directory {} cannot be used", dir.display()))?;
    if !dir.is_dir() {
        bail!("data directory {} is not a directory", dir.display());
    }
    let probe = dir.join(".fluxgate-write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("data directory {} is not writable", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(dir)
}

/// Waits for an exclusive lock on `path`, held until the returned file is dropped.
async fn exclusive_turn(path: PathBuf) -> Result<std::fs::File> {
    tokio::task::spawn_blocking(move || -> Result<std::fs::File> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "locking {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(file)
    })
    .await?
}

/// The file an `sqlite:` URL names (without its `?options`).
fn sqlite_file(url: &str) -> &str {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    path.split('?').next().unwrap_or(path)
}

/// The lock file that makes processes opening one SQLite file take turns, or None for a
/// database that lives in memory only.
fn sqlite_turn_path(url: &str) -> Option<PathBuf> {
    let path = sqlite_file(url);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(format!("{path}.lock")))
}

/// Opens (and creates, for SQLite) the database and applies pending migrations.
pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Database> {
    sqlx::any::install_default_drivers();
    let sqlite_url = match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let database = open_postgres(url).await?;
            // PostgreSQL's migrator takes an advisory lock itself.
            migrate(&database).await?;
            return Ok(database);
        }
        Some(url) if url.starts_with("sqlite:") => url.to_string(),
        Some(url) => bail!(
            "unsupported database URL {}: use postgres://… or sqlite:…",
            redact_url(url)
        ),
        None => {
            let dir = prepare_data_dir(data_dir)?;
            let file = dir.join("fluxgate.db");
            let file = file
                .to_str()
                .context("data directory path is not valid UTF-8")?;
            if file.contains(['?', '#']) {
                bail!("data directory path must not contain '?' or '#': {file}");
            }
            format!("sqlite://{file}?mode=rwc")
        }
    };
    // SQLite has no advisory locks, and two processes opening a new file at once (the demo
    // and a `fluxgate token create` beside it) collide twice: switching the file to WAL
    // fails with "database is locked" in one of them without waiting (measured: 6 of 60
    // simultaneous first opens), and both would run the first migration. A lock file next
    // to the database makes them take turns from the first connection to the last
    // migration.
    let _turn = match sqlite_turn_path(&sqlite_url) {
        Some(path) => Some(exclusive_turn(path).await?),
        None => None,
    };
    let database = open_sqlite_url(&sqlite_url).await?;
    if database_url.is_none() {
        owner_only_files(&data_dir.join("fluxgate.db"))?;
    }
    migrate(&database).await?;
    Ok(database)
}

/// The database file and its WAL companions get mode 0600 whatever the umask (the data
/// directory is 0700 already; this keeps a copied-out file private too).
fn owner_only_files(db: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("chmod 600 {}", path.display())),
        }
    }
    Ok(())
}

async fn migrate(database: &Database) -> Result<()> {
    MIGRATOR
        .run(&database.db.pool)
        .await
        .with_context(|| format!("migrating {} failed", database.description))?;
    match &database.sessions {
        SessionPool::Sqlite(p) => {
            tower_sessions_sqlx_store::SqliteStore::new(p.clone())
                .migrate()
                .await
        }
        SessionPool::Postgres(p) => {
            tower_sessions_sqlx_store::PostgresStore::new(p.clone())
                .migrate()
                .await
        }
    }
    .with_context(|| {
        format!(
            "creating the session table in {} failed",
            database.description
        )
    })
}

async fn open_sqlite_url(url: &str) -> Result<Database> {
    let description = format!("SQLite database {}", sqlite_file(url));
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid SQLite URL {url}"))?
        .create_if_missing(true)
        // WAL: readers never block the writer (page views during a chatty pipeline), and
        // it is recorded in the file, so the `Any` pool below uses it too.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    let sessions = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open {description}"))?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        // The URL cannot carry these per-connection settings; without a busy timeout a
        // writer waiting for another (twenty pipelines logging at once) fails at once.
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute(
                    format!(
                        "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL;",
                        SQLITE_BUSY_TIMEOUT.as_millis()
                    )
                    .as_str(),
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .with_context(|| format!("cannot open {description}"))?;
    Ok(Database {
        db: Db::new(pool, Backend::Sqlite),
        sessions: SessionPool::Sqlite(sessions),
        description,
    })
}

async fn open_postgres(url: &str) -> Result<Database> {
    let description = format!("PostgreSQL database {}", redact_url(url));
    let sessions = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to {description}"))?;
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to {description}"))?;
    Ok(Database {
        db: Db::new(pool, Backend::Postgres),
        sessions: SessionPool::Postgres(sessions),
        description,
    })
}

/// A database URL fit for logs: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/fluxgate?sslmode=require"),
            "postgres://app:***@db.internal:5432/fluxgate?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(redact_url("postgres://a:b@c@h/db"), "postgres://a:***@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
