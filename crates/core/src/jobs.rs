//! The durable job queue, in the database (SQLite or PostgreSQL).
//!
//! Everything the runner does (poll a repository, run a pipeline, open a change request) is
//! a job row, so a restart loses nothing: a job is claimed by one worker, kept alive by a
//! heartbeat, and finished as done or failed. A job whose worker died (no heartbeat for
//! [`STALE_AFTER`], or at once when it was a process of this machine that is gone) is
//! queued again, or marked failed as interrupted once it has used its attempts. Jobs are
//! written to be idempotent, so running one twice is harmless.
//!
//! Claiming is one `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING`; on PostgreSQL the
//! inner select takes `FOR UPDATE SKIP LOCKED`, so several runners never wait on or take
//! the same row. SQLite has one writer at a time, which gives the same guarantee.
//!
//! This module is the only writer of the `jobs` table. An enqueue wakes this process's idle
//! workers at once (runners in other processes see the job at their next look).

use crate::db::{new_id, now_text, Backend, Db};
use anyhow::{Context, Result};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Wakes the idle workers of this process. Held by every [`Db`].
#[derive(Clone, Debug, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_waiters();
    }

    /// Resolves at the next [`Wake::wake`]. Take it before looking at the queue, so that a
    /// wake between the look and the wait is not lost.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.notified()
    }
}

/// What a job does; the runner has one handler per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Look at an application repository for new commits.
    Poll,
    /// Run a pipeline (PR, CI or CD steps).
    Run,
    /// Propose the change requests of a finished CI run.
    Cd,
    /// Re-render a change on its environment branch's new head.
    Rebase,
    /// Prepare a rollback change request.
    Rollback,
    /// Tell the cluster's Flux Receiver that an environment branch moved.
    Poke,
    /// Probe a deployment Flux has applied.
    Verify,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Poll,
        Kind::Run,
        Kind::Cd,
        Kind::Rebase,
        Kind::Rollback,
        Kind::Poke,
        Kind::Verify,
    ];

    /// The name stored in `jobs.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Poll => "poll",
            Kind::Run => "run",
            Kind::Cd => "cd",
            Kind::Rebase => "rebase",
            Kind::Rollback => "rollback",
            Kind::Poke => "poke",
            Kind::Verify => "verify",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A worker that has not written a heartbeat for this long is presumed dead.
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// How often a worker writes its heartbeat while a job runs.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// A claimed job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    /// As stored: a row written by another version may name a kind this one lacks
    /// ([`Job::kind`] tells).
    pub kind: String,
    pub payload: serde_json::Value,
    /// Attempts including this one.
    pub attempts: i64,
    pub max_attempts: i64,
}

impl Job {
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }
}

/// What to enqueue.
pub struct NewJob {
    pub kind: Kind,
    pub payload: serde_json::Value,
    /// At most one queued job per key; enqueueing another while one waits does nothing.
    pub dedup_key: Option<String>,
    pub max_attempts: i64,
    pub delay: Duration,
}

impl NewJob {
    pub fn new(kind: Kind, payload: serde_json::Value) -> NewJob {
        NewJob {
            kind,
            payload,
            dedup_key: None,
            max_attempts: 5,
            delay: Duration::ZERO,
        }
    }
    pub fn dedup(mut self, key: impl Into<String>) -> NewJob {
        self.dedup_key = Some(key.into());
        self
    }
    pub fn attempts(mut self, n: i64) -> NewJob {
        self.max_attempts = n;
        self
    }
}

/// `now + d` in the database's time format.
pub fn time_after(d: Duration) -> String {
    let t = time::OffsetDateTime::now_utc() + d;
    t.replace_nanosecond(0)
        .expect("zero nanoseconds is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of a UTC time cannot fail")
}

fn time_before(d: Duration) -> String {
    let t = time::OffsetDateTime::now_utc() - d;
    t.replace_nanosecond(0)
        .expect("zero nanoseconds is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of a UTC time cannot fail")
}

/// Adds a job and wakes this process's idle workers. Returns false when a queued job with
/// the same dedup key already waits.
pub async fn enqueue(db: &Db, job: NewJob) -> Result<bool> {
    let mut conn = db.pool.acquire().await.context("enqueueing a job")?;
    let added = insert(&mut conn, job).await?;
    db.workers.wake();
    Ok(added)
}

/// Adds a job inside the caller's transaction, so that it exists exactly when what asked for
/// it does. Call `db.workers.wake()` after the commit (before it, a worker would not see
/// the row yet and would wait for its next look).
pub async fn enqueue_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, job: NewJob) -> Result<bool> {
    insert(tx, job).await
}

async fn insert(conn: &mut sqlx::AnyConnection, job: NewJob) -> Result<bool> {
    let now = now_text();
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, payload, dedup_key, state, attempts, max_attempts,
                           run_after, created_at)
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7)
         ON CONFLICT (dedup_key) WHERE state = 'queued' DO NOTHING",
    )
    .bind(new_id())
    .bind(job.kind.as_str())
    .bind(job.payload.to_string())
    .bind(job.dedup_key)
    .bind(job.max_attempts)
    .bind(time_after(job.delay))
    .bind(now)
    .execute(conn)
    .await
    .context("enqueueing a job")?;
    Ok(done.rows_affected() == 1)
}

/// Takes the oldest job that is due, if any, for `worker`.
pub async fn claim(db: &Db, worker: &str) -> Result<Option<Job>> {
    let lock = match db.backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1,
                heartbeat_at = $2
         WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= $3
                     ORDER BY id LIMIT 1 {lock})
           AND state = 'queued'
         RETURNING id, kind, payload, attempts, max_attempts"
    );
    let now = now_text();
    let row = sqlx::query(&sql)
        .bind(worker)
        .bind(&now)
        .bind(&now)
        .fetch_optional(&db.pool)
        .await
        .context("claiming a job")?;
    row.map(|row| -> Result<Job> {
        let payload: String = row.try_get("payload")?;
        Ok(Job {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            payload: serde_json::from_str(&payload).context("job payload is not JSON")?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
        })
    })
    .transpose()
}

/// Keeps a claimed job alive. False when the job is no longer ours (it was taken back).
pub async fn heartbeat(db: &Db, id: &str, worker: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET heartbeat_at = $1 WHERE id = $2 AND locked_by = $3 AND state = 'running'",
    )
    .bind(now_text())
    .bind(id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a claimed job done.
pub async fn complete(db: &Db, id: &str, worker: &str) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'done', finished_at = $1, last_error = NULL
         WHERE id = $2 AND locked_by = $3 AND state = 'running'",
    )
    .bind(now_text())
    .bind(id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a failure: the job waits and runs again while it has attempts left (backoff
/// 2, 4, 8 … s, at most 5 min), and is failed for good after that or when `retry` is false.
/// Returns true when the job was queued again.
pub async fn fail(db: &Db, job: &Job, worker: &str, error: &str, retry: bool) -> Result<bool> {
    if retry && job.attempts < job.max_attempts {
        let backoff = Duration::from_secs((1u64 << job.attempts.clamp(1, 8)).min(300));
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_after = $1, last_error = $2, locked_by = NULL
             WHERE id = $3 AND locked_by = $4 AND state = 'running'",
        )
        .bind(time_after(backoff))
        .bind(error)
        .bind(&job.id)
        .bind(worker)
        .execute(&db.pool)
        .await;
        match requeued {
            Ok(_) => return Ok(true),
            // Another job with the same key already waits: it will do the work.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    sqlx::query(
        "UPDATE jobs SET state = 'failed', finished_at = $1, last_error = $2
         WHERE id = $3 AND locked_by = $4 AND state = 'running'",
    )
    .bind(now_text())
    .bind(error)
    .bind(&job.id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(false)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Takes back the jobs of workers silent for `stale_after`: queued again while they have
/// attempts left, failed as interrupted otherwise. Returns the jobs failed this way, so
/// that their owners (e.g. a run) can be marked interrupted with the reason.
pub async fn recover_stale(db: &Db, stale_after: Duration) -> Result<Vec<Job>> {
    recover(db, stale_after, |_| false).await
}

/// `recover_stale`, and at once the jobs of workers that `gone` knows to have ended
/// (`app::identity::is_gone`: a process of this machine that no longer runs).
pub async fn recover(
    db: &Db,
    stale_after: Duration,
    gone: impl Fn(&str) -> bool,
) -> Result<Vec<Job>> {
    // Few rows: only jobs running right now.
    let rows = sqlx::query(
        "SELECT id, kind, payload, attempts, max_attempts, locked_by, heartbeat_at FROM jobs
         WHERE state = 'running'",
    )
    .fetch_all(&db.pool)
    .await?;
    let cutoff = time_before(stale_after);
    let mut failed = Vec::new();
    for row in rows {
        let worker: Option<String> = row.try_get("locked_by")?;
        let beat: Option<String> = row.try_get("heartbeat_at")?;
        let worker = worker.unwrap_or_default();
        let reason = if beat.as_deref().is_none_or(|b| b < cutoff.as_str()) {
            format!(
                "interrupted: worker {worker} stopped while running it (last heartbeat {})",
                beat.as_deref().unwrap_or("never")
            )
        } else if gone(&worker) {
            format!("interrupted: worker {worker} ended while running it (its process is gone)")
        } else {
            continue;
        };
        let payload: String = row.try_get("payload")?;
        let job = Job {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
        };
        tracing::warn!(job = %job.id, kind = %job.kind, %reason, "taking back a job");
        if !fail(db, &job, &worker, &reason, true).await? {
            failed.push(job);
        }
    }
    Ok(failed)
}

/// Counts jobs by state, for tests and the runner's log line.
pub async fn count(db: &Db, state: &str) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = $1")
        .bind(state)
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}
