//! One proposal: render the CI run's published templates with an environment's values,
//! write templates + rendered objects on a new `proposals/<env>/<id>` branch made from
//! the environment branch's head, diff against what the branch holds now, and store the
//! change request.

use super::Env;
use crate::apps;
use crate::pipeline::definition::TemplateKind;
use crate::pipeline::templates::{render_chart, render_templates, ImageRef, Overlay, Release};
use crate::repos::lock::with_repo_lock;
use crate::repos::tree::{self, Edit};
use crate::runner::logs::LogWriter;
use crate::runner::Runner;
use crate::runs::{self, Run, StepEnd};
use anyhow::Context;
use app::changes::store::{self as changes, NewChange};
use app::git::remote::{self, GitopsRemote};
use fluxgate_core::db::new_id;
use git2::{Oid, Repository, Signature};
use kustomize::{self as render, yaml_emit};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// An opened change request.
#[derive(Clone, Debug)]
pub struct Proposal {
    pub change_id: String,
    pub branch: String,
    pub head: String,
}

pub enum ProposeError {
    /// The templates or values are wrong; retrying cannot help.
    Content(String),
    /// Something else (database, disk); worth a retry.
    Other(anyhow::Error),
}

impl From<app::error::AppError> for ProposeError {
    fn from(e: app::error::AppError) -> Self {
        ProposeError::Other(e.into())
    }
}

impl From<anyhow::Error> for ProposeError {
    fn from(e: anyhow::Error) -> Self {
        ProposeError::Other(e)
    }
}

/// The file an object is kept in under `apps/<app>/rendered/`:
/// `<kind>_<namespace>_<name>.yaml` (namespace empty for cluster-wide objects).
pub fn rendered_file_name(kind: &str, namespace: &str, name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}_{}_{}.yaml",
        clean(&kind.to_ascii_lowercase()),
        clean(namespace),
        clean(name)
    )
}

/// What the blocking part computed.
pub(super) struct Prepared {
    pub head: Oid,
    pub base: Oid,
    pub diff_json: String,
    pub summary: serde_json::Value,
    pub risks: serde_json::Value,
    pub objects: usize,
}

pub async fn propose(
    r: &Runner,
    ci: &Run,
    cd: &Run,
    env: &Env,
) -> Result<Option<Proposal>, ProposeError> {
    if let Some(id) = changes::for_cd_run(&r.db, &cd.id, &env.id).await? {
        let c = changes::get(&r.db, &id)
            .await?
            .context("change request vanished")?;
        return Ok(Some(Proposal {
            change_id: id,
            branch: c.proposal_branch,
            head: c.head_commit,
        }));
    }
    let app = apps::get(&r.db, &ci.app_id)
        .await?
        .context("the app was deleted")?;
    let (templates, images, kind) = published(r, ci).await?;

    let step = runs::add_step(
        &r.db,
        &cd.id,
        &format!("propose to {}", env.name),
        &format!("render and open a change request on {}", env.branch),
    )
    .await?;
    runs::step_started(&r.db, &cd.id, step).await?;
    let logs = LogWriter::start(r.db.clone(), cd.id.clone()).await?;
    let started = Instant::now();

    let deployed = super::authors::deployed(&r.db, &app.id, &env.id).await?;
    let keys = app::keys::ssr::known(&r.db)
        .await
        .map_err(|e| ProposeError::Other(anyhow::anyhow!("{e}")))?;
    let identities = {
        let mirror = crate::apps::mirror_path(&r.config.data_dir, &app);
        let head = ci.commit_sha.clone();
        tokio::task::spawn_blocking(move || {
            crate::repos::lock::with_repo_lock(&mirror, || {
                super::authors::identities(&mirror, &head, deployed.as_deref(), &keys)
            })
        })
        .await
        .map_err(|e| ProposeError::Other(e.into()))?
        .map_err(|e| ProposeError::Content(format!("reading the change's authors: {e:#}")))?
    };

    let change_id = new_id();
    let branch = format!("proposals/{}/{}", env.name, change_id);
    let gitops = super::gitops_repo_path(&r.db, &r.config.data_dir).await?;
    let scratch = r
        .config
        .data_dir
        .join("work")
        .join(format!("{}-{}", cd.id, env.name));
    let image_refs: Vec<String> = images.iter().map(ImageRef::reference).collect();
    let anchor = crate::audit_anchors::trailer(&r.db)
        .await
        .map_err(ProposeError::Other)?;
    let message = format!(
        "{app} {sha} to {env}\n\nApp: {app}\nCommit: {commit}\nCI run: {ci_run}\nCD run: {cd_run}\nImages: {images}\n{anchor}",
        app = app.name,
        sha = &ci.commit_sha[..ci.commit_sha.len().min(7)],
        env = env.name,
        commit = ci.commit_sha,
        ci_run = ci.id,
        cd_run = cd.id,
        images = if image_refs.is_empty() { "none".to_string() } else { image_refs.join(", ") },
    );
    let prepared = {
        let (app_name, env, branch, message, scratch, gitops) = (
            app.name.clone(),
            env.clone(),
            branch.clone(),
            message.clone(),
            scratch.clone(),
            gitops.clone(),
        );
        let remote = app::git::remote::load(&r.db)
            .await
            .map_err(ProposeError::Other)?;
        crate::pipeline::templates::render_blocking(move || {
            let result = with_repo_lock(&gitops, || {
                prepare(
                    &gitops,
                    remote.as_ref(),
                    &app_name,
                    &env,
                    &templates,
                    kind,
                    &images,
                    &scratch,
                    &branch,
                    &message,
                    None,
                )
            });
            let _ = std::fs::remove_dir_all(&scratch);
            result
        })
        .await
        .map_err(ProposeError::Content)?
    };
    let outcome = match prepared {
        Ok(p) => p,
        Err(e) => {
            let text = match &e {
                ProposeError::Content(m) => m.clone(),
                ProposeError::Other(e) => format!("{e:#}"),
            };
            logs.system(step, &text).await;
            let _ = logs.finish().await;
            finish_step(r, cd, step, "failed", started).await?;
            return Err(e);
        }
    };
    let Some(p) = outcome else {
        logs.system(
            step,
            format!(
                "{} already holds exactly this render: nothing to propose",
                env.branch
            ),
        )
        .await;
        logs.finish().await?;
        finish_step(r, cd, step, "succeeded", started).await?;
        return Ok(None);
    };
    let title = format!(
        "{} {} to {}",
        app.name,
        &ci.commit_sha[..ci.commit_sha.len().min(7)],
        env.name
    );
    changes::open(
        &r.db,
        NewChange {
            id: &change_id,
            app_id: &app.id,
            environment_id: &env.id,
            cd_run_id: &cd.id,
            ci_run_id: &ci.id,
            app_commit: &ci.commit_sha,
            author: &ci.author,
            identities: &identities,
            title: &title,
            images: &serde_json::json!(image_refs),
            proposal_branch: &branch,
            head_commit: &p.head.to_string(),
            base_commit: &p.base.to_string(),
            summary: &p.summary,
            risks: &p.risks,
            diff: &p.diff_json,
            rollback: false,
        },
    )
    .await?;
    logs.system(
        step,
        format!(
            "rendered {} objects; change request {change_id} opened on {branch} ({} → {}); {}",
            p.objects,
            &p.base.to_string()[..7],
            &p.head.to_string()[..7],
            p.summary
        ),
    )
    .await;
    logs.finish().await?;
    finish_step(r, cd, step, "succeeded", started).await?;
    Ok(Some(Proposal {
        change_id,
        branch,
        head: p.head.to_string(),
    }))
}

/// What a CI run published: the template files, the image references, the template kind.
pub(super) async fn published(
    r: &Runner,
    ci: &Run,
) -> Result<(Vec<(String, String)>, Vec<ImageRef>, TemplateKind), ProposeError> {
    let artifacts = runs::artifacts(&r.db, &ci.id).await?;
    let Some((_, meta)) = artifacts.iter().find(|(p, _)| p == "images.json") else {
        return Err(ProposeError::Content(
            "the CI run published nothing: add a `uses: publish` step to the ci steps".into(),
        ));
    };
    let meta: serde_json::Value = serde_json::from_str(meta).context("images.json")?;
    let images: Vec<ImageRef> =
        serde_json::from_value(meta["images"].clone()).context("images.json")?;
    let kind = match meta["template_kind"].as_str() {
        Some("plain") => TemplateKind::Plain,
        Some("helm") => TemplateKind::Helm,
        _ => TemplateKind::Kustomize,
    };
    let templates: Vec<(String, String)> = artifacts
        .iter()
        .filter_map(|(p, c)| {
            p.strip_prefix("templates/")
                .map(|p| (p.to_string(), c.clone()))
        })
        .collect();

    Ok((templates, images, kind))
}

async fn finish_step(
    r: &Runner,
    cd: &Run,
    step: i64,
    state: &str,
    started: Instant,
) -> anyhow::Result<()> {
    runs::step_finished(
        &r.db,
        &cd.id,
        step,
        StepEnd {
            state,
            exit_code: None,
            outputs: &serde_json::json!({}),
            lines_dropped: 0,
            duration_ms: started.elapsed().as_millis() as i64,
        },
    )
    .await
}

/// Context lines that cover any real object (similar's grouping misbehaves near usize::MAX).
const WHOLE_OBJECT_CONTEXT: usize = 1_000_000;

#[allow(clippy::too_many_arguments)]
pub(super) fn prepare(
    gitops: &Path,
    remote: Option<&GitopsRemote>,
    app: &str,
    env: &Env,
    templates: &[(String, String)],
    kind: TemplateKind,
    images: &[ImageRef],
    scratch: &Path,
    branch: &str,
    message: &str,
    replace: Option<Oid>,
) -> Result<Option<Prepared>, ProposeError> {
    let content = ProposeError::Content;
    let repo = Repository::open_bare(gitops)
        .with_context(|| format!("opening the GitOps repository {}", gitops.display()))?;
    if let Some(remote) = remote {
        // Build on what the remote has, not on what fluxgate last saw.
        remote::pull_branch(&repo, remote, &env.branch)?;
    }
    let base = tree::branch_head(&repo, &env.branch)?.ok_or_else(|| {
        content(format!(
            "branch {} does not exist in the GitOps repository",
            env.branch
        ))
    })?;
    let app_dir = format!("apps/{app}");
    let values_path = format!("{app_dir}/values.yaml");
    let values_text = tree::read_file(&repo, base, &values_path)?.ok_or_else(|| {
        content(format!("{values_path} is missing on {}: the cluster admins keep the environment's values there", env.branch))
    })?;
    let values_text = String::from_utf8(values_text)
        .map_err(|_| content(format!("{values_path} is not UTF-8")))?;
    // For a Helm chart the file is the release's values file; otherwise it holds the
    // `${VAR}` values of Flux's post-build substitution.
    let values = match kind {
        TemplateKind::Helm => None,
        _ => Some(
            render::parse_values(&values_text)
                .map_err(|e| content(format!("{values_path} on {}: {e}", env.branch)))?,
        ),
    };

    // The published templates, written out for the renderer.
    let _ = std::fs::remove_dir_all(scratch);
    let dir = scratch.join("templates");
    for (path, text) in templates {
        tree::check_path(path).map_err(|e| content(e.to_string()))?;
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap_or(&dir)).context("scratch folder")?;
        std::fs::write(&file, text).context("scratch folder")?;
    }
    let overlay = Overlay {
        namespace: Some(env.namespace.clone()),
        images: images.to_vec(),
    };
    let objects = match &values {
        Some(values) => render_templates(&dir, kind, scratch, &overlay, Some(values), true),
        None => {
            let release = Release {
                name: app,
                namespace: &env.namespace,
                values: Some((values_path.as_str(), values_text.as_str())),
            };
            render_chart(&dir, scratch, &overlay, &release)
        }
    }
    .map_err(|e| content(format!("rendering for {} failed: {e:#}", env.name)))?;
    let values: Vec<_> = objects.iter().map(|o| o.value.clone()).collect();
    let cleartext = crate::pipeline::cleartext::cleartext_secrets(&values);
    if !cleartext.is_empty() {
        return Err(content(crate::pipeline::cleartext::refusal(&cleartext)));
    }

    let mut rendered: BTreeMap<String, String> = BTreeMap::new();
    for o in &objects {
        let name = rendered_file_name(o.kind(), o.namespace(), o.name());
        if rendered
            .insert(name.clone(), yaml_emit::emit_document(&o.value))
            .is_some()
        {
            return Err(content(format!(
                "two rendered objects map to the same file {name}"
            )));
        }
    }
    let mut edits = vec![
        Edit::Remove {
            path: format!("{app_dir}/templates"),
        },
        Edit::Remove {
            path: format!("{app_dir}/rendered"),
        },
    ];
    for (path, text) in templates {
        edits.push(Edit::Put {
            path: format!("{app_dir}/templates/{path}"),
            content: text.clone().into_bytes(),
        });
    }
    let mut app_kustomization = String::from(
        "# Written by fluxgate: what Flux applies for this app (the rendered objects only).\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for (name, text) in &rendered {
        edits.push(Edit::Put {
            path: format!("{app_dir}/rendered/{name}"),
            content: text.clone().into_bytes(),
        });
        app_kustomization.push_str(&format!("- rendered/{name}\n"));
    }
    edits.push(Edit::Put {
        path: format!("{app_dir}/kustomization.yaml"),
        content: app_kustomization.into_bytes(),
    });
    edits.push(Edit::Put {
        path: "apps/kustomization.yaml".into(),
        content: apps_kustomization(&repo, base, app)?.into_bytes(),
    });

    // The diff first: a render that cannot be diffed must not leave a branch behind.
    let before = rendered_objects(&repo, base, &app_dir).map_err(|e| {
        content(format!(
            "the objects now on {} do not parse: {e:#}",
            env.branch
        ))
    })?;
    let mut after = Vec::new();
    for (name, text) in &rendered {
        after.extend(
            manifest_diff::parse_objects(&format!("{app_dir}/rendered/{name}"), text)
                .map_err(|e| content(e.to_string()))?,
        );
    }
    let changes = manifest_diff::diff(&before, &after, 3).map_err(|e| content(e.to_string()))?;
    // The same diff with the whole object as context, for "show the whole object" on the
    // change page. It comes from the same redacted objects, so Secret values stay sealed.
    let whole = manifest_diff::diff(&before, &after, WHOLE_OBJECT_CONTEXT)
        .map_err(|e| content(e.to_string()))?;
    let mut diff_value = serde_json::to_value(&changes).context("diff to JSON")?;
    if let Some(objects) = diff_value["objects"].as_array_mut() {
        for (o, w) in objects.iter_mut().zip(&whole.objects) {
            if w.status != manifest_diff::Status::Unchanged {
                o["whole_hunks"] = serde_json::to_value(&w.hunks).context("diff to JSON")?;
            }
        }
    }

    let who = Signature::now("fluxgate", "fluxgate@localhost").context("signature")?;
    let Some(head) = tree::commit_edits(&repo, base, branch, replace, &edits, message, &who)?
    else {
        return Ok(None);
    };
    remote::publish(&repo, remote, branch, replace, head).map_err(anyhow::Error::from)?;
    Ok(Some(Prepared {
        head,
        base,
        diff_json: diff_value.to_string(),
        summary: serde_json::to_value(changes.summary).context("summary")?,
        risks: serde_json::to_value(&changes.risks).context("risks")?,
        objects: objects.len(),
    }))
}

/// `apps/kustomization.yaml`: every app folder on the branch that has its kustomization,
/// plus this app, so Flux's Kustomization at `./apps` applies all of them.
fn apps_kustomization(repo: &Repository, base: Oid, app: &str) -> anyhow::Result<String> {
    let mut names = std::collections::BTreeSet::new();
    names.insert(app.to_string());
    let root = repo.find_commit(base)?.tree()?;
    if let Ok(entry) = root.get_path(Path::new("apps")) {
        if let Ok(apps) = repo.find_tree(entry.id()) {
            for e in apps.iter() {
                if let (Ok(name), Some(git2::ObjectType::Tree)) = (e.name(), e.kind()) {
                    let sub = repo.find_tree(e.id())?;
                    if sub.get_name("kustomization.yaml").is_some() {
                        names.insert(name.to_string());
                    }
                }
            }
        }
    }
    let mut k = String::from("# Written by fluxgate: one entry per app deployed to this environment.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for n in names {
        k.push_str(&format!("- {n}\n"));
    }
    Ok(k)
}

/// The objects an app has on a commit of the GitOps repository (`apps/<app>/rendered/`),
/// for diffing against another render.
pub(super) fn rendered_objects(
    repo: &Repository,
    commit: Oid,
    app_dir: &str,
) -> anyhow::Result<Vec<manifest_diff::Object>> {
    let mut out = Vec::new();
    for (name, bytes) in tree::read_dir(repo, commit, &format!("{app_dir}/rendered"))? {
        out.extend(manifest_diff::parse_objects(
            &format!("{app_dir}/rendered/{name}"),
            &String::from_utf8_lossy(&bytes),
        )?);
    }
    Ok(out)
}
