//! Promotion integrity: a commit goes on to an environment only as it fared in the ones
//! before it. A change whose app commit an earlier environment never got, saw fail, has
//! not verified, or rolled back is blocked, and says why (naming the rollback's change).
//!
//! Judged from the deployments at the moment of asking (the page and the merge both ask),
//! so rolling back staging blocks the open prod change of the rolled-back commit at once.
//! Rollback changes themselves are exempt: restoring a known state must never wait for the
//! environments before it.

use super::ChangeRequest;
use crate::error::AppError;
use fluxgate_core::db::Db;
use sqlx::Row;

/// A deployment of the change's app in an environment before the change's.
struct Upstream {
    env: String,
    commit: String,
    state: String,
    verified: bool,
    /// The change it merged, and whether that change was a rollback.
    change: String,
    rollback: bool,
}

/// Why the change may not go on yet; empty when every earlier environment verified its
/// commit and still runs it (or moved on to another commit without rolling back).
pub async fn faults(db: &Db, change: &ChangeRequest) -> Result<Vec<String>, AppError> {
    // One query: a row per earlier environment and deployment there, each also carrying
    // the branch of this change's own CD run (a rollback's is marked `rollback/…`).
    let rows = sqlx::query(
        "SELECT e.name AS env, d.app_commit, d.state, d.verified_at, d.change_id,
                r.branch AS cd_branch, own.branch AS own_branch
         FROM change_requests c
         JOIN runs own ON own.id = c.cd_run_id
         JOIN environments me ON me.id = c.environment_id
         JOIN environments e ON e.position < me.position
         LEFT JOIN deployments d ON d.environment_id = e.id AND d.app_id = c.app_id
         LEFT JOIN change_requests dc ON dc.id = d.change_id
         LEFT JOIN runs r ON r.id = dc.cd_run_id
         WHERE c.id = $1
         ORDER BY e.position, d.merged_at, d.id",
    )
    .bind(&change.id)
    .fetch_all(&db.pool)
    .await?;
    if let Some(first) = rows.first() {
        if first
            .try_get::<String, _>("own_branch")?
            .starts_with("rollback/")
        {
            return Ok(Vec::new());
        }
    }
    // Per earlier environment, its deployments oldest first.
    let mut envs: Vec<(String, Vec<Upstream>)> = Vec::new();
    for r in &rows {
        let env: String = r.try_get("env")?;
        if envs.last().is_none_or(|(e, _)| *e != env) {
            envs.push((env.clone(), Vec::new()));
        }
        let Some(commit) = r.try_get::<Option<String>, _>("app_commit")? else {
            continue;
        };
        envs.last_mut().expect("pushed above").1.push(Upstream {
            env,
            commit,
            state: r.try_get::<Option<String>, _>("state")?.unwrap_or_default(),
            verified: r.try_get::<Option<String>, _>("verified_at")?.is_some(),
            change: r
                .try_get::<Option<String>, _>("change_id")?
                .unwrap_or_default(),
            rollback: r
                .try_get::<Option<String>, _>("cd_branch")?
                .is_some_and(|b| b.starts_with("rollback/")),
        });
    }
    let short = change.short_commit();
    let mut faults = Vec::new();
    for (env, deployments) in &envs {
        let Some(at) = deployments
            .iter()
            .rposition(|d| d.commit == change.app_commit)
        else {
            faults.push(format!("commit {short} was never deployed to {env}"));
            continue;
        };
        let mine = &deployments[at];
        if mine.state == "failed" {
            faults.push(format!("commit {short} failed in {}", mine.env));
        } else if !mine.verified {
            faults.push(format!(
                "commit {short} is not verified in {} yet",
                mine.env
            ));
        }
        if let Some(back) = deployments[at + 1..]
            .iter()
            .rev()
            .find(|d| d.rollback && d.commit != change.app_commit)
        {
            faults.push(format!(
                "{} was rolled back from commit {short} to {} (change {})",
                back.env,
                &back.commit[..7.min(back.commit.len())],
                back.change
            ));
        }
    }
    Ok(faults)
}

/// The change the same CD run opened for the next environment after this change's, once
/// there is one: (id, environment name).
pub async fn next(db: &Db, id: &str) -> Result<Option<(String, String)>, AppError> {
    let row = sqlx::query(
        "SELECT c.id, e.name FROM change_requests me
         JOIN environments mine ON mine.id = me.environment_id
         JOIN change_requests c ON c.cd_run_id = me.cd_run_id
         JOIN environments e ON e.id = c.environment_id
         WHERE me.id = $1 AND e.position > mine.position
         ORDER BY e.position, c.id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("id")?, r.try_get("name")?)),
        None => None,
    })
}

/// A rollback in an environment away from `commit`, merged after the deployment
/// `(since_at, since_id)` (times are whole seconds, so the id orders merges of one second,
/// as `faults` does): the first one, as (the commit it went back to, its change id, when).
pub async fn rolled_back_from(
    db: &Db,
    app_id: &str,
    env_id: &str,
    commit: &str,
    (since_at, since_id): (&str, &str),
) -> Result<Option<(String, String, String)>, AppError> {
    let row = sqlx::query(
        "SELECT d.app_commit, d.change_id, d.merged_at FROM deployments d
         JOIN change_requests c ON c.id = d.change_id
         JOIN runs r ON r.id = c.cd_run_id
         WHERE d.app_id = $1 AND d.environment_id = $2
           AND (d.merged_at > $3 OR (d.merged_at = $3 AND d.id > $5))
           AND d.app_commit <> $4 AND r.branch LIKE 'rollback/%'
         ORDER BY d.merged_at, d.id LIMIT 1",
    )
    .bind(app_id)
    .bind(env_id)
    .bind(since_at)
    .bind(commit)
    .bind(since_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        Some(r) => Some((
            r.try_get("app_commit")?,
            r.try_get("change_id")?,
            r.try_get("merged_at")?,
        )),
        None => None,
    })
}
