//! The CD pipeline: after a green CI run, render the published templates for the first
//! environment in promotion order and open a change request against its branch of the
//! GitOps repository. The CD run then waits (state `waiting`, durably in the database)
//! for approval, merge, Flux and verification (`crate::flux`), which calls
//! [`propose_next`] for the next environment.

mod authors;
mod propose;
mod rebase;
mod rollback;
mod signatures;

pub use rebase::rebase;
pub use rollback::rollback;

pub use propose::{rendered_file_name, Proposal};

use crate::runner::{JobError, Runner};
use crate::runs::{self, Kind, NewRun};
use anyhow::{Context, Result};
use fluxgate_core::db::Db;
use sqlx::Row;
use std::path::{Path, PathBuf};

/// An environment as the CD pipeline needs it.
#[derive(Clone, Debug)]
pub struct Env {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub branch: String,
}

/// Environments in promotion order.
pub async fn environments(db: &Db) -> Result<Vec<Env>> {
    let rows =
        sqlx::query("SELECT id, name, namespace, branch FROM environments ORDER BY position")
            .fetch_all(&db.pool)
            .await?;
    rows.iter()
        .map(|r| {
            Ok(Env {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                namespace: r.try_get("namespace")?,
                branch: r.try_get("branch")?,
            })
        })
        .collect()
}

/// The hosted GitOps repository: the path recorded in settings (the demo records its
/// own), else `repos/gitops.git` in the data directory.
pub async fn gitops_repo_path(db: &Db, data_dir: &Path) -> Result<PathBuf> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = 'gitops.repo_path'")
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(r) => PathBuf::from(r.try_get::<String, _>("value")?),
        None => data_dir.join("repos").join("gitops.git"),
    })
}

/// Records where the hosted GitOps repository is (if not yet recorded), so that every
/// process (web, runners) finds the same one.
pub async fn ensure_gitops_setting(db: &Db, data_dir: &Path) -> Result<PathBuf> {
    let path = gitops_repo_path(db, data_dir).await?;
    sqlx::query("INSERT INTO settings (key, value) VALUES ('gitops.repo_path', $1) ON CONFLICT (key) DO NOTHING")
        .bind(path.to_string_lossy().as_ref())
        .execute(&db.pool)
        .await?;
    Ok(path)
}

/// The `cd` job: creates the CD run of a green CI run (once) and proposes the change to
/// the first environment. Idempotent: a retry finds the run and the change request.
pub async fn start(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let ci_id = payload["ci_run_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("cd job without ci_run_id"))?;
    let ci = runs::get(&r.db, ci_id)
        .await?
        .ok_or_else(|| JobError::fatal(format!("CI run {ci_id} does not exist")))?;
    let cd = cd_run(&r.db, &ci).await?;
    if cd.state != "queued" && cd.state != "running" {
        return Ok(()); // finished or waiting: an earlier attempt got through
    }
    runs::start(&r.db, &cd.id).await?;
    let envs = environments(&r.db).await?;
    let Some(first) = envs.first() else {
        runs::set_state(
            &r.db,
            &cd.id,
            "failed",
            Some("no environments are configured"),
        )
        .await?;
        return Ok(());
    };
    propose_next(r, &ci, &cd, first)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))
}

/// Opens the change request of a CD run for `env` (the first environment, or the next one
/// after a verified deployment) and merges it at once where the environment auto-promotes.
/// Idempotent: a retry finds the change request it opened.
pub async fn propose_next(r: &Runner, ci: &runs::Run, cd: &runs::Run, env: &Env) -> Result<()> {
    match propose::propose(r, ci, cd, env).await {
        Ok(Some(p)) => {
            tracing::info!(change = %p.change_id, env = %env.name, "change request opened");
            runs::set_state(&r.db, &cd.id, "waiting", None).await?;
            // Superseded already (a newer commit's change came first, or came while this
            // run was not yet waiting, which `changes::store::open` leaves to us): nothing
            // will move this run on.
            let change = app::changes::store::get(&r.db, &p.change_id).await?;
            if let Some(by) = change.and_then(|c| c.superseded_by) {
                let why = app::changes::store::superseded_reason(&by);
                runs::interrupt(&r.db, &cd.id, &why).await?;
                return Ok(());
            }
            auto_merge(r, &p.change_id).await;
            Ok(())
        }
        Ok(None) => {
            runs::set_state(&r.db, &cd.id, "succeeded", None).await?;
            Ok(())
        }
        // A problem with the content (templates, values) will not fix itself: fail the run.
        Err(propose::ProposeError::Content(message)) => {
            runs::set_state(&r.db, &cd.id, "failed", Some(&message)).await?;
            Ok(())
        }
        Err(propose::ProposeError::Other(e)) => Err(e),
    }
}

/// Environments marked auto-promote merge at once, as `fluxgate`, when the policy allows
/// (freezes, stop-the-line and risk-triggered reviews still hold; the change then waits).
pub async fn auto_merge(r: &Runner, change_id: &str) {
    let policy = match app::changes::review::policy_of(&r.db, change_id).await {
        Ok(Ok(p)) => p,
        Ok(Err(fault)) => {
            tracing::warn!(%fault, "auto-promote waits");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the policy for auto-promote failed");
            return;
        }
    };
    if !policy.auto_promote {
        return;
    }
    match app::changes::merge::merge_as(&r.db, change_id, "fluxgate").await {
        Ok(message) => tracing::info!(change = %change_id, %message, "auto-promoted"),
        Err(e) => tracing::info!(change = %change_id, reason = %e, "auto-promote waits"),
    }
}

/// The CD run of a CI run, created when missing.
async fn cd_run(db: &Db, ci: &runs::Run) -> Result<runs::Run> {
    runs::create(
        db,
        NewRun {
            app_id: &ci.app_id,
            kind: Kind::Cd,
            commit_sha: &ci.commit_sha,
            branch: &ci.branch,
            author: &ci.author,
            message: &ci.message,
            parent_run_id: Some(&ci.id),
        },
    )
    .await?;
    runs::find(db, &ci.app_id, Kind::Cd, &ci.commit_sha, &ci.branch)
        .await?
        .context("the CD run vanished right after it was created")
}

/// The `cd` job will not run again: its CD run (if made) is marked failed with the reason.
pub async fn gave_up(r: &Runner, payload: &serde_json::Value, reason: &str) -> Result<()> {
    let Some(ci_id) = payload["ci_run_id"].as_str() else {
        return Ok(());
    };
    let Some(ci) = runs::get(&r.db, ci_id).await? else {
        return Ok(());
    };
    if let Some(cd) = runs::find(&r.db, &ci.app_id, Kind::Cd, &ci.commit_sha, &ci.branch).await? {
        if matches!(cd.state.as_str(), "queued" | "running") {
            runs::set_state(&r.db, &cd.id, "failed", Some(reason)).await?;
        }
    }
    Ok(())
}
