//! The Apps pages: each application, its recent commits and where each one is now, and the
//! traceability timeline of one commit (PR and CI runs, image, each environment's change
//! request, reviews, merge, applied, verified).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRow {
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    pub last_polled_at: Option<String>,
    pub repo_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRow {
    pub sha: String,
    pub message: String,
    pub author: String,
    pub branch: String,
    pub ci: Option<String>,
    /// (environment, change state) for each environment this commit reached.
    pub envs: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub id: String,
    pub environment: String,
    pub commit: String,
    pub images: Vec<String>,
    pub merged_by: String,
    pub merged_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub at: String,
    pub what: String,
    pub link: Option<String>,
}

#[server(endpoint = "list_apps")]
pub async fn list_apps() -> Result<Vec<AppRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::apps(&crate::auth::ssr::db()?)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "app_commits")]
pub async fn app_commits(app: String) -> Result<Vec<CommitRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::commits(&crate::auth::ssr::db()?, &app)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "app_deployments")]
pub async fn app_deployments(app: String) -> Result<Vec<DeploymentRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::deployments(&crate::auth::ssr::db()?, &app)
        .await
        .map_err(AppError::with_status)
}

/// Opens (through the runner) a change request that restores an earlier deployment. It
/// goes through the environment's policy like any change; the requester is its author.
#[server(endpoint = "request_rollback")]
pub async fn request_rollback(deployment: String) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Developer).await?;
    ssr::request_rollback(&crate::auth::ssr::db()?, &deployment, &user.name)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "commit_trace")]
pub async fn commit_trace(app: String, sha: String) -> Result<Vec<TraceEntry>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::trace(&crate::auth::ssr::db()?, &app, &sha)
        .await
        .map_err(AppError::with_status)
}

#[component]
pub fn AppsPage() -> impl IntoView {
    let apps = Resource::new(|| (), |_| list_apps());
    view! {
        <leptos_meta::Title text="Apps"/>
        <div class="page-head"><h1>"Apps"</h1><p class="muted">"Registered application repositories."</p></div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match apps.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No apps yet: register one with `fluxgate app add`."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid="apps">
                            <thead><tr><th>"App"</th><th>"Repository"</th><th>"Default branch"</th><th>"Last fetch"</th></tr></thead>
                            <tbody>{list.into_iter().map(|a| view! {
                                <tr>
                                    <td><A href=format!("/apps/{}", a.name)>{a.name.clone()}</A></td>
                                    <td><code>{a.repo_url}</code></td>
                                    <td><code>{a.default_branch}</code></td>
                                    <td>{match a.repo_error {
                                        Some(e) => view! { <span class="error">{e}</span> }.into_any(),
                                        None => view! { <span>{a.last_polled_at.unwrap_or_else(|| "not yet".into())}</span> }.into_any(),
                                    }}</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AppPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let commits = Resource::new(name, app_commits);
    let rollback = ServerAction::<RequestRollback>::new();
    let deployments = Resource::new(name, app_deployments);
    view! {
        <leptos_meta::Title text=name()/>
        <div class="page-head"><h1>{name}</h1><p class="muted">"Recent commits and where each one is now."</p></div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match commits.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No runs for this app yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid="commits">
                            <thead><tr><th>"Commit"</th><th>"Branch"</th><th>"CI"</th><th>"Environments"</th></tr></thead>
                            <tbody>{list.into_iter().map(|c| {
                                let href = format!("/apps/{}/commits/{}", name(), c.sha);
                                view! {
                                    <tr>
                                        <td><A href=href><code>{c.sha[..7.min(c.sha.len())].to_string()}</code></A>{format!(" {}", c.message.lines().next().unwrap_or(""))}<div class="muted">{c.author}</div></td>
                                        <td><code>{c.branch}</code></td>
                                        <td>{c.ci.map(|s| view! { <span class=format!("badge state-{s}")>{s.clone()}</span> })}</td>
                                        <td>{c.envs.into_iter().map(|(env, state)| view! { <span class=format!("badge state-{state}")>{format!("{env}: {state}")}</span>" " }).collect_view()}</td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
        <h2>"Deployment history"</h2>
        {move || rollback.value().get().map(|r| match r {
            Ok(text) => view! { <p class="ok" role="status">{text}</p> }.into_any(),
            Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match deployments.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"Nothing merged yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid="deployments">
                            <thead><tr><th>"Environment"</th><th>"Commit"</th><th>"Images"</th><th>"Merged"</th><th></th></tr></thead>
                            <tbody>{list.into_iter().map(|d| {
                                let id = d.id.clone();
                                view! {
                                    <tr>
                                        <td>{d.environment}</td>
                                        <td><code>{d.commit[..7.min(d.commit.len())].to_string()}</code></td>
                                        <td>{format!("{} ", d.images.join(", "))}</td>
                                        <td>{format!("{} by {}", d.merged_at, d.merged_by)}</td>
                                        <td><button on:click=move |_| { rollback.dispatch(RequestRollback { deployment: id.clone() }); }>"Roll back to this"</button></td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn CommitPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("name").unwrap_or_default(),
                p.get("sha").unwrap_or_default(),
            )
        })
    };
    let trace = Resource::new(key, |(app, sha)| commit_trace(app, sha));
    let title = move || format!("{} at {}", key().0, &key().1[..7.min(key().1.len())]);
    view! {
        <leptos_meta::Title text=title/>
        <div class="page-head">
            <h1>{title}</h1>
            <p class="muted">"Everything that happened to this commit, oldest first."</p>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match trace.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) => view! {
                        <ol class="timeline" data-testid="trace">
                            {list.into_iter().map(|t| view! {
                                <li><time>{t.at}</time>" "{match t.link {
                                    Some(href) => view! { <A href=href>{t.what.clone()}</A> }.into_any(),
                                    None => view! { <span>{t.what.clone()}</span> }.into_any(),
                                }}</li>
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{AppRow, CommitRow, DeploymentRow, TraceEntry};
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row;

    pub async fn apps(db: &Db) -> Result<Vec<AppRow>, AppError> {
        let rows = sqlx::query(
            "SELECT a.name, a.repo_url, a.default_branch, s.last_polled_at, s.last_error
             FROM apps a LEFT JOIN app_repo_state s ON s.app_id = a.id ORDER BY a.name LIMIT 500",
        )
        .fetch_all(&db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AppRow {
                    name: r.try_get("name")?,
                    repo_url: r.try_get("repo_url")?,
                    default_branch: r.try_get("default_branch")?,
                    last_polled_at: r.try_get("last_polled_at")?,
                    repo_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn app_id(db: &Db, app: &str) -> Result<String, AppError> {
        let row = sqlx::query("SELECT id FROM apps WHERE name = $1")
            .bind(app)
            .fetch_optional(&db.pool)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("app {app}")))?;
        Ok(row.try_get("id")?)
    }

    pub async fn commits(db: &Db, app: &str) -> Result<Vec<CommitRow>, AppError> {
        let id = app_id(db, app).await?;
        let runs = sqlx::query(
            "SELECT commit_sha, message, author, branch, kind, state FROM runs
             WHERE app_id = $1 AND kind IN ('pr', 'ci') ORDER BY id DESC LIMIT 100",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await?;
        let mut out: Vec<CommitRow> = Vec::new();
        for r in runs {
            let sha: String = r.try_get("commit_sha")?;
            if out.iter().any(|c| c.sha == sha) {
                continue;
            }
            let changes = sqlx::query(
                "SELECT e.name, c.state FROM change_requests c JOIN environments e ON e.id = c.environment_id
                 WHERE c.app_id = $1 AND c.app_commit = $2 ORDER BY e.position",
            )
            .bind(&id)
            .bind(&sha)
            .fetch_all(&db.pool)
            .await?;
            out.push(CommitRow {
                sha,
                message: r.try_get("message")?,
                author: r.try_get("author")?,
                branch: r.try_get("branch")?,
                ci: Some(r.try_get("state")?),
                envs: changes
                    .iter()
                    .map(|c| Ok((c.try_get("name")?, c.try_get("state")?)))
                    .collect::<Result<_, AppError>>()?,
            });
        }
        Ok(out)
    }

    pub async fn deployments(db: &Db, app: &str) -> Result<Vec<DeploymentRow>, AppError> {
        let id = app_id(db, app).await?;
        let rows = sqlx::query(
            "SELECT d.id, e.name, d.app_commit, d.images, d.merged_by, d.merged_at FROM deployments d
             JOIN environments e ON e.id = d.environment_id WHERE d.app_id = $1 ORDER BY d.id DESC LIMIT 50",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeploymentRow {
                    id: r.try_get("id")?,
                    environment: r.try_get("name")?,
                    commit: r.try_get("app_commit")?,
                    images: serde_json::from_str(&r.try_get::<String, _>("images")?)
                        .unwrap_or_default(),
                    merged_by: r.try_get("merged_by")?,
                    merged_at: r.try_get("merged_at")?,
                })
            })
            .collect()
    }

    pub async fn request_rollback(
        db: &Db,
        deployment: &str,
        user: &str,
    ) -> Result<String, AppError> {
        let exists = sqlx::query("SELECT id FROM deployments WHERE id = $1")
            .bind(deployment)
            .fetch_optional(&db.pool)
            .await?;
        if exists.is_none() {
            return Err(AppError::NotFound("deployment".into()));
        }
        use fluxgate_core::jobs::{self, Kind, NewJob};
        jobs::enqueue(
            db,
            NewJob::new(
                Kind::Rollback,
                serde_json::json!({ "deployment_id": deployment, "user": user }),
            )
            .attempts(3),
        )
        .await
        .map_err(AppError::internal)?;
        Ok("A rollback change request is being prepared; it will appear under Changes and needs approval like any change.".into())
    }

    pub async fn trace(db: &Db, app: &str, sha: &str) -> Result<Vec<TraceEntry>, AppError> {
        let id = app_id(db, app).await?;
        let mut out = Vec::new();
        let runs = sqlx::query(
            "SELECT id, kind, branch, state, image_tag, created_at, finished_at FROM runs
             WHERE app_id = $1 AND commit_sha = $2 ORDER BY id",
        )
        .bind(&id)
        .bind(sha)
        .fetch_all(&db.pool)
        .await?;
        for r in runs {
            let (run, kind, state): (String, String, String) =
                (r.try_get("id")?, r.try_get("kind")?, r.try_get("state")?);
            let branch: String = r.try_get("branch")?;
            let tag: String = r.try_get("image_tag")?;
            out.push(TraceEntry {
                at: r.try_get("created_at")?,
                what: format!(
                    "{} run on {branch}: {state}{}",
                    kind.to_uppercase(),
                    if kind == "ci" {
                        format!(" (image tag {tag})")
                    } else {
                        String::new()
                    }
                ),
                link: Some(format!("/runs/{run}")),
            });
        }
        let changes = sqlx::query(
            "SELECT c.id, e.name, c.state, c.created_at, c.images FROM change_requests c
             JOIN environments e ON e.id = c.environment_id WHERE c.app_id = $1 AND c.app_commit = $2 ORDER BY c.id",
        )
        .bind(&id)
        .bind(sha)
        .fetch_all(&db.pool)
        .await?;
        for c in changes {
            let cid: String = c.try_get("id")?;
            let env: String = c.try_get("name")?;
            let images: Vec<String> = fluxgate_core::db::decode_json(
                "images of a change request",
                &c.try_get::<String, _>("images")?,
            )?;
            out.push(TraceEntry {
                at: c.try_get("created_at")?,
                what: format!(
                    "change request for {env} opened ({}), now {}",
                    images.join(", "),
                    c.try_get::<String, _>("state")?
                ),
                link: Some(format!("/changes/{cid}")),
            });
            for e in crate::audit::ssr::for_target(db, &format!("change:{cid}")).await? {
                out.push(TraceEntry {
                    at: e.at,
                    what: format!(
                        "{env}: {} by {}",
                        e.action.trim_start_matches("change."),
                        e.actor
                    ),
                    link: None,
                });
            }
            let deployments = sqlx::query(
                "SELECT id, environment_id, merged_at, applied_at, verified_at FROM deployments WHERE change_id = $1",
            )
            .bind(&cid)
            .fetch_all(&db.pool)
            .await?;
            for d in deployments {
                let (dep_id, env_id, merged_at): (String, String, String) = (
                    d.try_get("id")?,
                    d.try_get("environment_id")?,
                    d.try_get("merged_at")?,
                );
                let since = (merged_at.as_str(), dep_id.as_str());
                let back = crate::changes::upstream::rolled_back_from(db, &id, &env_id, sha, since)
                    .await?;
                if let Some((to, change, at)) = back {
                    out.push(TraceEntry {
                        at,
                        what: format!(
                            "{env}: rolled back to commit {} (change {change})",
                            &to[..7.min(to.len())]
                        ),
                        link: Some(format!("/changes/{change}")),
                    });
                }
                if let Some(at) = d.try_get::<Option<String>, _>("applied_at")? {
                    out.push(TraceEntry {
                        at,
                        what: format!("{env}: applied by Flux"),
                        link: None,
                    });
                }
                if let Some(at) = d.try_get::<Option<String>, _>("verified_at")? {
                    out.push(TraceEntry {
                        at,
                        what: format!("{env}: verified"),
                        link: None,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(out)
    }
}
