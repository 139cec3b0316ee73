//! Polling application repositories: fetch, compare branch heads with what was seen, and
//! start a run for each new head (CI on the default branch, PR elsewhere).

use super::{JobError, Runner};
use crate::apps;
use crate::repos::{lock::with_repo_lock, mirror};
use crate::runs::{self, Kind, NewRun};
use anyhow::{Context, Result};
use fluxgate_core::db::{now_text, Db};
use fluxgate_core::jobs::{self, NewJob};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest wait between polls of a repository that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Enqueues a poll for each app whose next poll is due; returns how many were enqueued.
pub async fn enqueue_due(r: &Runner) -> Result<usize> {
    let now = now_text();
    let rows = sqlx::query(
        "SELECT a.id FROM apps a LEFT JOIN app_repo_state s ON s.app_id = a.id
         WHERE s.next_poll_at IS NULL OR s.next_poll_at <= $1",
    )
    .bind(&now)
    .fetch_all(&r.db.pool)
    .await?;
    let mut n = 0;
    for row in rows {
        let app_id: String = row.try_get("id")?;
        // Push the next poll out first, so the scheduler does not enqueue it every second
        // while this one waits or runs.
        set_next_poll(&r.db, &app_id, r.config.poll_interval).await?;
        if request(&r.db, &app_id).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Asks for a poll of `app_id` now (the webhook does this). False when one already waits.
pub async fn request(db: &Db, app_id: &str) -> Result<bool> {
    jobs::enqueue(
        db,
        NewJob::new(jobs::Kind::Poll, serde_json::json!({ "app_id": app_id }))
            .dedup(format!("poll:{app_id}"))
            .attempts(1),
    )
    .await
}

async fn set_next_poll(db: &Db, app_id: &str, after: Duration) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_repo_state (app_id, next_poll_at) VALUES ($1, $2)
         ON CONFLICT (app_id) DO UPDATE SET next_poll_at = $2",
    )
    .bind(app_id)
    .bind(jobs::time_after(after))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The `poll` job. A repository that cannot be fetched is not a failed job: the error is
/// stored on the app (shown to users) and the next poll backs off.
pub async fn poll(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let app_id = payload["app_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("poll job without app_id"))?;
    let Some(app) = apps::get(&r.db, app_id).await? else {
        return Ok(()); // deleted since
    };
    let mirror_path = apps::mirror_path(&r.config.data_dir, &app);
    let url = app.repo_url.clone();
    let creds = crate::repos::credentials::get(&r.db, app_id).await?;
    let fetched = {
        let path = mirror_path.clone();
        tokio::task::spawn_blocking(move || {
            with_repo_lock(&path, || mirror::fetch(&path, &url, creds.as_ref()))
        })
        .await
        .map_err(JobError::retry)?
    };
    let heads = match fetched {
        Ok(heads) => heads,
        Err(e) => {
            let message = format!("{e:#}");
            tracing::warn!(app = %app.name, error = %message, "fetching the repository failed");
            record_failure(r, app_id, &message).await?;
            return Ok(());
        }
    };
    sqlx::query(
        "INSERT INTO app_repo_state (app_id, last_polled_at, last_error, failures, next_poll_at)
         VALUES ($1, $2, NULL, 0, $3)
         ON CONFLICT (app_id) DO UPDATE SET last_polled_at = $2, last_error = NULL, failures = 0",
    )
    .bind(app_id)
    .bind(now_text())
    .bind(jobs::time_after(r.config.poll_interval))
    .execute(&r.db.pool)
    .await
    .map_err(JobError::retry)?;

    let seen = seen_heads(&r.db, app_id).await?;
    let first_poll = seen.is_empty();
    for head in &heads {
        if seen.get(&head.branch) == Some(&head.sha) {
            continue;
        }
        let is_default = head.branch == app.default_branch;
        // On the very first poll only the default branch runs: registering a repository
        // with fifty old branches must not start fifty PR pipelines.
        if !first_poll || is_default {
            let info = {
                let path = mirror_path.clone();
                let sha = head.sha.clone();
                tokio::task::spawn_blocking(move || mirror::commit_info(&path, &sha))
                    .await
                    .map_err(JobError::retry)??
            };
            let kind = if is_default { Kind::Ci } else { Kind::Pr };
            let created = runs::create(
                &r.db,
                NewRun {
                    app_id,
                    kind,
                    commit_sha: &head.sha,
                    branch: &head.branch,
                    author: &info.author,
                    message: &info.message,
                    parent_run_id: None,
                },
            )
            .await?;
            match created {
                Some(run_id) => {
                    tracing::info!(app = %app.name, branch = %head.branch, sha = %head.sha,
                        kind = kind.as_str(), run = %run_id, "new head: run queued");
                    enqueue_run(&r.db, &run_id).await?;
                }
                // Created by an earlier poll that stopped before recording the head: make
                // sure it has its job (the dedup key keeps it to one).
                None => {
                    let existing = runs::find(&r.db, app_id, kind, &head.sha, &head.branch).await?;
                    if let Some(run) = existing.filter(|run| run.state == "queued") {
                        enqueue_run(&r.db, &run.id).await?;
                    }
                }
            }
        }
        sqlx::query(
            "INSERT INTO app_refs (app_id, branch, sha) VALUES ($1, $2, $3)
             ON CONFLICT (app_id, branch) DO UPDATE SET sha = $3",
        )
        .bind(app_id)
        .bind(&head.branch)
        .bind(&head.sha)
        .execute(&r.db.pool)
        .await
        .map_err(JobError::retry)?;
    }
    // Deleted branches are forgotten, so re-creating one runs it again.
    for branch in seen.keys() {
        if !heads.iter().any(|h| &h.branch == branch) {
            sqlx::query("DELETE FROM app_refs WHERE app_id = $1 AND branch = $2")
                .bind(app_id)
                .bind(branch)
                .execute(&r.db.pool)
                .await
                .map_err(JobError::retry)?;
        }
    }
    Ok(())
}

/// Queues the job that executes a run.
pub async fn enqueue_run(db: &Db, run_id: &str) -> Result<()> {
    // One attempt: steps have side effects, so a run cut off by a crash is marked
    // interrupted (with the reason) rather than silently run twice.
    jobs::enqueue(
        db,
        NewJob::new(jobs::Kind::Run, serde_json::json!({ "run_id": run_id }))
            .dedup(format!("run:{run_id}"))
            .attempts(1),
    )
    .await
    .context("queueing the run")?;
    Ok(())
}

async fn seen_heads(db: &Db, app_id: &str) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT branch, sha FROM app_refs WHERE app_id = $1")
        .bind(app_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("branch")?, r.try_get("sha")?)))
        .collect()
}

async fn record_failure(r: &Runner, app_id: &str, message: &str) -> Result<()> {
    let failures: i64 = sqlx::query("SELECT failures FROM app_repo_state WHERE app_id = $1")
        .bind(app_id)
        .fetch_optional(&r.db.pool)
        .await?
        .map(|row| row.try_get("failures"))
        .transpose()?
        .unwrap_or(0)
        + 1;
    let backoff = r
        .config
        .poll_interval
        .saturating_mul(1 << failures.clamp(0, 6) as u32)
        .min(MAX_BACKOFF);
    sqlx::query(
        "INSERT INTO app_repo_state (app_id, last_polled_at, last_error, failures, next_poll_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (app_id) DO UPDATE
         SET last_polled_at = $2, last_error = $3, failures = $4, next_poll_at = $5",
    )
    .bind(app_id)
    .bind(now_text())
    .bind(message)
    .bind(failures)
    .bind(jobs::time_after(backoff))
    .execute(&r.db.pool)
    .await?;
    Ok(())
}
