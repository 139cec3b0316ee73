//! What an accepted Flux event changes.
//!
//! A Kustomization event names a revision of an environment branch. Every deployment
//! merged into that environment whose GitOps commit the revision contains (the commit
//! itself or an ancestor) is what Flux is talking about: `ReconciliationSucceeded` marks
//! them applied (and queues their verification), a failure reason marks them failed with
//! Flux's message, `Progressing` marks them reconciling. A deployment once applied is not
//! touched again by a later or replayed event, and an identical body is recorded once, so
//! duplicates and replays change nothing.

use super::clusters::{self, Cluster};
use super::event::{self, Event, Outcome};
use anyhow::Result;
use fluxgate_core::db::{new_id, now_text, Db};
use fluxgate_core::jobs::{self, Kind, NewJob};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::path::{Path, PathBuf};

/// What fluxgate did with an event (the webhook's answer, and stored with the event).
#[derive(Debug, serde::Serialize)]
pub struct Ingested {
    pub duplicate: bool,
    pub environment: Option<String>,
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Parse(#[from] event::ParseError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

struct Pending {
    id: String,
    change_id: String,
    gitops_commit: String,
}

/// Records an authenticated event body and applies its effect.
pub async fn ingest(
    db: &Db,
    gitops: &Path,
    cluster: &Cluster,
    body: &[u8],
) -> Result<Ingested, IngestError> {
    let event = event::parse(body)?;
    let body_hash = hex::encode(Sha256::digest(body));
    let seen: Option<(String,)> =
        sqlx::query_as("SELECT outcome FROM flux_events WHERE cluster = $1 AND body_sha256 = $2")
            .bind(&cluster.name)
            .bind(&body_hash)
            .fetch_optional(&db.pool)
            .await
            .map_err(anyhow::Error::from)?;
    if let Some((outcome,)) = seen {
        return Ok(Ingested {
            duplicate: true,
            environment: None,
            outcome: format!("duplicate of an event already recorded ({outcome})"),
        });
    }
    let revision = event.revision();
    let env = if event.involved_object.kind == "Kustomization" {
        clusters::environment_for(
            db,
            cluster,
            &event.object_key(),
            revision.as_ref().and_then(|r| r.branch.as_deref()),
        )
        .await?
    } else {
        None
    };
    let now = now_text();
    let event_time = event
        .timestamp
        .as_deref()
        .and_then(normalize_time)
        .unwrap_or_else(|| now.clone());
    let outcome = event.outcome();

    // Which deployments the revision contains (a git question, asked before the transaction).
    let mut hits: Vec<Pending> = Vec::new();
    let mut note = String::new();
    if let (Some(env), Some(rev), true) = (&env, &revision, outcome != Outcome::Other) {
        let pending = pending_deployments(db, &env.id).await?;
        if !pending.is_empty() {
            let (path, sha) = (gitops.to_path_buf(), rev.sha.clone());
            let contained = tokio::task::spawn_blocking(move || contains(&path, &sha, pending))
                .await
                .map_err(anyhow::Error::from)??;
            match contained {
                Some(list) => hits = list,
                None => note = format!("revision {} is not in the GitOps repository", rev.sha),
            }
        }
    }

    let actor = actor(cluster);
    let mut tx = db.pool.begin().await.map_err(anyhow::Error::from)?;
    let mut changed = Vec::new();
    let flux_message = format!("{}: {}", event.reason, truncate(&event.message, 2000));
    for d in &hits {
        let (n, action) = match outcome {
            Outcome::Applied => (
                sqlx::query("UPDATE deployments SET state = 'applied', applied_at = $1, message = NULL WHERE id = $2 AND applied_at IS NULL")
                    .bind(&now)
                    .bind(&d.id),
                "change.applied",
            ),
            Outcome::Failed => (
                sqlx::query("UPDATE deployments SET state = 'failed', failed_at = $1, message = $2 WHERE id = $3 AND applied_at IS NULL")
                    .bind(&now)
                    .bind(&flux_message)
                    .bind(&d.id),
                "change.flux_failed",
            ),
            Outcome::Reconciling => (
                sqlx::query("UPDATE deployments SET state = 'reconciling' WHERE id = $1 AND state = 'merged'")
                    .bind(&d.id),
                "",
            ),
            Outcome::Other => unreachable!("no deployments are looked for"),
        };
        let n = n
            .execute(&mut *tx)
            .await
            .map_err(anyhow::Error::from)?
            .rows_affected();
        if n != 1 || action.is_empty() {
            continue;
        }
        let change_sql = if outcome == Outcome::Applied {
            "UPDATE change_requests SET state = 'applied', updated_at = $1 WHERE id = $2 AND state IN ('merged', 'failed')"
        } else {
            "UPDATE change_requests SET state = 'failed', updated_at = $1 WHERE id = $2 AND state = 'merged'"
        };
        sqlx::query(change_sql)
            .bind(&now)
            .bind(&d.change_id)
            .execute(&mut *tx)
            .await
            .map_err(anyhow::Error::from)?;
        changed.push((d, action));
        if outcome == Outcome::Applied {
            enqueue_verify(&mut tx, &d.id).await?;
        }
    }
    let env_name = env.as_ref().map(|e| e.name.clone());
    let outcome_text = describe(&event, outcome, env_name.as_deref(), changed.len(), &note);
    if let Some(env) = &env {
        update_status(
            &mut tx,
            &env.id,
            &event,
            revision.as_ref(),
            outcome,
            &event_time,
        )
        .await?;
    }
    let inserted = sqlx::query(
        "INSERT INTO flux_events (id, cluster, body_sha256, involved_kind, involved_name, reason, severity, message,
                                  revision, environment_id, outcome, event_time, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (cluster, body_sha256) DO NOTHING",
    )
    .bind(new_id())
    .bind(&cluster.name)
    .bind(&body_hash)
    .bind(&event.involved_object.kind)
    .bind(event.object_key())
    .bind(&event.reason)
    .bind(&event.severity)
    .bind(truncate(&event.message, 4000))
    .bind(revision.as_ref().map(|r| r.sha.clone()))
    .bind(env.as_ref().map(|e| e.id.clone()))
    .bind(&outcome_text)
    .bind(&event_time)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(anyhow::Error::from)?
    .rows_affected();
    if inserted == 0 {
        // The same body raced in on another request, which recorded it: nothing of ours lands.
        tx.rollback().await.map_err(anyhow::Error::from)?;
        return Ok(Ingested {
            duplicate: true,
            environment: env_name,
            outcome: "duplicate of an event already recorded".into(),
        });
    }
    tx.commit().await.map_err(anyhow::Error::from)?;
    let queued_verifies = outcome == Outcome::Applied && !changed.is_empty();
    for (d, action) in changed {
        let detail = serde_json::json!({
            "cluster": cluster.name,
            "revision": revision.as_ref().map(|r| r.sha.clone()),
            "reason": event.reason,
            "message": truncate(&event.message, 1000),
        });
        app::audit::ssr::append(
            db,
            &actor,
            action,
            &format!("change:{}", d.change_id),
            detail,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if queued_verifies {
        // Verifies were queued above: start them now (most events queue nothing, and a
        // wake makes every idle worker look at the queue). Only after the "applied" audit
        // entries, so that a quick verification cannot be logged before them.
        db.workers.wake();
    }
    app::dashboard::ssr::invalidate();
    Ok(Ingested {
        duplicate: false,
        environment: env_name,
        outcome: outcome_text,
    })
}

/// Who the timeline says did it: Flux in that cluster, or the demo's stand-in.
pub fn actor(cluster: &Cluster) -> String {
    if cluster.demo {
        format!("demo reconciler (stands in for Flux) in {}", cluster.name)
    } else {
        format!("Flux in {}", cluster.name)
    }
}

fn describe(event: &Event, outcome: Outcome, env: Option<&str>, n: usize, note: &str) -> String {
    let Some(env) = env else {
        return format!(
            "recorded only: {} {} is not mapped to an environment",
            event.involved_object.kind,
            event.object_key()
        );
    };
    let what = match outcome {
        Outcome::Applied => "applied",
        Outcome::Failed => "failed",
        Outcome::Reconciling => "reconciling",
        Outcome::Other => return format!("recorded for {env}: {}", event.reason),
    };
    let mut s = format!("{env}: {n} deployment(s) marked {what}");
    if !note.is_empty() {
        s.push_str(&format!(" ({note})"));
    }
    s
}

async fn pending_deployments(db: &Db, env_id: &str) -> Result<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT id, change_id, gitops_commit FROM deployments WHERE environment_id = $1 AND applied_at IS NULL",
    )
    .bind(env_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                id: r.try_get("id")?,
                change_id: r.try_get("change_id")?,
                gitops_commit: r.try_get("gitops_commit")?,
            })
        })
        .collect()
}

/// The deployments whose commit `sha` contains; None when `sha` is not in the repository.
fn contains(path: &PathBuf, sha: &str, pending: Vec<Pending>) -> Result<Option<Vec<Pending>>> {
    let repo = git2::Repository::open_bare(path)?;
    let Ok(tip) = git2::Oid::from_str(sha) else {
        return Ok(None);
    };
    if repo.find_commit(tip).is_err() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for d in pending {
        let Ok(commit) = git2::Oid::from_str(&d.gitops_commit) else {
            continue;
        };
        if commit == tip || repo.graph_descendant_of(tip, commit).unwrap_or(false) {
            out.push(d);
        }
    }
    Ok(Some(out))
}

async fn enqueue_verify(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    deployment_id: &str,
) -> Result<()> {
    jobs::enqueue_in(
        tx,
        NewJob::new(
            Kind::Verify,
            serde_json::json!({ "deployment_id": deployment_id }),
        )
        .dedup(format!("verify:{deployment_id}"))
        .attempts(3),
    )
    .await?;
    Ok(())
}

/// Keeps the newest word from Flux per environment (an older event arriving late does not
/// overwrite a newer one).
async fn update_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    env_id: &str,
    event: &Event,
    revision: Option<&event::Revision>,
    outcome: Outcome,
    at: &str,
) -> Result<()> {
    let sha = revision.map(|r| r.sha.clone());
    let message = truncate(&event.message, 1000);
    sqlx::query(
        "INSERT INTO environment_status (environment_id, last_reason, last_message, last_revision, last_event_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (environment_id) DO UPDATE SET last_reason = $2, last_message = $3, last_revision = $4, last_event_at = $5
         WHERE environment_status.last_event_at <= $5",
    )
    .bind(env_id)
    .bind(&event.reason)
    .bind(&message)
    .bind(&sha)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    if let (Outcome::Applied, Some(sha)) = (outcome, sha) {
        sqlx::query(
            "UPDATE environment_status SET applied_revision = $1, applied_at = $2
             WHERE environment_id = $3 AND (applied_at IS NULL OR applied_at <= $2)",
        )
        .bind(&sha)
        .bind(at)
        .bind(env_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// RFC 3339 in UTC, seconds precision, as every other time fluxgate stores.
fn normalize_time(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()?;
    t.format(&Rfc3339).ok()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
