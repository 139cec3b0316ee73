//! Executing a PR or CI run: a fresh checkout of the commit, `fluxgate.yaml` read from it,
//! then the steps in order, each as a child process (or a built-in), until one fails.
//! A green CI run queues the CD pipeline.

use super::builtins;
use super::exec::{self, Outcome, StepSpec};
use super::logs::LogWriter;
use super::sandbox::Isolation;
use super::{JobError, Runner};
use crate::apps::{self, App};
use crate::pipeline::definition::{self, Action, PipelineDef, Step};
use crate::repos::{checkout, lock::with_repo_lock};
use crate::runs::{self, Run, StepEnd};
use anyhow::{Context, Result};
use fluxgate_core::jobs::{self, NewJob};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Largest `fluxgate.yaml` read.
const MAX_DEFINITION_BYTES: u64 = 256 * 1024;

/// The `run` job.
pub async fn run(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let run_id = payload["run_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("run job without run_id"))?;
    let Some(run) = runs::get(&r.db, run_id).await? else {
        return Ok(());
    };
    // Already taken by another job (a duplicate), or finished: nothing to do.
    if !runs::start(&r.db, run_id).await? {
        return Ok(());
    }
    let Some(app) = apps::get(&r.db, &run.app_id).await? else {
        runs::set_state(&r.db, run_id, "failed", Some("the app was deleted")).await?;
        return Ok(());
    };
    let work = work_dir(r, run_id);
    let started = std::time::Instant::now();
    let logs = LogWriter::start(r.db.clone(), run_id.to_string()).await?;
    let result = execute(r, &app, &run, &work, &logs).await;
    let stored = logs.finish().await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    let outcome = match (result, stored) {
        (Ok(()), Ok(_)) => Ok(()),
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(format!("{e:#}")),
    };
    // One line per run in the process log, so a run that failed (a sandbox that did not
    // start, say) is visible there and not only on its page.
    let ms = started.elapsed().as_millis() as u64;
    match &outcome {
        Ok(()) => tracing::info!(run = %run_id, kind = %run.kind, ms, "run succeeded"),
        Err(why) => {
            tracing::warn!(run = %run_id, kind = %run.kind, ms, reason = %why, "run failed")
        }
    }
    match outcome {
        Ok(()) => {
            runs::set_state(&r.db, run_id, "succeeded", None).await?;
            if run.kind == "ci" {
                jobs::enqueue(
                    &r.db,
                    NewJob::new(jobs::Kind::Cd, serde_json::json!({ "ci_run_id": run_id }))
                        .dedup(format!("cd:{run_id}")),
                )
                .await?;
            }
        }
        Err(message) => {
            runs::skip_pending(&r.db, run_id).await?;
            runs::set_state(&r.db, run_id, "failed", Some(&message)).await?;
        }
    }
    Ok(())
}

/// Runs everything; `Err` is the run's failure reason, shown to users.
async fn execute(
    r: &Runner,
    app: &App,
    run: &Run,
    work: &Path,
    logs: &LogWriter,
) -> Result<(), String> {
    logs.system(
        -1,
        format!("checking out {} ({})", short(&run.commit_sha), run.branch),
    )
    .await;
    let mirror = apps::mirror_path(&r.config.data_dir, app);
    let (sha, dest) = (run.commit_sha.clone(), work.to_path_buf());
    let checked_out = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&dest);
        with_repo_lock(&mirror, || checkout::checkout(&mirror, &sha, &dest))
    })
    .await;
    match checked_out {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return fail(logs, format!("checkout failed: {e:#}")).await,
        Err(e) => return fail(logs, format!("checkout failed: {e}")).await,
    }
    let def = match read_definition(work, app) {
        Ok(def) => def,
        Err(e) => return fail(logs, e).await,
    };
    let mut steps: Vec<&Step> = def.pr.iter().collect();
    if run.kind == "ci" {
        steps.extend(&def.ci);
    }
    let plan: Vec<(String, String)> = steps
        .iter()
        .map(|s| {
            let action = match &s.action {
                Action::Run(cmd) => cmd.clone(),
                Action::Uses(b) => format!("uses: {}", builtins::name(*b)),
            };
            (s.name.clone(), action)
        })
        .collect();
    runs::plan_steps(&r.db, &run.id, &plan)
        .await
        .map_err(|e| format!("{e:#}"))?;
    if steps.is_empty() {
        logs.system(-1, "fluxgate.yaml defines no steps for this run")
            .await;
    }
    // Any pushed branch starts a PR run, so only CI runs of the default branch are
    // trusted with every secret; PR runs get those an administrator marked --for-pr.
    let trusted = run.kind == "ci" && run.branch == app.default_branch;
    let secrets = apps::secrets(&r.db, &app.id, trusted)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let has_run_steps = steps.iter().any(|s| matches!(s.action, Action::Run(_)));
    let given: Vec<String> = if has_run_steps {
        secrets.iter().map(|(name, _)| name.clone()).collect()
    } else {
        Vec::new()
    };
    let isolation = if has_run_steps {
        r.config.isolation.label()
    } else {
        ""
    };
    runs::set_isolation(&r.db, &run.id, isolation, &given)
        .await
        .map_err(|e| format!("{e:#}"))?;
    // Limits are checked before any step runs: a step asking past a maximum fails the run
    // at once rather than after the steps before it.
    let mut limits = Vec::with_capacity(steps.len());
    for step in &steps {
        match step.limits.resolve(&r.config.max_limits) {
            Ok(l) => limits.push(l),
            Err(e) => return fail(logs, e).await,
        }
    }
    for (position, step) in steps.iter().enumerate() {
        let position = position as i64;
        runs::step_started(&r.db, &run.id, position)
            .await
            .map_err(|e| format!("{e:#}"))?;
        logs.system(position, format!("step {:?} started", step.name))
            .await;
        let started = Instant::now();
        let mut limit_hit = None;
        let mut not_started = None;
        let (state, exit_code, outputs, dropped) = match &step.action {
            Action::Run(command) => {
                let env = step_env(app, run, step, &secrets);
                let spec = StepSpec {
                    command: command.clone(),
                    cwd: work.to_path_buf(),
                    env,
                    timeout: step.timeout,
                    max_lines: r.config.max_log_lines,
                    max_line_bytes: 16 * 1024,
                    secrets: secrets.iter().map(|(_, v)| v.clone()).collect(),
                    isolation: r.config.isolation.clone(),
                    network: step.network,
                    limits: limits[position as usize],
                    name: format!("{}-{position}", run.id),
                };
                if matches!(*r.config.isolation, Isolation::Unsandboxed) {
                    logs.system(
                        position,
                        "WARNING: this step runs without a sandbox (--unsandboxed-steps): it \
                         can read fluxgate's data and reach this host's network",
                    )
                    .await;
                }
                let permit = r.steps.clone().acquire_owned().await;
                let (sink, forward) = logs.step_sink(position);
                let result = exec::run_step(spec, sink).await;
                let _ = forward.await;
                drop(permit);
                for e in &result.output_errors {
                    logs.system(position, format!("output ignored: {e}")).await;
                }
                let (state, code) = match result.outcome {
                    Outcome::Exited(0) => ("succeeded", Some(0)),
                    Outcome::Exited(c) => ("failed", Some(c as i64)),
                    Outcome::Signaled(s) => ("failed", Some(128 + s as i64)),
                    Outcome::TimedOut => ("timed_out", None),
                    Outcome::SpawnFailed(ref why) => {
                        not_started = Some(why.clone());
                        ("failed", None)
                    }
                    Outcome::LimitHit(ref hit) => {
                        limit_hit = Some(hit.clone());
                        ("failed", None)
                    }
                };
                let outputs = serde_json::to_value(&result.outputs).unwrap_or_default();
                (state, code, outputs, result.lines_dropped as i64)
            }
            Action::Uses(builtin) => {
                let ctx = builtins::Ctx {
                    r,
                    run,
                    def: &def,
                    work,
                    logs,
                    step: position,
                };
                match builtins::run(&ctx, *builtin).await {
                    Ok(()) => ("succeeded", None, serde_json::json!({}), 0),
                    Err(e) => {
                        logs.system(position, e).await;
                        ("failed", None, serde_json::json!({}), 0)
                    }
                }
            }
        };
        let elapsed = started.elapsed();
        logs.system(
            position,
            format!(
                "step {:?} {state} after {:.1} s",
                step.name,
                elapsed.as_secs_f64()
            ),
        )
        .await;
        runs::step_finished(
            &r.db,
            &run.id,
            position,
            StepEnd {
                state,
                exit_code,
                outputs: &outputs,
                lines_dropped: dropped,
                duration_ms: elapsed.as_millis() as i64,
            },
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
        if state != "succeeded" {
            let why = match (state, exit_code) {
                _ if limit_hit.is_some() => format!(
                    "step {:?} failed: {}",
                    step.name,
                    limit_hit.unwrap_or_default()
                ),
                _ if not_started.is_some() => format!(
                    "step {:?} could not start: {}",
                    step.name,
                    not_started.unwrap_or_default()
                ),
                ("timed_out", _) => {
                    format!("step {:?} timed out after {:?}", step.name, step.timeout)
                }
                (_, Some(code)) => format!("step {:?} failed with exit code {code}", step.name),
                _ => format!("step {:?} failed", step.name),
            };
            return Err(why);
        }
    }
    Ok(())
}

async fn fail(logs: &LogWriter, message: String) -> Result<(), String> {
    logs.system(-1, &message).await;
    Err(message)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

fn read_definition(work: &Path, app: &App) -> Result<PipelineDef, String> {
    let path = work.join("fluxgate.yaml");
    let meta = std::fs::symlink_metadata(&path)
        .map_err(|_| "the repository has no fluxgate.yaml at this commit".to_string())?;
    if !meta.is_file() {
        return Err("fluxgate.yaml is not a regular file".into());
    }
    if meta.len() > MAX_DEFINITION_BYTES {
        return Err(format!(
            "fluxgate.yaml is larger than {MAX_DEFINITION_BYTES} bytes"
        ));
    }
    let text = std::fs::read_to_string(&path)
        .context("reading fluxgate.yaml")
        .map_err(|e| format!("{e:#}"))?;
    let def = definition::parse(&text).map_err(|e| e.to_string())?;
    if let Some(name) = &def.app {
        if name != &app.name {
            return Err(format!(
                "fluxgate.yaml names app {name:?} but this repository is registered as {:?}",
                app.name
            ));
        }
    }
    Ok(def)
}

/// The environment of a `run:` step: the FLUXGATE_* facts of the run, the app's secrets,
/// then the step's own `env` (which may not override the FLUXGATE_* names).
fn step_env(
    app: &App,
    run: &Run,
    step: &Step,
    secrets: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = vec![
        ("FLUXGATE_APP".to_string(), app.name.clone()),
        ("FLUXGATE_RUN_ID".to_string(), run.id.clone()),
        ("FLUXGATE_RUN_KIND".to_string(), run.kind.clone()),
        ("FLUXGATE_COMMIT".to_string(), run.commit_sha.clone()),
        ("FLUXGATE_BRANCH".to_string(), run.branch.clone()),
        ("FLUXGATE_IMAGE_TAG".to_string(), run.image_tag.clone()),
    ];
    env.extend(secrets.iter().cloned());
    for (k, v) in &step.env {
        if !k.starts_with("FLUXGATE_") {
            env.push((k.clone(), v.clone()));
        }
    }
    env
}

/// Where a run's checkout goes (for tests that look at it).
pub fn work_dir(r: &Runner, run_id: &str) -> PathBuf {
    r.config
        .isolation
        .work_root(&r.config.data_dir)
        .join(run_id)
}
