//! Merging a change into its environment branch (server only).
//!
//! The environment branch moves from the change's base commit to its head commit with a
//! compare-and-swap on the ref, so what lands is byte for byte what was approved (the
//! approvals are bound to that head), and of two merges at the same moment exactly one
//! moves the branch. If the branch moved since the change was proposed, nothing merges:
//! the change is queued to be re-rendered on the new base, which gives it a new head and
//! so dismisses the approvals given so far.

use super::{review, store, ChangeRequest};
use crate::audit::ssr as audit;
use crate::auth::SignedInUser;
use crate::error::AppError;
use crate::git::remote::{self, GitopsRemote, PushError};
use fluxgate_core::db::{new_id, now_text, Db};
use fluxgate_core::jobs::{self, Kind, NewJob};
use git2::{Oid, Repository};
use sqlx::Row;
use std::path::PathBuf;

/// Where the hosted GitOps repository is (recorded in settings at startup).
pub async fn gitops_path(db: &Db) -> Result<PathBuf, AppError> {
    recorded_gitops_path(db)
        .await?
        .ok_or_else(|| AppError::internal("the GitOps repository path is not configured"))
}

/// The recorded GitOps repository path, `None` before any process recorded one.
pub async fn recorded_gitops_path(db: &Db) -> Result<Option<PathBuf>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM settings WHERE key = 'gitops.repo_path'")
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(p,)| PathBuf::from(p)))
}

async fn env_branch(db: &Db, change_id: &str) -> Result<(String, String), AppError> {
    let row = sqlx::query(
        "SELECT e.id, e.branch FROM environments e JOIN change_requests c ON c.environment_id = e.id WHERE c.id = $1",
    )
    .bind(change_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("id")?, row.try_get("branch")?))
}

enum GitOutcome {
    /// The branch now points at the head (by us or by an earlier attempt).
    AtHead,
    /// The branch is somewhere else than the change's base.
    BaseMoved(String),
    /// The GitOps remote could not be read or written; nothing moved.
    RemoteFailed(String),
}

/// Merges as `user` after checking the policy. Returns a sentence for the user.
pub async fn merge(db: &Db, id: &str, user: &SignedInUser) -> Result<String, AppError> {
    merge_as(db, id, &user.name).await
}

/// A merge claims its change first (`merging_since`), so that a supersede, a re-render
/// or a review arriving while the branch moves finds the change taken and leaves it alone;
/// a claim left behind by a process that died mid-merge may be taken again after this long.
const STALE_CLAIM: time::Duration = time::Duration::minutes(5);

/// Merges on behalf of `actor` (a user, or `fluxgate` for auto-promoting environments).
///
/// The ref move is between the claim and `finalize`, so what a merge does happens whole:
/// either the change is merged with its deployment row, audit entry and Receiver poke, or
/// the branch did not move and the claim is given back.
pub async fn merge_as(db: &Db, id: &str, actor: &str) -> Result<String, AppError> {
    let change = store::get(db, id)
        .await?
        .ok_or_else(|| AppError::NotFound("change request".into()))?;
    if change.state.is_merged() {
        return Err(AppError::Invalid("this change is already merged".into()));
    }
    let claim = claim(db, &change, actor).await?;
    // Read again under the claim: what is checked is what merges.
    let result = match store::get(db, id).await {
        Ok(Some(claimed)) => merge_claimed(db, &claimed, &claim, actor).await,
        Ok(None) => Err(AppError::NotFound("change request".into())),
        Err(e) => Err(e),
    };
    if result.is_err() {
        release(db, id, &claim).await?;
    }
    result
}

/// Takes the change for this merge; returns the claim (its token):
/// `<time>#<id>#<process>#<actor>`, so that a claim left by a process that died can be
/// told (`crate::identity`) and its merge finished on behalf of whoever asked for it.
async fn claim(db: &Db, change: &ChangeRequest, actor: &str) -> Result<String, AppError> {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(AppError::internal)?;
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .map_err(AppError::internal)
    };
    // The id makes two claims of the same second distinct tokens.
    let token = format!(
        "{}#{}#{}#{actor}",
        rfc(now)?,
        new_id(),
        crate::identity::current()
    );
    let stale = rfc(now - STALE_CLAIM)?;
    let held: Option<(Option<String>,)> =
        sqlx::query_as("SELECT merging_since FROM change_requests WHERE id = $1")
            .bind(&change.id)
            .fetch_optional(&db.pool)
            .await?;
    // A claim of a process that is gone is taken over (only that very claim).
    let abandoned = match held {
        Some((Some(old),)) if claim_process_is_gone(&old) => Some(old),
        _ => None,
    };
    let taken = match abandoned.as_deref() {
        Some(old) => sqlx::query(
            "UPDATE change_requests SET merging_since = $1
             WHERE id = $2 AND state IN ('open', 'approved') AND merging_since = $3",
        )
        .bind(&token)
        .bind(&change.id)
        .bind(old),
        None => sqlx::query(
            "UPDATE change_requests SET merging_since = $1
             WHERE id = $2 AND state IN ('open', 'approved')
               AND (merging_since IS NULL OR merging_since < $3)",
        )
        .bind(&token)
        .bind(&change.id)
        .bind(&stale),
    }
    .execute(&db.pool)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(token);
    }
    let now = store::get(db, &change.id).await?;
    Err(AppError::Invalid(match now {
        Some(c) if c.state.is_merged() => "this change is already merged".into(),
        Some(c) if c.merging => "this change is being merged right now".into(),
        Some(c) => format!("this change is {}; only open changes merge", c.state),
        None => "this change is gone".into(),
    }))
}

/// The parts of a claim token: (process, actor); `None` for tokens from before they
/// named them.
fn claim_parts(token: &str) -> Option<(&str, &str)> {
    let mut parts = token.splitn(4, '#');
    let (_, _, process, actor) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some((process, actor))
}

fn claim_process_is_gone(token: &str) -> bool {
    claim_parts(token).is_some_and(|(process, _)| crate::identity::is_gone(process))
}

/// Finishes the merges whose process died holding the claim (a restart after a crash
/// between moving the branch and recording the merge): each is merged again on behalf of
/// whoever asked for it, which records a branch already at the head, or moves it if it had
/// not moved yet; a claim of a process on another machine waits out [`STALE_CLAIM`].
/// Returns how many were finished.
pub async fn finish_abandoned(db: &Db) -> Result<usize, AppError> {
    let stale = (time::OffsetDateTime::now_utc() - STALE_CLAIM)
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(AppError::internal)?;
    let held: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, merging_since FROM change_requests
         WHERE merging_since IS NOT NULL AND state IN ('open', 'approved')",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut finished = 0;
    for (id, token) in held {
        if !(claim_process_is_gone(&token) || token.as_str() < stale.as_str()) {
            continue;
        }
        let actor = claim_parts(&token).map_or("fluxgate", |(_, actor)| actor);
        match merge_as(db, &id, actor).await {
            Ok(_) => {
                tracing::warn!(change = %id, %actor, "finished a merge its process left unrecorded");
                finished += 1;
            }
            Err(e) => {
                tracing::warn!(change = %id, error = %e, "an abandoned merge was not finished")
            }
        }
    }
    Ok(finished)
}

/// Gives a claim back (the merge did not happen).
async fn release(db: &Db, id: &str, claim: &str) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE change_requests SET merging_since = NULL WHERE id = $1 AND merging_since = $2",
    )
    .bind(id)
    .bind(claim)
    .execute(&db.pool)
    .await?;
    Ok(())
}

async fn merge_claimed(
    db: &Db,
    change: &ChangeRequest,
    claim: &str,
    actor: &str,
) -> Result<String, AppError> {
    let id = change.id.as_str();
    let (_, verdict) = review::verdict(db, change).await?;
    if !verdict.can_merge {
        return Err(AppError::Forbidden(format!(
            "the policy does not allow merging yet: {}",
            verdict.summary()
        )));
    }
    let (env_id, branch) = env_branch(db, id).await?;
    let path = gitops_path(db).await?;
    let remote = crate::git::remote::load(db)
        .await
        .map_err(AppError::internal)?;
    let (head, base, b) = (
        change.head_commit.clone(),
        change.base_commit.clone(),
        branch.clone(),
    );
    let outcome =
        tokio::task::spawn_blocking(move || move_branch(&path, remote.as_ref(), &b, &base, &head))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
    match outcome {
        GitOutcome::BaseMoved(now) => {
            // Given back first: the re-render leaves a claimed change alone.
            release(db, id, claim).await?;
            request_rebase(db, id).await?;
            Err(AppError::Invalid(format!(
                "{branch} moved since this change was proposed (it is at {} now, the change was made on {}): \
                 it is being re-rendered on the new base, and approvals must be given again",
                &now[..7.min(now.len())],
                change.base_commit.get(..7).unwrap_or(&change.base_commit)
            )))
        }
        GitOutcome::RemoteFailed(why) => Err(AppError::Invalid(format!(
            "{why}; nothing was merged, try again"
        ))),
        GitOutcome::AtHead => finalize(db, change, claim, &env_id, &branch, actor).await,
    }
}

/// Fast-forwards `branch` from `base` to `head`, atomically (with a GitOps remote: on the
/// remote too, where a branch moved by someone else counts as a moved base).
fn move_branch(
    path: &std::path::Path,
    remote: Option<&GitopsRemote>,
    branch: &str,
    base: &str,
    head: &str,
) -> anyhow::Result<GitOutcome> {
    let repo = Repository::open_bare(path)?;
    let refname = format!("refs/heads/{branch}");
    let (base, head) = (Oid::from_str(base)?, Oid::from_str(head)?);
    if let Some(remote) = remote {
        if let Err(e) = remote::pull_branch(&repo, remote, branch) {
            return Ok(GitOutcome::RemoteFailed(format!("{e:#}")));
        }
    }
    let current = repo.find_reference(&refname)?.target();
    if current == Some(head) {
        return Ok(GitOutcome::AtHead);
    }
    if current != Some(base) {
        return Ok(GitOutcome::BaseMoved(
            current.map(|o| o.to_string()).unwrap_or_default(),
        ));
    }
    let moved = repo
        .reference_matching(
            &refname,
            head,
            true,
            base,
            "fluxgate: merge approved change",
        )
        .map(|_| ());
    match moved {
        Ok(()) => match remote::publish(&repo, remote, branch, Some(base), head) {
            Ok(()) => Ok(GitOutcome::AtHead),
            Err(PushError::Moved { now }) => Ok(GitOutcome::BaseMoved(
                now.map(|o| o.to_string()).unwrap_or_default(),
            )),
            Err(e) => Ok(GitOutcome::RemoteFailed(e.to_string())),
        },
        // Someone moved it between our read and our write: look again.
        Err(e) if e.code() == git2::ErrorCode::Modified || e.code() == git2::ErrorCode::Locked => {
            let now = repo.find_reference(&refname)?.target();
            if now == Some(head) {
                Ok(GitOutcome::AtHead)
            } else {
                Ok(GitOutcome::BaseMoved(
                    now.map(|o| o.to_string()).unwrap_or_default(),
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Records the merge in one transaction (state, deployment row, Receiver poke and audit
/// entry): of concurrent callers, one finds the change still claimed.
async fn finalize(
    db: &Db,
    change: &ChangeRequest,
    claim: &str,
    env_id: &str,
    branch: &str,
    actor: &str,
) -> Result<String, AppError> {
    let now = now_text();
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE change_requests SET state = 'merged', updated_at = $1, merging_since = NULL
         WHERE id = $2 AND merging_since = $3 AND state IN ('open', 'approved')",
    )
    .bind(&now)
    .bind(&change.id)
    .bind(claim)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(AppError::Invalid("this change is already merged".into()));
    }
    let app_id: String = sqlx::query("SELECT app_id FROM change_requests WHERE id = $1")
        .bind(&change.id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("app_id")?;
    sqlx::query(
        "INSERT INTO deployments (id, app_id, environment_id, change_id, gitops_commit, app_commit, images, merged_by, merged_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(&app_id)
    .bind(env_id)
    .bind(&change.id)
    .bind(&change.head_commit)
    .bind(&change.app_commit)
    .bind(serde_json::to_string(&change.images).map_err(AppError::internal)?)
    .bind(actor)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    // Tell Flux now rather than at its next poll (the runner posts to the cluster's Receiver).
    jobs::enqueue_in(
        &mut tx,
        NewJob::new(Kind::Poke, serde_json::json!({ "change_id": change.id }))
            .dedup(format!("poke:{}", change.id))
            .attempts(3),
    )
    .await
    .map_err(AppError::internal)?;
    audit::append_in(
        &mut tx,
        db.backend,
        actor,
        "change.merge",
        &format!("change:{}", change.id),
        serde_json::json!({ "head": change.head_commit, "branch": branch, "app": change.app, "environment": change.environment }),
    )
    .await?;
    tx.commit().await?;
    db.workers.wake();
    crate::dashboard::ssr::invalidate();
    Ok(format!(
        "Merged into {branch} at {}.",
        &change.head_commit[..7]
    ))
}

/// Queues the re-render of a change on its environment branch's new head (the runner does
/// it; see `server/src/cd`).
pub async fn request_rebase(db: &Db, id: &str) -> Result<(), AppError> {
    jobs::enqueue(
        db,
        NewJob::new(Kind::Rebase, serde_json::json!({ "change_id": id }))
            .dedup(format!("rebase:{id}")),
    )
    .await
    .map_err(AppError::internal)?;
    Ok(())
}

/// The templates and values diff of a change (what the developer and the values changed),
/// as a unified patch, from the GitOps repository.
pub async fn source_diff(db: &Db, id: &str) -> Result<String, AppError> {
    let change = store::get(db, id)
        .await?
        .ok_or_else(|| AppError::NotFound("change request".into()))?;
    let path = gitops_path(db).await?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let repo = Repository::open_bare(path)?;
        let base = repo
            .find_commit(Oid::from_str(&change.base_commit)?)?
            .tree()?;
        let head = repo
            .find_commit(Oid::from_str(&change.head_commit)?)?
            .tree()?;
        let mut options = git2::DiffOptions::new();
        options
            .pathspec(format!("apps/{}/templates", change.app))
            .pathspec(format!("apps/{}/values.yaml", change.app))
            .context_lines(3);
        let diff = repo.diff_tree_to_tree(Some(&base), Some(&head), Some(&mut options))?;
        let mut out = String::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            let prefix = match line.origin() {
                '+' | '-' | ' ' => line.origin().to_string(),
                _ => String::new(),
            };
            out.push_str(&prefix);
            out.push_str(&String::from_utf8_lossy(line.content()));
            true
        })?;
        Ok(out)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)
}
