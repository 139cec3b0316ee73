//! Re-rendering an open change on its environment branch's new head, after another change
//! merged there first. The proposal branch moves to a new commit (compare-and-swap), so the
//! change gets a new head and the approvals given for the old one no longer count.

use super::propose::{prepare, published};
use super::Env;
use crate::apps;
use crate::repos::lock::with_repo_lock;
use crate::runner::{JobError, Runner};
use crate::runs;
use anyhow::Context;
use app::changes::store;
use fluxgate_core::db::now_text;
use git2::Oid;

/// The `rebase` job.
pub async fn rebase(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let id = payload["change_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("rebase job without change_id"))?;
    let Some(change) = store::get(&r.db, id).await.map_err(JobError::retry)? else {
        return Ok(());
    };
    if !change.is_open() {
        return Ok(()); // merged, superseded or rejected meanwhile
    }
    let ci = runs::get(&r.db, &change.ci_run_id)
        .await?
        .ok_or_else(|| JobError::fatal("the change's CI run is gone"))?;
    let env = super::environments(&r.db)
        .await?
        .into_iter()
        .find(|e| e.name == change.environment)
        .ok_or_else(|| JobError::fatal("the change's environment is gone"))?;
    let app = apps::get(&r.db, &ci.app_id)
        .await?
        .ok_or_else(|| JobError::fatal("the app is gone"))?;
    let (templates, images, kind) = match published(r, &ci).await {
        Ok(p) => p,
        Err(super::propose::ProposeError::Content(m)) => return Err(JobError::fatal(m)),
        Err(super::propose::ProposeError::Other(e)) => {
            return Err(JobError::retry(format!("{e:#}")))
        }
    };
    let gitops = super::gitops_repo_path(&r.db, &r.config.data_dir).await?;
    let scratch = r.config.data_dir.join("work").join(format!("rebase-{id}"));
    let old_head = Oid::from_str(&change.head_commit).map_err(JobError::fatal)?;
    let anchor = crate::audit_anchors::trailer(&r.db)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let message = format!(
        "{} {} to {} (re-rendered on the new base)\n\nApp: {}\nCommit: {}\nCI run: {}\nChange: {}\n{anchor}",
        app.name,
        change.short_commit(),
        env.name,
        app.name,
        change.app_commit,
        ci.id,
        id
    );
    let (branch, env_c): (String, Env) = (change.proposal_branch.clone(), env.clone());
    let remote = app::git::remote::load(&r.db)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let prepared = crate::pipeline::templates::render_blocking(move || {
        let result = with_repo_lock(&gitops, || {
            prepare(
                &gitops,
                remote.as_ref(),
                &app.name,
                &env_c,
                &templates,
                kind,
                &images,
                &scratch,
                &branch,
                &message,
                Some(old_head),
            )
        });
        let _ = std::fs::remove_dir_all(&scratch);
        result
    })
    .await
    .map_err(JobError::fatal)?;
    let p = match prepared {
        Ok(Some(p)) => p,
        // The new base already holds exactly this render: nothing left to merge.
        Ok(None) => {
            sqlx::query("UPDATE change_requests SET state = 'superseded', updated_at = $1 WHERE id = $2 AND state IN ('open', 'approved') AND merging_since IS NULL")
                .bind(now_text())
                .bind(id)
                .execute(&r.db.pool)
                .await
                .map_err(JobError::retry)?;
            fluxgate_core::live::announce(&r.db, &format!("change:{id}")).await;
            return Ok(());
        }
        Err(super::propose::ProposeError::Content(m)) => return Err(JobError::fatal(m)),
        Err(super::propose::ProposeError::Other(e)) => {
            return Err(JobError::retry(format!("{e:#}")))
        }
    };
    sqlx::query(
        "UPDATE change_requests SET head_commit = $1, base_commit = $2, summary = $3, risks = $4,
                diff = $5, state = 'open', updated_at = $6
         WHERE id = $7 AND state IN ('open', 'approved') AND merging_since IS NULL",
    )
    .bind(p.head.to_string())
    .bind(p.base.to_string())
    .bind(p.summary.to_string())
    .bind(p.risks.to_string())
    .bind(&p.diff_json)
    .bind(now_text())
    .bind(id)
    .execute(&r.db.pool)
    .await
    .context("storing the re-rendered change")?;
    app::audit::ssr::append(
        &r.db,
        "fluxgate",
        "change.rebase",
        &format!("change:{id}"),
        serde_json::json!({ "head": p.head.to_string(), "base": p.base.to_string() }),
    )
    .await
    .map_err(JobError::retry)?;
    tracing::info!(change = %id, head = %p.head, "change re-rendered on the new base");
    Ok(())
}
