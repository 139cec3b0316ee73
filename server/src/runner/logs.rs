//! Storing a run's output line by line as it arrives.
//!
//! Lines from the step being run go through a channel to one writer task per run, which
//! appends whatever has piled up in one transaction: a quiet step costs a row per line,
//! a chatty one is written in batches, and nothing waits on the database between lines.

use super::exec::{LogLine, Stream};
use anyhow::{anyhow, Result};
use fluxgate_core::db::Db;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const BATCH: usize = 512;
/// Lines and bytes stored for one run, all steps together; each step has its own caps
/// too (`max_log_lines`, `limits.output`), but a run may have many steps.
pub const MAX_RUN_LINES: i64 = 200_000;
pub const MAX_RUN_BYTES: usize = 256 * 1024 * 1024;

pub struct LogWriter {
    tx: mpsc::Sender<(i64, LogLine)>,
    task: JoinHandle<Result<i64>>,
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
        Stream::System => "system",
    }
}

impl LogWriter {
    pub async fn start(db: Db, run_id: String) -> Result<LogWriter> {
        let mut seq = crate::runs::next_log_seq(&db, &run_id).await?;
        let (tx, mut rx) = mpsc::channel::<(i64, LogLine)>(4096);
        let task = tokio::spawn(async move {
            let mut written = 0i64;
            let mut bytes = 0usize;
            let mut dropped = 0u64;
            let mut failure = None;
            let mut last_step = -1;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(line) => batch.push(line),
                        Err(_) => break,
                    }
                }
                let mut rows: Vec<(i64, &str, String)> = Vec::with_capacity(batch.len());
                for (step, l) in batch {
                    last_step = step;
                    let kept = written + rows.len() as i64;
                    if kept >= MAX_RUN_LINES || bytes + l.text.len() > MAX_RUN_BYTES {
                        dropped += 1;
                        continue;
                    }
                    bytes += l.text.len();
                    rows.push((step, stream_name(l.stream), l.text));
                }
                if rows.is_empty() {
                    continue;
                }
                match append_with_retry(&db, &run_id, seq, &rows).await {
                    Ok(()) => {
                        seq += rows.len() as i64;
                        written += rows.len() as i64;
                    }
                    // Keep draining so the step never blocks; the run fails at the end.
                    Err(e) => {
                        tracing::error!(run = %run_id, error = %e, "storing log lines failed");
                        failure.get_or_insert(e);
                    }
                }
            }
            if dropped > 0 && failure.is_none() {
                let notice = format!(
                    "{dropped} more lines of this run not kept (at most {MAX_RUN_LINES} lines \
                     and {} MiB per run)",
                    MAX_RUN_BYTES >> 20
                );
                let row = [(last_step, "system", notice)];
                match append_with_retry(&db, &run_id, seq, &row).await {
                    Ok(()) => written += 1,
                    Err(e) => failure = Some(e),
                }
            }
            match failure {
                Some(e) => Err(e.context("storing the run's output failed")),
                None => Ok(written),
            }
        });
        Ok(LogWriter { tx, task })
    }

    /// A sink for one step's lines; the returned task ends once the step's sender is
    /// dropped and every line has been handed to the writer.
    pub fn step_sink(&self, step: i64) -> (mpsc::Sender<LogLine>, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<LogLine>(1024);
        let out = self.tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if out.send((step, line)).await.is_err() {
                    break;
                }
            }
        });
        (tx, forward)
    }

    /// A line from fluxgate itself ("step started", an error, a lint finding).
    pub async fn system(&self, step: i64, text: impl Into<String>) {
        let line = LogLine {
            stream: Stream::System,
            text: text.into(),
        };
        let _ = self.tx.send((step, line)).await;
    }

    /// Waits until every line is stored; returns how many were.
    pub async fn finish(self) -> Result<i64> {
        drop(self.tx);
        self.task
            .await
            .map_err(|e| anyhow!("log writer task: {e}"))?
    }
}

/// A batch is retried a few times before it counts as lost: a busy database (SQLite with
/// many writers) must slow the log down, not drop lines that were already produced.
async fn append_with_retry(
    db: &Db,
    run_id: &str,
    seq: i64,
    rows: &[(i64, &str, String)],
) -> Result<()> {
    let mut wait = std::time::Duration::from_millis(100);
    let mut tries = 0;
    loop {
        match crate::runs::append_logs(db, run_id, seq, rows).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < 6 => {
                tracing::warn!(run = %run_id, error = %e, "storing log lines failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
