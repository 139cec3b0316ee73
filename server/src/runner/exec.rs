//! Runs one pipeline step as a child process (`sh -c <command>`), streaming
//! its output line by line and making sure nothing it started outlives it.
//!
//! The step runs in a process group of its own; every exit path ends with
//! SIGKILL to that whole group, so background children cannot survive the
//! step or keep its pipes open. A process that leaves the group on purpose
//! (`setsid`) escapes this; reading then stops after a short grace period
//! so it cannot hold the step open either.
//!
//! Secrets are masked before a long line is cut, over bytes kept past the
//! cut for that purpose, so a secret straddling the cut point is hidden
//! whole instead of showing its first bytes. Output is masked line by line,
//! so a secret containing line breaks is also masked one line at a time.
//! The per-line byte limit counts the line as printed, before masking.
//!
//! Lines are sent with `Sender::send().await`, so a slow receiver slows the
//! step down (backpressure) rather than losing lines. The caller must keep
//! receiving until `run_step` returns, or drop the receiver: a receiver that
//! is kept but never read stalls the step.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

use super::exec_output::{
    human_duration, keep_bytes, read_outputs, render_line, LineReader, Masker,
};
use super::exec_process::{outcome_of, start, supervise, Scratch, Start, Started, START_ATTEMPTS};
use super::sandbox::Isolation;
use crate::pipeline::limits::{show_bytes, Limits, Network};

/// Once the group is dead, only a process that left it can still hold a pipe
/// open; this much time spent waiting for data is allowed before reading
/// stops. Time spent waiting on the sink does not count.
const DRAIN_BUDGET: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct StepSpec {
    /// Run as `sh -c <command>`.
    pub command: String,
    /// Fresh checkout of the commit.
    pub cwd: PathBuf,
    /// `FLUXGATE_*` and the step's own env.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Lines kept per step (e.g. 20_000).
    pub max_lines: usize,
    /// A longer line is cut, with a visible "… [line cut at N bytes]" suffix.
    pub max_line_bytes: usize,
    /// Values masked as "***" wherever they appear in output lines and outputs.
    pub secrets: Vec<String>,
    /// Where the step runs: the sandbox, or not at all, or (by an administrator's
    /// choice) unsandboxed.
    pub isolation: Arc<Isolation>,
    pub network: Network,
    pub limits: Limits,
    /// Names the step's control group (unique among running steps).
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub stream: Stream,
    pub text: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
    /// A limit of `pipeline::limits` was reached; the text names it.
    LimitHit(String),
}

impl Outcome {
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

#[derive(Debug)]
pub struct StepResult {
    pub outcome: Outcome,
    pub duration: Duration,
    pub outputs: BTreeMap<String, String>,
    pub output_errors: Vec<String>,
    pub lines_kept: usize,
    pub lines_dropped: usize,
}

pub async fn run_step(spec: StepSpec, sink: mpsc::Sender<LogLine>) -> StepResult {
    let started = Instant::now();
    let masker = Masker::new(&spec.secrets);
    let sink = LogSink {
        tx: sink,
        open: AtomicBool::new(true),
    };
    let scratch = match Scratch::create() {
        Ok(scratch) => scratch,
        Err(e) => {
            let message = format!("cannot prepare the step's temporary files: {e}");
            return spawn_failed(&sink, &masker, started, message).await;
        }
    };
    // The step's command never runs before its sandbox is up, so a sandbox that failed
    // to start (a host short of processes or namespaces for a moment) is tried again.
    let mut attempt = 1;
    let Started {
        mut child,
        mut group,
        network_helper: _network_helper,
        cgroup,
        ..
    } = loop {
        match start(&spec, &scratch).await {
            Ok(started) => {
                if let Some(line) = &started.sandbox {
                    sink.system(line.clone()).await;
                }
                break started;
            }
            Err(Start::Retry(message)) if attempt < START_ATTEMPTS => {
                let message = masker.mask(&message).into_owned();
                sink.system(format!(
                    "{message}; trying again (attempt {} of {START_ATTEMPTS})",
                    attempt + 1
                ))
                .await;
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            Err(Start::Retry(message) | Start::Final(message)) => {
                return spawn_failed(&sink, &masker, started, message).await
            }
        }
    };

    let lines = Lines {
        sink: &sink,
        masker: &masker,
        max_lines: spec.max_lines,
        max_line_bytes: spec.max_line_bytes,
        seen: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
        max_bytes: spec.limits.output,
        over: tokio::sync::Notify::new(),
    };
    let (gone_tx, gone_rx) = watch::channel(false);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let ((status, timed_out), stdout_held, stderr_held) = tokio::join!(
        async {
            let (status, timed_out) = supervise(
                &mut child,
                &mut group,
                spec.timeout,
                &gone_tx,
                lines.over.notified(),
            )
            .await;
            drop(gone_tx);
            if timed_out {
                let limit = human_duration(spec.timeout);
                sink.system(format!(
                    "step timed out after {limit}; process group killed"
                ))
                .await;
            }
            (status, timed_out)
        },
        pump(stdout, Stream::Stdout, &lines, gone_rx.clone()),
        pump(stderr, Stream::Stderr, &lines, gone_rx),
    );

    for (held, name) in [(stdout_held, "stdout"), (stderr_held, "stderr")] {
        if held {
            sink.system(format!(
                "stopped reading {name}: still held open by a process that left the step's process group"
            ))
            .await;
        }
    }
    let output_over = lines.bytes.load(Ordering::Relaxed) > spec.limits.output;
    let seen = lines.seen.load(Ordering::Relaxed);
    let lines_kept = seen.min(spec.max_lines);
    let lines_dropped = seen - lines_kept;
    if lines_dropped > 0 {
        sink.system(format!(
            "output truncated: {lines_dropped} more lines not kept (limit {})",
            spec.max_lines
        ))
        .await;
    }

    // Reading the file and removing HOME (which may hold anything the step
    // wrote, caches included) are blocking filesystem work.
    let (outputs, output_errors) = tokio::task::spawn_blocking(move || {
        let parsed = read_outputs(&scratch.output, &masker);
        scratch.remove();
        parsed
    })
    .await
    .unwrap_or_else(|e| {
        (
            BTreeMap::new(),
            vec![format!("cannot read the output file: {e}")],
        )
    });

    let hits = cgroup.as_ref().map(|g| g.hits()).unwrap_or_default();
    drop(cgroup);
    let limit_hit = if output_over {
        Some(format!(
            "output limit of {} reached",
            show_bytes(spec.limits.output)
        ))
    } else if hits.memory {
        Some(format!(
            "memory limit of {} reached",
            show_bytes(spec.limits.memory)
        ))
    } else if hits.processes {
        Some(format!(
            "process limit of {} reached",
            spec.limits.processes
        ))
    } else if matches!(&status, Ok(s) if outcome_of(*s) == Outcome::Signaled(libc::SIGXCPU)) {
        Some(format!(
            "CPU time limit of {} per process reached",
            crate::pipeline::limits::show_duration(spec.limits.cpu)
        ))
    } else {
        None
    };
    if let Some(hit) = &limit_hit {
        sink.system(format!("step stopped: {hit}")).await;
    }
    let outcome = match status {
        _ if timed_out => Outcome::TimedOut,
        _ if limit_hit.is_some() => Outcome::LimitHit(limit_hit.unwrap_or_default()),
        Ok(status) => outcome_of(status),
        Err(e) => Outcome::SpawnFailed(format!("waiting for the step failed: {e}")),
    };
    StepResult {
        outcome,
        duration: started.elapsed(),
        outputs,
        output_errors,
        lines_kept,
        lines_dropped,
    }
}

async fn spawn_failed(
    sink: &LogSink,
    masker: &Masker,
    started: Instant,
    message: String,
) -> StepResult {
    // The message may quote the cwd or env, which the secrets could be part of.
    let message = masker.mask(&message).into_owned();
    sink.system(message.clone()).await;
    StepResult {
        outcome: Outcome::SpawnFailed(message),
        duration: started.elapsed(),
        outputs: BTreeMap::new(),
        output_errors: Vec::new(),
        lines_kept: 0,
        lines_dropped: 0,
    }
}

struct LogSink {
    tx: mpsc::Sender<LogLine>,
    open: AtomicBool,
}

impl LogSink {
    async fn send(&self, stream: Stream, text: String) {
        // A closed receiver means nobody listens any more; the step itself
        // still runs to completion.
        if self.open.load(Ordering::Relaxed)
            && self.tx.send(LogLine { stream, text }).await.is_err()
        {
            self.open.store(false, Ordering::Relaxed);
        }
    }

    async fn system(&self, text: String) {
        self.send(Stream::System, text).await;
    }
}

/// State shared by the stdout and stderr readers.
struct Lines<'a> {
    sink: &'a LogSink,
    masker: &'a Masker,
    max_lines: usize,
    max_line_bytes: usize,
    /// Lines read from both streams; the first `max_lines` are kept.
    seen: AtomicUsize,
    /// Bytes read from both streams; past `max_bytes` the step is stopped.
    bytes: AtomicU64,
    max_bytes: u64,
    over: tokio::sync::Notify,
}

/// Reads one pipe to its end, forwarding lines. Returns true when reading
/// stopped because something outside the group still held the pipe open.
async fn pump<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    stream: Stream,
    lines: &Lines<'_>,
    mut gone: watch::Receiver<bool>,
) -> bool {
    let Some(pipe) = pipe else { return false };
    let mut reader = LineReader::new(
        BufReader::new(pipe),
        keep_bytes(lines.max_line_bytes, lines.masker),
    );
    let mut group_dead = false;
    let mut budget = DRAIN_BUDGET;
    loop {
        let next = if group_dead {
            let waited = Instant::now();
            let next = tokio::time::timeout(budget, reader.next_line()).await;
            budget = budget.saturating_sub(waited.elapsed());
            match next {
                Ok(next) => next,
                Err(_) => return true,
            }
        } else {
            tokio::select! {
                next = reader.next_line() => next,
                // Either the news or the sender going away means the same.
                _ = gone.changed() => {
                    group_dead = true;
                    continue;
                }
            }
        };
        // A read error ends the stream like EOF does: there is nothing more
        // that could be read from it.
        let Ok(Some(raw)) = next else { return false };
        let size = raw.len as u64 + 1;
        let total = lines.bytes.fetch_add(size, Ordering::Relaxed) + size;
        if total > lines.max_bytes {
            // Stored output stops here; the step is stopped by `supervise`.
            lines.over.notify_one();
            continue;
        }
        // The slot is taken before rendering so both streams share one exact
        // cap, and lines past it cost no rendering.
        if lines.seen.fetch_add(1, Ordering::Relaxed) < lines.max_lines {
            let text = render_line(&raw, lines.max_line_bytes, lines.masker);
            lines.sink.send(stream, text).await;
        }
    }
}
