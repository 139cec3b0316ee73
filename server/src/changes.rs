//! Change requests (state-change PRs) as stored: a proposal branch in the GitOps
//! repository, the app commit and images it deploys, and its per-object diff.

use anyhow::Result;
use app::db::{now_text, Db};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct ChangeRequest {
    pub id: String,
    pub app: String,
    pub environment: String,
    pub cd_run_id: String,
    pub ci_run_id: String,
    pub app_commit: String,
    pub author: String,
    pub title: String,
    pub images: serde_json::Value,
    pub proposal_branch: String,
    pub head_commit: String,
    pub base_commit: String,
    pub state: String,
    pub summary: serde_json::Value,
    pub risks: serde_json::Value,
    pub superseded_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "c.id, a.name AS app, e.name AS environment, c.cd_run_id, c.ci_run_id, \
    c.app_commit, c.author, c.title, c.images, c.proposal_branch, c.head_commit, c.base_commit, \
    c.state, c.summary, c.risks, c.superseded_by, c.created_at, c.updated_at";
const FROM: &str =
    "FROM change_requests c JOIN apps a ON a.id = c.app_id JOIN environments e ON e.id = c.environment_id";

fn json(r: &sqlx::any::AnyRow, col: &str) -> Result<serde_json::Value> {
    let text: String = r.try_get(col)?;
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ChangeRequest> {
    Ok(ChangeRequest {
        id: r.try_get("id")?,
        app: r.try_get("app")?,
        environment: r.try_get("environment")?,
        cd_run_id: r.try_get("cd_run_id")?,
        ci_run_id: r.try_get("ci_run_id")?,
        app_commit: r.try_get("app_commit")?,
        author: r.try_get("author")?,
        title: r.try_get("title")?,
        images: json(r, "images")?,
        proposal_branch: r.try_get("proposal_branch")?,
        head_commit: r.try_get("head_commit")?,
        base_commit: r.try_get("base_commit")?,
        state: r.try_get("state")?,
        summary: json(r, "summary")?,
        risks: json(r, "risks")?,
        superseded_by: r.try_get("superseded_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<ChangeRequest>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} {FROM} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The stored diff (JSON of the diff engine's change set; Secret values already redacted).
pub async fn diff(db: &Db, id: &str) -> Result<Option<serde_json::Value>> {
    let row = sqlx::query("SELECT diff FROM change_requests WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| json(&r, "diff")).transpose()
}

/// Newest first, filtered by environment name and state when given.
pub async fn list(
    db: &Db,
    env: Option<&str>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<ChangeRequest>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM}
         WHERE ($1 = '' OR e.name = $1) AND ($2 = '' OR c.state = $2)
         ORDER BY c.id DESC LIMIT $3"
    ))
    .bind(env.unwrap_or(""))
    .bind(state.unwrap_or(""))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The change request a CD run opened for an environment, if any.
pub async fn for_cd_run(db: &Db, cd_run_id: &str, environment_id: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT id FROM change_requests WHERE cd_run_id = $1 AND environment_id = $2")
            .bind(cd_run_id)
            .bind(environment_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

pub struct NewChange<'a> {
    pub id: &'a str,
    pub app_id: &'a str,
    pub environment_id: &'a str,
    pub cd_run_id: &'a str,
    pub ci_run_id: &'a str,
    pub app_commit: &'a str,
    pub author: &'a str,
    pub title: &'a str,
    pub images: &'a serde_json::Value,
    pub proposal_branch: &'a str,
    pub head_commit: &'a str,
    pub base_commit: &'a str,
    pub summary: &'a serde_json::Value,
    pub risks: &'a serde_json::Value,
    pub diff: &'a str,
}

/// Opens a change request and supersedes the open ones of the same app and environment,
/// in one transaction: there is never more than one open request per app and environment.
pub async fn open(db: &Db, c: NewChange<'_>) -> Result<()> {
    let now = now_text();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE change_requests SET state = 'superseded', superseded_by = $1, updated_at = $2
         WHERE app_id = $3 AND environment_id = $4 AND state IN ('open', 'approved')",
    )
    .bind(c.id)
    .bind(&now)
    .bind(c.app_id)
    .bind(c.environment_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO change_requests (id, app_id, environment_id, cd_run_id, ci_run_id, app_commit,
             author, title, images, proposal_branch, head_commit, base_commit, state, summary,
             risks, diff, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $14, $15, $16, $17)",
    )
    .bind(c.id)
    .bind(c.app_id)
    .bind(c.environment_id)
    .bind(c.cd_run_id)
    .bind(c.ci_run_id)
    .bind(c.app_commit)
    .bind(c.author)
    .bind(c.title)
    .bind(c.images.to_string())
    .bind(c.proposal_branch)
    .bind(c.head_commit)
    .bind(c.base_commit)
    .bind(c.summary.to_string())
    .bind(c.risks.to_string())
    .bind(c.diff)
    .bind(&now)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
