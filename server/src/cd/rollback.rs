//! Rolling an environment back to an earlier deployment: a change request that restores the
//! app's files (templates, rendered objects, its kustomization) as they were at that
//! deployment, on a new proposal branch from the environment branch's head. It goes
//! through the same policy as any change; the person who asked for it counts as its author.
//! The environment's values file stays as it is now (the cluster admins own it); the
//! restored rendered objects are the ones that were approved and applied then.

use crate::repos::lock::with_repo_lock;
use crate::repos::tree::{self, Edit};
use crate::runner::{JobError, Runner};
use crate::runs::{self, Kind, NewRun};
use anyhow::Context;
use app::changes::store::{self, NewChange};
use app::git::remote::{self, GitopsRemote};
use fluxgate_core::db::new_id;
use git2::{Oid, Repository, Signature};
use sqlx::Row;

/// The `rollback` job: `{deployment_id, user}`.
pub async fn rollback(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let (Some(deployment), Some(user)) =
        (payload["deployment_id"].as_str(), payload["user"].as_str())
    else {
        return Err(JobError::fatal(
            "rollback job without deployment_id or user",
        ));
    };
    let row = sqlx::query(
        "SELECT d.app_id, d.environment_id, d.gitops_commit, d.app_commit, d.images, d.change_id,
                a.name AS app, e.name AS env, e.branch
         FROM deployments d JOIN apps a ON a.id = d.app_id JOIN environments e ON e.id = d.environment_id
         WHERE d.id = $1",
    )
    .bind(deployment)
    .fetch_optional(&r.db.pool)
    .await
    .map_err(JobError::retry)?
    .ok_or_else(|| JobError::fatal("no such deployment"))?;
    let get = |c: &str| -> Result<String, JobError> {
        row.try_get::<String, _>(c).map_err(JobError::fatal)
    };
    let (app_id, env_id, old_commit, app_commit) = (
        get("app_id")?,
        get("environment_id")?,
        get("gitops_commit")?,
        get("app_commit")?,
    );
    let (app, env, branch, old_change) =
        (get("app")?, get("env")?, get("branch")?, get("change_id")?);
    let images: serde_json::Value =
        fluxgate_core::db::decode_json("images of a deployment", &get("images")?)
            .map_err(JobError::fatal)?;
    let old = store::get(&r.db, &old_change)
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| JobError::fatal("the deployment's change is gone"))?;

    // A run of its own, so the change request has its CD run (one per rollback request).
    let marker = format!("rollback/{deployment}/{}", new_id());
    let cd_id = runs::create(
        &r.db,
        NewRun {
            app_id: &app_id,
            kind: Kind::Cd,
            commit_sha: &app_commit,
            branch: &marker,
            author: user,
            message: &format!(
                "roll {env} back to {}",
                &app_commit[..7.min(app_commit.len())]
            ),
            parent_run_id: Some(&old.ci_run_id),
        },
    )
    .await?
    .ok_or_else(|| JobError::fatal("rollback run exists"))?;

    let gitops = super::gitops_repo_path(&r.db, &r.config.data_dir).await?;
    let change_id = new_id();
    let proposal = format!("proposals/{env}/{change_id}");
    let anchor = crate::audit_anchors::trailer(&r.db)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let message = format!(
        "{app}: roll {env} back to {}\n\nRequested by: {user}\nDeployment: {deployment}\n{anchor}",
        &app_commit[..7.min(app_commit.len())]
    );
    let (a, b, p, m) = (
        app.clone(),
        branch.clone(),
        proposal.clone(),
        message.clone(),
    );
    let remote = app::git::remote::load(&r.db)
        .await
        .map_err(|e| JobError::retry(format!("{e:#}")))?;
    let prepared = tokio::task::spawn_blocking(move || {
        with_repo_lock(&gitops, || {
            restore(&gitops, remote.as_ref(), &a, &b, &old_commit, &p, &m)
        })
    })
    .await
    .map_err(JobError::retry)?;
    let (head, base, diff_json, summary, risks) = match prepared {
        Ok(Some(x)) => x,
        Ok(None) => {
            runs::set_state(
                &r.db,
                &cd_id,
                "succeeded",
                Some("the environment already runs exactly that deployment"),
            )
            .await?;
            return Ok(());
        }
        Err(e) => {
            runs::set_state(&r.db, &cd_id, "failed", Some(&format!("{e:#}"))).await?;
            return Ok(());
        }
    };
    store::open(
        &r.db,
        NewChange {
            id: &change_id,
            app_id: &app_id,
            environment_id: &env_id,
            cd_run_id: &cd_id,
            ci_run_id: &old.ci_run_id,
            app_commit: &app_commit,
            author: &format!("{user} <rollback>"),
            identities: &[],
            title: &format!(
                "{app} roll back {env} to {}",
                &app_commit[..7.min(app_commit.len())]
            ),
            images: &images,
            proposal_branch: &proposal,
            head_commit: &head,
            base_commit: &base,
            summary: &summary,
            risks: &risks,
            diff: &diff_json,
            rollback: true,
        },
    )
    .await
    .map_err(JobError::retry)?;
    // Whoever asked for the rollback is its author: they may not approve it themselves.
    sqlx::query("UPDATE change_requests SET author_user = $1 WHERE id = $2")
        .bind(user)
        .bind(&change_id)
        .execute(&r.db.pool)
        .await
        .map_err(JobError::retry)?;
    runs::set_state(&r.db, &cd_id, "waiting", None).await?;
    app::audit::ssr::append(
        &r.db,
        user,
        "change.rollback",
        &format!("change:{change_id}"),
        serde_json::json!({ "deployment": deployment, "environment": env, "app": app }),
    )
    .await
    .map_err(JobError::retry)?;
    Ok(())
}

type Restored = (String, String, String, serde_json::Value, serde_json::Value);

fn restore(
    gitops: &std::path::Path,
    remote: Option<&GitopsRemote>,
    app: &str,
    branch: &str,
    old: &str,
    proposal: &str,
    message: &str,
) -> anyhow::Result<Option<Restored>> {
    let repo = Repository::open_bare(gitops)?;
    if let Some(remote) = remote {
        remote::pull_branch(&repo, remote, branch)?;
    }
    let base =
        tree::branch_head(&repo, branch)?.with_context(|| format!("branch {branch} is missing"))?;
    let old = Oid::from_str(old)?;
    let dir = format!("apps/{app}");
    let mut edits = vec![
        Edit::Remove {
            path: format!("{dir}/templates"),
        },
        Edit::Remove {
            path: format!("{dir}/rendered"),
        },
    ];
    for sub in ["templates", "rendered"] {
        for (path, content) in tree::read_dir(&repo, old, &format!("{dir}/{sub}"))? {
            edits.push(Edit::Put {
                path: format!("{dir}/{sub}/{path}"),
                content,
            });
        }
    }
    if let Some(k) = tree::read_file(&repo, old, &format!("{dir}/kustomization.yaml"))? {
        edits.push(Edit::Put {
            path: format!("{dir}/kustomization.yaml"),
            content: k,
        });
    }
    let changes = manifest_diff::diff(
        &super::propose::rendered_objects(&repo, base, &dir)?,
        &super::propose::rendered_objects(&repo, old, &dir)?,
        3,
    )?;
    let who = Signature::now("fluxgate", "fluxgate@localhost")?;
    let Some(head) = tree::commit_edits(&repo, base, proposal, None, &edits, message, &who)? else {
        return Ok(None);
    };
    remote::publish(&repo, remote, proposal, None, head)?;
    Ok(Some((
        head.to_string(),
        base.to_string(),
        serde_json::to_string(&changes)?,
        serde_json::to_value(changes.summary)?,
        serde_json::to_value(&changes.risks)?,
    )))
}
