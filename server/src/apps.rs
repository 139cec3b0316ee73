//! Registered applications: their repository, default branch and templates folder.

use crate::repos::mirror;
use anyhow::{bail, Context, Result};
use fluxgate_core::db::{new_id, now_text, Db};
use serde::Serialize;
use sqlx::Row;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
pub struct App {
    pub id: String,
    pub name: String,
    /// Local path or URL of the application repository.
    pub repo_url: String,
    pub default_branch: String,
    pub template_path: String,
    pub template_kind: String,
}

const COLUMNS: &str = "id, name, repo_url, default_branch, template_path, template_kind";

fn from_row(row: &sqlx::any::AnyRow) -> Result<App> {
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        repo_url: row.try_get("repo_url")?,
        default_branch: row.try_get("default_branch")?,
        template_path: row.try_get("template_path")?,
        template_kind: row.try_get("template_kind")?,
    })
}

pub async fn list(db: &Db) -> Result<Vec<App>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM apps ORDER BY name"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<App>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM apps WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<App>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM apps WHERE name = $1"))
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Registers an application. The repository is checked for a usable address only; the
/// first poll fetches it (and shows the error on the app if that fails).
pub async fn register(
    db: &Db,
    name: &str,
    repo_url: &str,
    default_branch: &str,
    template_path: &str,
) -> Result<App> {
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if !valid_name {
        bail!("app name {name:?}: use lowercase letters, digits and '-' (at most 63)");
    }
    mirror::check_url(repo_url)?;
    crate::repos::tree::check_path(template_path)
        .with_context(|| format!("templates folder {template_path:?}"))?;
    if by_name(db, name).await?.is_some() {
        bail!("an app named {name} already exists");
    }
    let app = App {
        id: new_id(),
        name: name.to_string(),
        repo_url: repo_url.to_string(),
        default_branch: default_branch.to_string(),
        template_path: template_path.to_string(),
        template_kind: "kustomize".to_string(),
    };
    sqlx::query(
        "INSERT INTO apps (id, name, repo_url, default_branch, template_path, template_kind, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&app.id)
    .bind(&app.name)
    .bind(&app.repo_url)
    .bind(&app.default_branch)
    .bind(&app.template_path)
    .bind(&app.template_kind)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(app)
}

/// Where the mirror of an app's repository lives.
pub fn mirror_path(data_dir: &Path, app: &App) -> PathBuf {
    data_dir.join("mirrors").join(format!("{}.git", app.id))
}

/// Values given to the app's steps as environment variables (and masked in their output).
/// A `trusted` run (CI on the default branch) gets every secret; any other run only those
/// marked `for_pr`, since anyone who can push a branch can start one.
pub async fn secrets(db: &Db, app_id: &str, trusted: bool) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT name, value FROM app_secrets WHERE app_id = $1 AND (for_pr = 1 OR $2 = 1)
         ORDER BY name",
    )
    .bind(app_id)
    .bind(i64::from(trusted))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("value")?)))
        .collect()
}

/// Repository polling state shown on the app: last poll, last error.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepoState {
    pub last_polled_at: Option<String>,
    pub last_error: Option<String>,
    pub failures: i64,
}

pub async fn repo_state(db: &Db, app_id: &str) -> Result<RepoState> {
    let row = sqlx::query(
        "SELECT last_polled_at, last_error, failures FROM app_repo_state WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => RepoState {
            last_polled_at: r.try_get("last_polled_at")?,
            last_error: r.try_get("last_error")?,
            failures: r.try_get("failures")?,
        },
        None => RepoState::default(),
    })
}

/// Sets (or replaces) one of an app's step secrets; `for_pr` also gives it to PR runs.
pub async fn set_secret(db: &Db, app: &str, name: &str, value: &str, for_pr: bool) -> Result<()> {
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.starts_with("FLUXGATE_");
    if !valid {
        bail!("secret name {name:?}: use letters, digits and '_' (not starting with FLUXGATE_)");
    }
    if value.is_empty() {
        bail!("the secret value is empty");
    }
    let app = by_name(db, app)
        .await?
        .with_context(|| format!("no app named {app}"))?;
    sqlx::query(
        "INSERT INTO app_secrets (app_id, name, value, for_pr) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id, name) DO UPDATE SET value = $3, for_pr = $4",
    )
    .bind(&app.id)
    .bind(name)
    .bind(value)
    .bind(i64::from(for_pr))
    .execute(&db.pool)
    .await?;
    Ok(())
}
