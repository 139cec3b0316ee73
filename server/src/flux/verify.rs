//! Verification and promotion: once Flux reports a deployment applied, run the app's HTTP
//! probes for that environment, store what they saw, and then let the CD pipeline open the
//! change request for the next environment (merged at once where that one auto-promotes).
//!
//! A probe passes when the answer has the expected status and, if asked, contains the
//! expected text. `url` and `body_contains` may name `${IMAGE_TAG}`, `${APP_COMMIT}` and
//! `${GITOPS_COMMIT}`, so a probe can check that the new version is the one answering.

use crate::runner::{JobError, Runner};
use crate::runs;
use anyhow::{Context, Result};
use fluxgate_core::db::{new_id, now_text, Db};
use sqlx::Row;
use std::time::{Duration, Instant};

/// A configured probe.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Probe {
    pub url: String,
    pub expect_status: i64,
    pub body_contains: String,
    pub timeout_ms: i64,
    pub retries: i64,
}

/// Pause between attempts of a failing probe.
const RETRY_PAUSE: Duration = Duration::from_secs(2);
/// Evidence keeps this much of a body.
const EVIDENCE_BYTES: usize = 2048;

struct Deployment {
    id: String,
    app_id: String,
    environment_id: String,
    change_id: String,
    gitops_commit: String,
    app_commit: String,
    images: Vec<String>,
    state: String,
}

async fn load(db: &Db, id: &str) -> Result<Option<Deployment>> {
    let row = sqlx::query(
        "SELECT id, app_id, environment_id, change_id, gitops_commit, app_commit, images, state FROM deployments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(Deployment {
            id: r.try_get("id")?,
            app_id: r.try_get("app_id")?,
            environment_id: r.try_get("environment_id")?,
            change_id: r.try_get("change_id")?,
            gitops_commit: r.try_get("gitops_commit")?,
            app_commit: r.try_get("app_commit")?,
            images: fluxgate_core::db::decode_json(
                "images of a deployment",
                &r.try_get::<String, _>("images")?,
            )?,
            state: r.try_get("state")?,
        })
    })
    .transpose()
}

pub async fn probes(db: &Db, app_id: &str, env_id: &str) -> Result<Vec<Probe>> {
    let rows = sqlx::query(
        "SELECT url, expect_status, body_contains, timeout_ms, retries FROM probes
         WHERE app_id = $1 AND environment_id = $2 ORDER BY url",
    )
    .bind(app_id)
    .bind(env_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Probe {
                url: r.try_get("url")?,
                expect_status: r.try_get("expect_status")?,
                body_contains: r.try_get("body_contains")?,
                timeout_ms: r.try_get("timeout_ms")?,
                retries: r.try_get("retries")?,
            })
        })
        .collect()
}

/// Adds or replaces a probe (same app, environment and URL).
pub async fn put_probe(db: &Db, app_id: &str, env_id: &str, p: &Probe) -> Result<()> {
    if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
        anyhow::bail!("a probe URL must start with http:// or https://");
    }
    if !(100..=599).contains(&p.expect_status) || p.timeout_ms < 1 || !(0..=20).contains(&p.retries)
    {
        anyhow::bail!("probe status must be 100-599, timeout at least 1 ms, retries 0-20");
    }
    sqlx::query(
        "INSERT INTO probes (id, app_id, environment_id, url, expect_status, body_contains, timeout_ms, retries, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (app_id, environment_id, url) DO UPDATE SET expect_status = $5, body_contains = $6, timeout_ms = $7, retries = $8",
    )
    .bind(new_id())
    .bind(app_id)
    .bind(env_id)
    .bind(&p.url)
    .bind(p.expect_status)
    .bind(&p.body_contains)
    .bind(p.timeout_ms)
    .bind(p.retries)
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The `verify` job.
pub async fn verify(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let id = payload["deployment_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("verify job without deployment_id"))?;
    let Some(d) = load(&r.db, id).await? else {
        return Ok(()); // deleted with its app or environment
    };
    match d.state.as_str() {
        "verified" => return promote(r, &d).await.map_err(JobError::from),
        "applied" => {}
        _ => return Ok(()), // failed in the meantime, or not applied: nothing to verify
    }
    let list = probes(&r.db, &d.app_id, &d.environment_id).await?;
    let mut failures = Vec::new();
    for p in &list {
        let allow = r.config.probes_may_reach_link_local;
        if let Err(evidence) = run_probe(&r.db, &d, p, allow).await? {
            failures.push(format!("{}: {evidence}", substitute(&p.url, &d)));
        }
    }
    let now = now_text();
    let ok = failures.is_empty();
    let (dep_state, message) = if ok {
        ("verified", None)
    } else {
        (
            "failed",
            Some(format!("verification failed: {}", failures.join("; "))),
        )
    };
    sqlx::query(
        "UPDATE deployments SET state = $1, verified_at = CASE WHEN $1 = 'verified' THEN $2 ELSE verified_at END,
                failed_at = CASE WHEN $1 = 'failed' THEN $2 ELSE failed_at END, message = $3
         WHERE id = $4 AND state = 'applied'",
    )
    .bind(dep_state)
    .bind(&now)
    .bind(&message)
    .bind(&d.id)
    .execute(&r.db.pool)
    .await
    .map_err(anyhow::Error::from)?;
    sqlx::query("UPDATE change_requests SET state = $1, updated_at = $2 WHERE id = $3 AND state = 'applied'")
        .bind(dep_state)
        .bind(&now)
        .bind(&d.change_id)
        .execute(&r.db.pool)
        .await
        .map_err(anyhow::Error::from)?;
    let detail = if list.is_empty() {
        serde_json::json!({ "probes": 0, "note": "no probes are configured for this app and environment" })
    } else {
        serde_json::json!({ "probes": list.len(), "failures": failures })
    };
    let action = if ok {
        "change.verified"
    } else {
        "change.verify_failed"
    };
    app::audit::ssr::append(
        &r.db,
        "fluxgate",
        action,
        &format!("change:{}", d.change_id),
        detail,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    app::dashboard::ssr::invalidate();
    if ok {
        let d = Deployment {
            state: "verified".into(),
            ..d
        };
        promote(r, &d).await?;
    } else if let Some(cd) = cd_run_of(&r.db, &d.change_id).await? {
        runs::set_state(&r.db, &cd, "failed", message.as_deref()).await?;
    }
    Ok(())
}

fn substitute(text: &str, d: &Deployment) -> String {
    let tag = d
        .images
        .first()
        .and_then(|i| i.rsplit_once(':').map(|(_, t)| t.to_string()))
        .unwrap_or_default();
    text.replace("${IMAGE_TAG}", &tag)
        .replace("${APP_COMMIT}", &d.app_commit)
        .replace("${GITOPS_COMMIT}", &d.gitops_commit)
}

/// Runs one probe with its retries, storing every attempt with its evidence. Err holds
/// the last attempt's verdict, without the body it read.
async fn run_probe(
    db: &Db,
    d: &Deployment,
    p: &Probe,
    allow_link_local: bool,
) -> Result<Result<(), String>> {
    use super::probe_http;
    let url = substitute(&p.url, d);
    let want = substitute(&p.body_contains, d);
    let client = probe_http::client(Duration::from_millis(p.timeout_ms as u64), allow_link_local)
        .context("building the HTTP client")?;
    let refused = probe_http::check_url(&url, allow_link_local).err();
    let mut last = String::new();
    for attempt in 1..=(p.retries + 1) {
        let started = Instant::now();
        let answer = match &refused {
            Some(why) => Err(why.clone()),
            None => probe_http::fetch(&client, &url).await,
        };
        // `summary` is what the deployment's message and the CD run say; only the stored
        // evidence (shown to developers and up) holds what the probe read.
        let (ok, status, summary, evidence) = match answer {
            Err(e) => (false, None, e.clone(), e),
            Ok((status, body, cut)) => {
                let status = status as i64;
                let mut excerpt: String = body.chars().take(EVIDENCE_BYTES).collect();
                if excerpt.len() < body.len() || cut {
                    excerpt.push('…');
                }
                let status_ok = status == p.expect_status;
                let body_ok = want.is_empty() || body.contains(&want);
                let verdict = match (status_ok, body_ok) {
                    (true, true) => "as expected".to_string(),
                    (false, _) => format!("expected status {}", p.expect_status),
                    (true, false) if cut => format!(
                        "the first {} KiB of the body do not contain {want:?}",
                        probe_http::BODY_CAP / 1024
                    ),
                    (true, false) => format!("the body does not contain {want:?}"),
                };
                (
                    status_ok && body_ok,
                    Some(status),
                    format!("HTTP {status}, {verdict}"),
                    format!("HTTP {status}, {verdict}; body: {excerpt}"),
                )
            }
        };
        sqlx::query(
            "INSERT INTO verifications (id, deployment_id, probe_url, attempt, ok, status, evidence, duration_ms, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(&d.id)
        .bind(&url)
        .bind(attempt)
        .bind(ok as i64)
        .bind(status)
        .bind(&evidence)
        .bind(started.elapsed().as_millis() as i64)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
        if ok {
            return Ok(Ok(()));
        }
        last = summary;
        if refused.is_some() {
            break; // no retry makes a refused address allowed
        }
        if attempt <= p.retries {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    Ok(Err(last))
}

async fn cd_run_of(db: &Db, change_id: &str) -> Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT cd_run_id FROM change_requests WHERE id = $1")
            .bind(change_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// The CD pipeline goes on: a change request for the environment after this one, or the
/// CD run succeeds when this was the last. Idempotent (the proposal is found again).
async fn promote(r: &Runner, d: &Deployment) -> Result<()> {
    let row = sqlx::query("SELECT cd_run_id, ci_run_id FROM change_requests WHERE id = $1")
        .bind(&d.change_id)
        .fetch_one(&r.db.pool)
        .await?;
    let (cd_id, ci_id): (String, String) = (row.try_get("cd_run_id")?, row.try_get("ci_run_id")?);
    let (Some(cd), Some(ci)) = (
        runs::get(&r.db, &cd_id).await?,
        runs::get(&r.db, &ci_id).await?,
    ) else {
        return Ok(());
    };
    if cd.branch.starts_with("rollback/") {
        // A rollback restores one environment; it does not travel on.
        runs::set_state(&r.db, &cd.id, "succeeded", None).await?;
        return Ok(());
    }
    let envs = crate::cd::environments(&r.db).await?;
    let Some(pos) = envs.iter().position(|e| e.id == d.environment_id) else {
        return Ok(());
    };
    let Some(next) = envs.get(pos + 1) else {
        runs::set_state(&r.db, &cd.id, "succeeded", None).await?;
        return Ok(());
    };
    crate::cd::propose_next(r, &ci, &cd, next).await
}
