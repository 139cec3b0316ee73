//! `fluxgate backup DIR` and `fluxgate restore DIR`: a consistent copy of the database and
//! of the hosted git repositories, taken while the server runs, and brought back into an
//! empty data directory (and, on PostgreSQL, an empty database).
//!
//! Order matters for consistency: the database is copied first, then the repositories.
//! Git writes objects before it moves a ref, so a copy taken later holds every commit the
//! database copy names (and perhaps newer ones, which are harmless: a proposal branch
//! without its change row). The other order could leave the database naming commits the
//! copy lacks.
//!
//! * SQLite: `VACUUM INTO`, SQLite's own online copy (one read transaction, so writers go
//!   on and the copy is of one moment).
//! * PostgreSQL: `pg_dump --format=custom` (a snapshot), restored with `pg_restore`.
//! * Repositories: every bare repository under `<data dir>/repos` and the GitOps
//!   repository wherever settings put it, copied with `git clone --mirror` (all refs, and
//!   the objects they reach). Mirrors of application repositories (`mirrors/`) are caches
//!   the runner fetches again, and are left out.

use crate::database::{self, Database};
use anyhow::{bail, Context, Result};
use fluxgate_core::db::Backend;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

const MANIFEST: &str = "fluxgate-backup.json";
const SQLITE_FILE: &str = "fluxgate.db";
const PG_FILE: &str = "fluxgate.pgdump";

/// What a backup holds, written beside it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    pub database: String,
    /// The data directory the backup was taken from: restore moves paths under it.
    pub data_dir: PathBuf,
    /// The GitOps repository's path when the backup was taken.
    pub gitops_repo: Option<PathBuf>,
    /// Repository copies in the backup (`repos/<name>`), with where each came from.
    pub repos: Vec<(String, PathBuf)>,
    /// The audit chain's newest entry at the time of the copy.
    pub audit_head: Option<(i64, String)>,
}

/// Takes a backup of `database` (and the repositories of `data_dir`) into `out`, which
/// must not exist or be empty.
pub async fn backup(
    database: &Database,
    data_dir: &Path,
    database_url: Option<&str>,
    out: &Path,
) -> Result<Manifest> {
    use std::os::unix::fs::PermissionsExt;
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} is not empty: back up into a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out.join("repos"))
        .with_context(|| format!("creating {}", out.display()))?;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))?;
    let data_dir = data_dir.canonicalize().unwrap_or_else(|_| data_dir.into());
    let db = &database.db;
    let audit_head = app::audit::ssr::head(db).await?;
    match db.backend {
        Backend::Sqlite => {
            let target = out.join(SQLITE_FILE);
            let target = target.to_str().context("backup path is not UTF-8")?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&db.pool)
                .await
                .context("copying the SQLite database (VACUUM INTO)")?;
        }
        Backend::Postgres => {
            let url = database_url.context("a PostgreSQL backup needs DATABASE_URL")?;
            run(Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(out.join(PG_FILE))
                .arg(url))
            .context("pg_dump (from Debian's postgresql-client)")?;
        }
    }
    let gitops_repo = app::changes::merge::recorded_gitops_path(db).await?;
    let mut sources: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(data_dir.join("repos")) {
        for entry in entries {
            let path = entry?.path();
            if path.join("HEAD").is_file() {
                sources.push(path);
            }
        }
    }
    if let Some(g) = &gitops_repo {
        if g.join("HEAD").is_file() && !sources.iter().any(|s| same(s, g)) {
            sources.push(g.clone());
        }
    }
    sources.sort();
    let mut repos = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let base = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo.git".into());
        // Two repositories of one name from different places are kept apart.
        let name = if repos.iter().any(|(n, _): &(String, PathBuf)| *n == base) {
            format!("{i}-{base}")
        } else {
            base
        };
        run(Command::new("git")
            .args(["clone", "--quiet", "--mirror", "--no-hardlinks"])
            .arg(source)
            .arg(out.join("repos").join(&name)))
        .with_context(|| format!("copying {}", source.display()))?;
        repos.push((name, source.clone()));
    }
    let manifest = Manifest {
        format: 1,
        created_at: fluxgate_core::db::now_text(),
        database: match db.backend {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres => "postgres".into(),
        },
        data_dir,
        gitops_repo,
        repos,
        audit_head,
    };
    std::fs::write(out.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}

/// Restores the backup in `from` into `data_dir` (empty or missing) and, for PostgreSQL,
/// the empty database at `database_url`. Paths under the old data directory now point
/// under the new one. Returns the opened database.
pub async fn restore(from: &Path, data_dir: &Path, database_url: Option<&str>) -> Result<Database> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST))
            .with_context(|| format!("{} holds no fluxgate backup", from.display()))?,
    )
    .context("the backup's manifest does not parse")?;
    if manifest.format != 1 {
        bail!(
            "backup format {} is not known to this fluxgate",
            manifest.format
        );
    }
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        bail!(
            "{} is not empty: restore into an empty data directory",
            data_dir.display()
        );
    }
    let data_dir = database::prepare_data_dir(data_dir)?;
    let postgres = database_url.is_some_and(|u| u.starts_with("postgres"));
    match (manifest.database.as_str(), postgres) {
        ("sqlite", false) => {
            std::fs::copy(from.join(SQLITE_FILE), data_dir.join(SQLITE_FILE))
                .context("copying the database")?;
        }
        ("postgres", true) => {
            let url = database_url.expect("checked above");
            if !postgres_is_empty(url).await? {
                bail!("the database at DATABASE_URL is not empty: restore into a new database");
            }
            run(Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname"])
                .arg(url)
                .arg(from.join(PG_FILE)))
            .context("pg_restore (from Debian's postgresql-client)")?;
        }
        (kind, _) => bail!(
            "this backup holds a {kind} database; restore it with {}",
            if kind == "postgres" {
                "DATABASE_URL set to an empty PostgreSQL database"
            } else {
                "no DATABASE_URL (SQLite)"
            }
        ),
    }
    std::fs::create_dir_all(data_dir.join("repos"))?;
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (name, old) in &manifest.repos {
        if name.contains('/') || name.starts_with('.') {
            bail!("the backup names a repository {name:?}, which is not a plain name");
        }
        let new = data_dir.join("repos").join(name);
        run(Command::new("git")
            .args(["clone", "--quiet", "--mirror", "--no-hardlinks"])
            .arg(from.join("repos").join(name))
            .arg(&new))
        .with_context(|| format!("restoring {name}"))?;
        // A mirror clone remembers where it came from; the original has no remote.
        run(Command::new("git")
            .arg("-C")
            .arg(&new)
            .args(["remote", "remove", "origin"]))?;
        moved.push((old.clone(), new));
    }
    let database = database::open(&data_dir, database_url).await?;
    repoint(&database, &manifest, &data_dir, &moved).await?;
    // A backup holds session ids; none of them signs anyone in after a restore.
    sqlx::query("UPDATE users SET sessions_valid_after = $1")
        .bind(app::auth::ssr::now_millis())
        .execute(&database.db.pool)
        .await?;
    Ok(database)
}

/// Settings and app repository addresses that named a copied repository (or anything
/// under the old data directory) now name the restored one.
async fn repoint(
    database: &Database,
    manifest: &Manifest,
    data_dir: &Path,
    moved: &[(PathBuf, PathBuf)],
) -> Result<()> {
    let map = |old: &str| -> Option<String> {
        let old_path = Path::new(old);
        if let Some((_, new)) = moved.iter().find(|(o, _)| same(o, old_path)) {
            return Some(new.to_string_lossy().into_owned());
        }
        old_path
            .strip_prefix(&manifest.data_dir)
            .ok()
            .map(|rest| data_dir.join(rest).to_string_lossy().into_owned())
    };
    let db = &database.db;
    if let Some(old) = app::changes::merge::recorded_gitops_path(db).await? {
        if let Some(new) = map(&old.to_string_lossy()) {
            sqlx::query("UPDATE settings SET value = $1 WHERE key = 'gitops.repo_path'")
                .bind(new)
                .execute(&db.pool)
                .await?;
        }
    }
    let apps: Vec<(String, String)> = sqlx::query_as("SELECT id, repo_url FROM apps")
        .fetch_all(&db.pool)
        .await?;
    for (id, url) in apps {
        if let Some(new) = map(&url) {
            sqlx::query("UPDATE apps SET repo_url = $1 WHERE id = $2")
                .bind(new)
                .bind(id)
                .execute(&db.pool)
                .await?;
        }
    }
    Ok(())
}

async fn postgres_is_empty(url: &str) -> Result<bool> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to DATABASE_URL")?;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok(n == 0)
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
