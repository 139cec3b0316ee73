//! The runner: takes jobs from the durable queue and does them: polls application
//! repositories, runs PR and CI pipelines (steps as child processes), and starts the CD
//! pipeline, which opens change requests in the GitOps repository.
//!
//! It runs inside `fluxgate serve` (unless `--no-runner`) or alone as `fluxgate runner`;
//! several runners may share one PostgreSQL database. Besides the workers it keeps two
//! timers: the poll scheduler (enqueues a poll per app when it is due) and the recovery
//! sweep (takes back jobs of dead workers, at once for those of this machine whose process
//! is gone (`app::identity`), and marks their runs interrupted; merges whose process
//! died between moving the branch and recording it are finished).

pub mod builtins;
mod cgroup;
pub mod exec;
mod exec_output;
mod exec_process;
mod exec_sandbox;
#[cfg(test)]
mod exec_tests;
pub mod logs;
pub mod poll;
pub mod run;
pub mod sandbox;

use anyhow::Result;
use fluxgate_core::db::Db;
use fluxgate_core::jobs::{self, Job, Kind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Runner settings.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Mirrors, checkouts and (by default) the GitOps repository live here.
    pub data_dir: PathBuf,
    /// Jobs done at once by this process.
    pub workers: usize,
    /// Steps (child processes) running at once in this process.
    pub max_parallel_steps: usize,
    /// How often each application repository is fetched.
    pub poll_interval: Duration,
    /// Lines kept per step; the rest are counted and reported.
    pub max_log_lines: usize,
    /// Where `run:` steps run (see `sandbox.rs`).
    pub isolation: Arc<sandbox::Isolation>,
    /// The most a step may ask for in its `limits:`.
    pub max_limits: crate::pipeline::limits::Limits,
    /// Overrides every kind's `job_limit` (tests use a short one).
    pub job_limit: Option<Duration>,
    /// Probes may reach link-local and cloud metadata addresses (an admin's choice).
    pub probes_may_reach_link_local: bool,
}

impl RunnerConfig {
    pub fn new(data_dir: PathBuf) -> RunnerConfig {
        RunnerConfig {
            workers: 4,
            max_parallel_steps: 4,
            poll_interval: Duration::from_secs(60),
            max_log_lines: 20_000,
            isolation: Arc::new(sandbox::Isolation::detect(&data_dir, false)),
            max_limits: crate::pipeline::limits::MAXIMA,
            job_limit: None,
            probes_may_reach_link_local: false,
            data_dir,
        }
    }
}

/// What job handlers share.
#[derive(Clone)]
pub struct Runner {
    pub db: Db,
    pub config: Arc<RunnerConfig>,
    pub steps: Arc<Semaphore>,
}

/// How long a job may run before it is given up, heartbeat or not: a handler waiting on
/// something that never answers must not hold a worker for ever. A run's steps have
/// their own timeouts (at most 6 h each); this bounds the run as a whole.
fn job_limit(kind: Option<Kind>) -> Duration {
    match kind {
        Some(Kind::Run) => Duration::from_secs(24 * 3600),
        Some(Kind::Verify) => Duration::from_secs(60 * 60),
        _ => Duration::from_secs(20 * 60),
    }
}

/// How often an idle worker looks at the queue (jobs enqueued by another process).
const IDLE_LOOK: Duration = Duration::from_millis(500);

/// Starts the workers and timers; they run until the process ends. Jobs enqueued through
/// `db` (or a clone of it) wake idle workers at once.
pub fn start(db: Db, config: RunnerConfig) -> Runner {
    let runner = Runner {
        db,
        steps: Arc::new(Semaphore::new(config.max_parallel_steps.max(1))),
        config: Arc::new(config),
    };
    let id = app::identity::current();
    for n in 0..runner.config.workers.max(1) {
        let r = runner.clone();
        let worker = format!("{id}/{n}");
        tokio::spawn(async move { r.work(worker).await });
    }
    let r = runner.clone();
    tokio::spawn(async move { r.record_isolation().await });
    let r = runner.clone();
    tokio::spawn(async move { r.schedule_polls().await });
    let r = runner.clone();
    tokio::spawn(async move { r.recover().await });
    tracing::info!(runner = %id, workers = runner.config.workers, "runner started");
    runner
}

/// A job handler's failure: `retry` when trying again later may help.
#[derive(Debug)]
pub struct JobError {
    pub message: String,
    pub retry: bool,
}

impl JobError {
    pub fn retry(e: impl std::fmt::Display) -> JobError {
        JobError {
            message: e.to_string(),
            retry: true,
        }
    }
    pub fn fatal(e: impl std::fmt::Display) -> JobError {
        JobError {
            message: e.to_string(),
            retry: false,
        }
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> JobError {
        JobError::retry(format!("{e:#}"))
    }
}

impl Runner {
    async fn work(&self, worker: String) {
        loop {
            // Registered before looking, so a wake between the look and the wait is kept.
            let notified = self.db.workers.notified();
            match jobs::claim(&self.db, &worker).await {
                Ok(Some(job)) => {
                    self.handle(&worker, job).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "claiming a job failed"),
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(IDLE_LOOK) => {}
            }
        }
    }

    async fn handle(&self, worker: &str, job: Job) {
        use tracing::Instrument;
        let span = tracing::info_span!("job", id = %job.id, kind = %job.kind);
        self.handle_in_span(worker, job).instrument(span).await
    }

    async fn handle_in_span(&self, worker: &str, job: Job) {
        let beat = {
            let (db, id, worker) = (self.db.clone(), job.id.clone(), worker.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(jobs::HEARTBEAT_EVERY).await;
                    if let Err(e) = jobs::heartbeat(&db, &id, &worker).await {
                        tracing::warn!(error = %e, "heartbeat failed");
                    }
                }
            })
        };
        let limit = self
            .config
            .job_limit
            .unwrap_or_else(|| job_limit(job.kind()));
        let work = async {
            match job.kind() {
                Some(Kind::Poll) => poll::poll(self, &job.payload).await,
                Some(Kind::Run) => run::run(self, &job.payload).await,
                Some(Kind::Cd) => crate::cd::start(self, &job.payload).await,
                Some(Kind::Rebase) => crate::cd::rebase(self, &job.payload).await,
                Some(Kind::Rollback) => crate::cd::rollback(self, &job.payload).await,
                Some(Kind::Poke) => crate::flux::poke(self, &job.payload).await,
                Some(Kind::Verify) => crate::flux::verify::verify(self, &job.payload).await,
                None => Err(JobError::fatal(format!("unknown job kind {}", job.kind))),
            }
        };
        // Dropping the handler on time-out ends what it started: steps are killed
        // with their process group and sandbox.
        let result = tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(JobError::fatal(format!(
                "given up after {}: the job did not finish in time",
                crate::pipeline::limits::show_duration(limit)
            )))
        });
        beat.abort();
        let stored = match result {
            Ok(()) => jobs::complete(&self.db, &job.id, worker).await,
            Err(e) => {
                tracing::warn!(error = %e.message, retry = e.retry, "job failed");
                match jobs::fail(&self.db, &job, worker, &e.message, e.retry).await {
                    Ok(true) => Ok(()),
                    Ok(false) => self.gave_up(&job, &e.message).await,
                    Err(err) => Err(err),
                }
            }
        };
        if let Err(e) = stored {
            tracing::error!(error = %format!("{e:#}"), "recording the job's end failed");
        }
        self.db.workers.wake();
    }

    /// A job that will not run again: whatever it owned says why.
    async fn gave_up(&self, job: &Job, reason: &str) -> Result<()> {
        let run_id = job
            .payload
            .get("run_id")
            .or_else(|| job.payload.get("cd_run_id"))
            .and_then(|v| v.as_str());
        if let Some(run_id) = run_id {
            crate::runs::interrupt(&self.db, run_id, reason).await?;
            if job.kind() == Some(Kind::Run) {
                // `run::run` removes the checkout when it ends; a run given up never does.
                let _ = tokio::fs::remove_dir_all(run::work_dir(self, run_id)).await;
            }
        }
        if job.kind() == Some(Kind::Cd) {
            crate::cd::gave_up(self, &job.payload, reason).await?;
        }
        Ok(())
    }

    /// Tells Settings how this runner isolates steps (the last runner started wins).
    async fn record_isolation(&self) {
        let value = match &*self.config.isolation {
            sandbox::Isolation::Refused(why) => format!("refused: {why}"),
            other => other.label().to_string(),
        };
        let stored = sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('step_isolation', $1)
             ON CONFLICT (key) DO UPDATE SET value = $1",
        )
        .bind(value)
        .execute(&self.db.pool)
        .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "recording how steps are isolated");
        }
    }

    /// Enqueues a poll for every app that is due (one queued poll per app at most).
    async fn schedule_polls(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            match poll::enqueue_due(self).await {
                Ok(0) => {}
                Ok(_) => self.db.workers.wake(),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "scheduling polls failed"),
            }
        }
    }

    async fn recover(&self) {
        // The first look is at start: jobs of this machine's runner that died (the process
        // before a restart) are taken back at once.
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            match jobs::recover(&self.db, jobs::STALE_AFTER, app::identity::is_gone).await {
                Ok(failed) => {
                    for job in failed {
                        let reason = "interrupted: the runner stopped while this ran";
                        if let Err(e) = self.gave_up(&job, reason).await {
                            tracing::warn!(error = %format!("{e:#}"), "marking an interrupted job");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "recovering stale jobs failed"),
            }
            if let Err(e) = app::changes::merge::finish_abandoned(&self.db).await {
                tracing::warn!(error = %e, "finishing abandoned merges failed");
            }
        }
    }
}
