//! Pipeline runs as stored: the run, its steps, its log lines and its artifacts.

use anyhow::{Context, Result};
use fluxgate_core::db::{new_id, now_text, Db};
use fluxgate_core::live::announce;
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pr,
    Ci,
    Cd,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pr => "pr",
            Kind::Ci => "ci",
            Kind::Cd => "cd",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub id: String,
    pub app_id: String,
    pub kind: String,
    pub commit_sha: String,
    pub branch: String,
    pub author: String,
    pub message: String,
    pub image_tag: String,
    pub parent_run_id: Option<String>,
    pub state: String,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// See `RunRow::sandbox`.
    pub sandbox: String,
    pub secrets_given: Vec<String>,
}

const COLUMNS: &str = "id, app_id, kind, commit_sha, branch, author, message, image_tag, \
                       parent_run_id, state, error, created_at, started_at, finished_at, \
                       sandbox, secrets_given";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Run> {
    Ok(Run {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        kind: r.try_get("kind")?,
        commit_sha: r.try_get("commit_sha")?,
        branch: r.try_get("branch")?,
        author: r.try_get("author")?,
        message: r.try_get("message")?,
        image_tag: r.try_get("image_tag")?,
        parent_run_id: r.try_get("parent_run_id")?,
        state: r.try_get("state")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        sandbox: r.try_get("sandbox")?,
        secrets_given: names(&r.try_get::<String, _>("secrets_given")?),
    })
}

/// The stored comma-separated list of secret names (names are `[A-Za-z0-9_]`).
pub fn names(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// Records how a run's steps are isolated and which secrets (by name) they receive,
/// before the first step starts.
pub async fn set_isolation(db: &Db, id: &str, sandbox: &str, secrets: &[String]) -> Result<()> {
    sqlx::query("UPDATE runs SET sandbox = $2, secrets_given = $3 WHERE id = $1")
        .bind(id)
        .bind(sandbox)
        .bind(secrets.join(","))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The image tag convention: `<branch>-<short sha>`, with characters a tag cannot hold
/// replaced by `-` (`feature/x` → `feature-x-1a2b3c4`).
pub fn image_tag(branch: &str, sha: &str) -> String {
    let clean: String = branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_start_matches(['.', '-']);
    let short = &sha[..sha.len().min(7)];
    let mut tag = format!("{clean}-{short}");
    if tag.len() > 128 {
        tag = format!("{}-{short}", &clean[..120]);
    }
    tag
}

pub struct NewRun<'a> {
    pub app_id: &'a str,
    pub kind: Kind,
    pub commit_sha: &'a str,
    pub branch: &'a str,
    pub author: &'a str,
    pub message: &'a str,
    pub parent_run_id: Option<&'a str>,
}

/// Creates a queued run. Returns None when this app already has a run of this kind for
/// this commit and branch (seeing a head twice starts nothing).
pub async fn create(db: &Db, new: NewRun<'_>) -> Result<Option<String>> {
    let id = new_id();
    let done = sqlx::query(
        "INSERT INTO runs (id, app_id, kind, commit_sha, branch, author, message, image_tag,
                           parent_run_id, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10)
         ON CONFLICT (app_id, kind, commit_sha, branch) DO NOTHING",
    )
    .bind(&id)
    .bind(new.app_id)
    .bind(new.kind.as_str())
    .bind(new.commit_sha)
    .bind(new.branch)
    .bind(new.author)
    .bind(new.message)
    .bind(image_tag(new.branch, new.commit_sha))
    .bind(new.parent_run_id)
    .bind(now_text())
    .execute(&db.pool)
    .await
    .context("creating a run")?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    announce(db, &format!("run:{id}")).await;
    Ok(Some(id))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Run>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM runs WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The run of this kind for this app, commit and branch.
pub async fn find(
    db: &Db,
    app_id: &str,
    kind: Kind,
    sha: &str,
    branch: &str,
) -> Result<Option<Run>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM runs WHERE app_id = $1 AND kind = $2 AND commit_sha = $3 AND branch = $4"
    ))
    .bind(app_id)
    .bind(kind.as_str())
    .bind(sha)
    .bind(branch)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The newest runs first, optionally of one app.
pub async fn list(db: &Db, app_id: Option<&str>, limit: i64) -> Result<Vec<Run>> {
    let rows = match app_id {
        Some(app) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM runs WHERE app_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(app)
            .bind(limit)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&db.pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Moves a run to `running`; false when it was not queued (already taken or finished).
pub async fn start(db: &Db, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE runs SET state = 'running', started_at = $1 WHERE id = $2 AND state = 'queued'",
    )
    .bind(now_text())
    .bind(id)
    .execute(&db.pool)
    .await?;
    let started = done.rows_affected() == 1;
    if started {
        announce(db, &format!("run:{id}")).await;
    }
    Ok(started)
}

/// Sets a run's state; `finished` states also get their finish time.
pub async fn set_state(db: &Db, id: &str, state: &str, error: Option<&str>) -> Result<()> {
    let finished = matches!(state, "succeeded" | "failed" | "interrupted");
    sqlx::query(
        "UPDATE runs SET state = $1, error = $2,
                finished_at = CASE WHEN $3 = 1 THEN $4 ELSE finished_at END
         WHERE id = $5",
    )
    .bind(state)
    .bind(error)
    .bind(finished as i64)
    .bind(now_text())
    .bind(id)
    .execute(&db.pool)
    .await?;
    announce(db, &format!("run:{id}")).await;
    Ok(())
}

/// Marks a run cut off (its worker died): running and pending steps say so too.
pub async fn interrupt(db: &Db, id: &str, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE run_steps SET state = CASE WHEN state = 'running' THEN 'interrupted' ELSE 'skipped' END
         WHERE run_id = $1 AND state IN ('running', 'pending')",
    )
    .bind(id)
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "UPDATE runs SET state = 'interrupted', error = $1, finished_at = $2
         WHERE id = $3 AND state IN ('queued', 'running', 'waiting')",
    )
    .bind(reason)
    .bind(now_text())
    .bind(id)
    .execute(&db.pool)
    .await?;
    announce(db, &format!("run:{id}")).await;
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub position: i64,
    pub name: String,
    pub action: String,
    pub state: String,
    pub exit_code: Option<i64>,
    pub outputs: serde_json::Value,
    pub lines_dropped: i64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
}

/// Records the planned steps of a run (all pending), replacing any earlier plan.
pub async fn plan_steps(db: &Db, run_id: &str, steps: &[(String, String)]) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM run_steps WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    for (i, (name, action)) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_steps (run_id, position, name, action, state) VALUES ($1, $2, $3, $4, 'pending')",
        )
        .bind(run_id)
        .bind(i as i64)
        .bind(name)
        .bind(action)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Adds a step at the end of a run (or finds it again by name, for a retried job) and
/// returns its position. The CD run grows one step per environment it proposes to.
pub async fn add_step(db: &Db, run_id: &str, name: &str, action: &str) -> Result<i64> {
    let existing: Option<(i64,)> =
        sqlx::query_as("SELECT position FROM run_steps WHERE run_id = $1 AND name = $2")
            .bind(run_id)
            .bind(name)
            .fetch_optional(&db.pool)
            .await?;
    if let Some((position,)) = existing {
        return Ok(position);
    }
    let (next,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(position) + 1, 0) FROM run_steps WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&db.pool)
            .await?;
    sqlx::query(
        "INSERT INTO run_steps (run_id, position, name, action, state) VALUES ($1, $2, $3, $4, 'pending')",
    )
    .bind(run_id)
    .bind(next)
    .bind(name)
    .bind(action)
    .execute(&db.pool)
    .await?;
    Ok(next)
}

pub async fn step_started(db: &Db, run_id: &str, position: i64) -> Result<()> {
    sqlx::query("UPDATE run_steps SET state = 'running', started_at = $1 WHERE run_id = $2 AND position = $3")
        .bind(now_text())
        .bind(run_id)
        .bind(position)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The end of a step.
pub struct StepEnd<'a> {
    pub state: &'a str,
    pub exit_code: Option<i64>,
    pub outputs: &'a serde_json::Value,
    pub lines_dropped: i64,
    pub duration_ms: i64,
}

pub async fn step_finished(db: &Db, run_id: &str, position: i64, end: StepEnd<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE run_steps SET state = $1, exit_code = $2, outputs = $3, lines_dropped = $4,
                duration_ms = $5, finished_at = $6
         WHERE run_id = $7 AND position = $8",
    )
    .bind(end.state)
    .bind(end.exit_code)
    .bind(end.outputs.to_string())
    .bind(end.lines_dropped)
    .bind(end.duration_ms)
    .bind(now_text())
    .bind(run_id)
    .bind(position)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Steps still pending after a failure are skipped.
pub async fn skip_pending(db: &Db, run_id: &str) -> Result<()> {
    sqlx::query("UPDATE run_steps SET state = 'skipped' WHERE run_id = $1 AND state = 'pending'")
        .bind(run_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn steps(db: &Db, run_id: &str) -> Result<Vec<Step>> {
    let rows = sqlx::query(
        "SELECT position, name, action, state, exit_code, outputs, lines_dropped, started_at,
                finished_at, duration_ms
         FROM run_steps WHERE run_id = $1 ORDER BY position",
    )
    .bind(run_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let outputs: String = r.try_get("outputs")?;
            Ok(Step {
                position: r.try_get("position")?,
                name: r.try_get("name")?,
                action: r.try_get("action")?,
                state: r.try_get("state")?,
                exit_code: r.try_get("exit_code")?,
                outputs: fluxgate_core::db::decode_json("outputs of a step", &outputs)?,
                lines_dropped: r.try_get("lines_dropped")?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                duration_ms: r.try_get("duration_ms")?,
            })
        })
        .collect()
}

/// All outputs of a run's finished steps, later steps winning.
pub async fn outputs(db: &Db, run_id: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut all = serde_json::Map::new();
    for step in steps(db, run_id).await? {
        if let serde_json::Value::Object(m) = step.outputs {
            all.extend(m);
        }
    }
    Ok(all)
}

pub async fn put_artifacts(db: &Db, run_id: &str, files: &[(String, String)]) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM run_artifacts WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    for (path, content) in files {
        sqlx::query("INSERT INTO run_artifacts (run_id, path, content) VALUES ($1, $2, $3)")
            .bind(run_id)
            .bind(path)
            .bind(content)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn artifacts(db: &Db, run_id: &str) -> Result<Vec<(String, String)>> {
    let rows =
        sqlx::query("SELECT path, content FROM run_artifacts WHERE run_id = $1 ORDER BY path")
            .bind(run_id)
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("path")?, r.try_get("content")?)))
        .collect()
}

/// One stored log line.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub step: i64,
    pub stream: String,
    pub line: String,
}

/// Log lines with `seq` greater than `after`, oldest first.
pub async fn logs(db: &Db, run_id: &str, after: i64, limit: i64) -> Result<Vec<LogLine>> {
    let rows = sqlx::query(
        "SELECT seq, step, stream, line FROM run_logs WHERE run_id = $1 AND seq > $2
         ORDER BY seq LIMIT $3",
    )
    .bind(run_id)
    .bind(after)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LogLine {
                seq: r.try_get("seq")?,
                step: r.try_get("step")?,
                stream: r.try_get("stream")?,
                line: r.try_get("line")?,
            })
        })
        .collect()
}

/// Appends lines to a run's log in one transaction; `next_seq` is the first seq to use.
pub async fn append_logs(
    db: &Db,
    run_id: &str,
    next_seq: i64,
    lines: &[(i64, &str, String)],
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut tx = db.pool.begin().await?;
    for (i, (step, stream, line)) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO run_logs (run_id, seq, step, stream, line) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_id)
        .bind(next_seq + i as i64)
        .bind(step)
        .bind(*stream)
        .bind(line)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The next free log seq of a run (a retried run goes on after what is stored).
pub async fn next_log_seq(db: &Db, run_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS m FROM run_logs WHERE run_id = $1")
        .bind(run_id)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get::<i64, _>("m")? + 1)
}
