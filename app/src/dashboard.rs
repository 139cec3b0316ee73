//! The environments dashboard: a matrix of apps × environments (what version runs where,
//! in which state, since when) and a promotion graph of the environments with what is
//! waiting to flow into each. Paged and filtered on the server, so it stays fast with
//! thousands of apps.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// Apps per page of the matrix.
pub const PAGE: i64 = 50;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Short app commit and image tag of the latest merge, if any.
    pub version: Option<String>,
    /// merged | applied | verified, or awaiting approval when only a change is open.
    pub state: String,
    pub since: Option<String>,
    /// An open change request waiting to enter this environment.
    pub pending: Option<String>,
    /// What runs there came by a rollback (an earlier version put back).
    pub rolled_back: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub app: String,
    pub cells: Vec<Cell>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub envs: Vec<String>,
    /// Open change requests per environment, for the promotion graph.
    pub waiting: Vec<i64>,
    pub rows: Vec<Row>,
    pub total_apps: i64,
    pub page: u32,
}

#[server(endpoint = "load_dashboard")]
pub async fn load_dashboard(filter: String, page: u32) -> Result<Dashboard, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::load(&crate::auth::ssr::db()?, &filter, page)
        .await
        .map_err(AppError::with_status)
}

/// Boxes for the environments, arrows between them, each with its open changes.
fn promotion_graph(envs: &[String], waiting: &[i64]) -> impl IntoView {
    let w = 150;
    let gap = 60;
    let width = envs.len() as i32 * (w + gap);
    view! {
        <svg class="promotion-graph" role="img" aria-label="promotion graph" viewBox=format!("0 0 {width} 70") width=width height="70">
            {envs.iter().enumerate().map(|(i, env)| {
                let x = i as i32 * (w + gap);
                let n = waiting.get(i).copied().unwrap_or(0);
                view! {
                    <g>
                        {(i > 0).then(|| view! {
                            <line x1=x - gap + 4 y1="35" x2=x - 6 y2="35" class="edge" marker-end="url(#arrow)"/>
                        })}
                        <rect x=x y="10" width=w height="50" rx="8" class="node"/>
                        <text x=x + w / 2 y="32" text-anchor="middle" class="node-name">{env.clone()}</text>
                        <text x=x + w / 2 y="50" text-anchor="middle" class="node-waiting">
                            {if n == 0 { "nothing waiting".to_string() } else { format!("{n} waiting") }}
                        </text>
                    </g>
                }
            }).collect_view()}
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>
        </svg>
    }
}

#[component]
pub fn DashboardMatrix() -> impl IntoView {
    let query = use_query_map();
    let filter = move || query.with(|q| q.get("app").unwrap_or_default());
    let page = move || query.with(|q| q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0u32));
    // Every published topic (changes, runs, environments, stop-the-line) can move the matrix.
    let heard = crate::live::version(|_| true);
    let data = Resource::new(
        move || (filter(), page(), heard.get()),
        |(f, p, _)| load_dashboard(f, p),
    );
    view! {
        <section class="dashboard">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                        Ok(d) => {
                            let pages = (d.total_apps + PAGE - 1) / PAGE;
                            let f = filter();
                            view! {
                                {promotion_graph(&d.envs, &d.waiting)}
                                <form method="get" action="/" class="filters">
                                    <label>"App " <input name="app" value=f.clone() placeholder="name contains"/></label>
                                    <button type="submit">"Filter"</button>
                                    <span class="muted">{format!("{} app(s)", d.total_apps)}</span>
                                </form>
                                {if d.rows.is_empty() {
                                    view! { <p class="empty">"No apps yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="scroll-x">
                                        <table class="table matrix" data-testid="matrix">
                                            <thead><tr><th>"App"</th>{d.envs.iter().map(|e| view! { <th>{e.clone()}</th> }).collect_view()}</tr></thead>
                                            <tbody>
                                                {d.rows.into_iter().map(|row| view! {
                                                    <tr data-app=row.app.clone()>
                                                        <th scope="row">{row.app.clone()}</th>
                                                        {row.cells.into_iter().zip(d.envs.clone()).map(|(c, env)| view! { <MatrixCell c env/> }.into_any()).collect_view()}
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                        </div>
                                    }.into_any()
                                }}
                                {(pages > 1).then(|| view! {
                                    <nav class="pager">
                                        {(d.page > 0).then(|| view! { <a href=format!("/?app={}&page={}", f, d.page - 1)>"← previous"</a> })}
                                        <span>{format!(" page {} of {} ", d.page + 1, pages)}</span>
                                        {((d.page as i64 + 1) < pages).then(|| view! { <a href=format!("/?app={}&page={}", f, d.page + 1)>"next →"</a> })}
                                    </nav>
                                })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// One app in one environment: what runs there, since when, and what waits to enter.
#[component]
fn MatrixCell(c: Cell, env: String) -> impl IntoView {
    view! {
        <td data-env=env class=format!("cell state-{}", c.state.replace(' ', "-"))>
            <div class="version">{c.version.clone().unwrap_or_else(|| "—".into())}
                {c.rolled_back.then(|| view! { " "<span class="badge risk" data-testid="rolled-back">"rolled back"</span> })}
            </div>
            <div class="muted">{format!("{}{}", c.state, c.since.as_deref().map(|s| format!(" · {s}")).unwrap_or_default())}</div>
            {c.pending.clone().map(|id| view! { <a href=format!("/changes/{id}") class="pending">"change waiting"</a> })}
        </td>
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{Cell, Dashboard, Row, PAGE};
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row as _;
    use std::collections::HashMap;

    /// Whether the RFC 3339 time `at` is more than `secs` seconds ago.
    pub fn older_than(at: &str, secs: i64) -> bool {
        use time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::parse(at, &Rfc3339)
            .map(|t| time::OffsetDateTime::now_utc() - t > time::Duration::seconds(secs))
            .unwrap_or(false)
    }

    fn placeholders(from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Recent answers, for at most [`FRESH`]: a busy dashboard (many people, many
    /// refreshes) costs a few queries per second instead of a few per view. Anything that
    /// changes what it shows in this process (a merge, a new change request) clears it.
    type Answers = HashMap<(String, u32), (std::time::Instant, Dashboard)>;
    static CACHE: std::sync::Mutex<Option<Answers>> = std::sync::Mutex::new(None);
    const FRESH: std::time::Duration = std::time::Duration::from_millis(1000);

    /// Forgets cached answers (called after a merge or a new change request).
    pub fn invalidate() {
        if let Ok(mut cache) = CACHE.lock() {
            *cache = None;
        }
    }

    pub async fn load(db: &Db, filter: &str, page: u32) -> Result<Dashboard, AppError> {
        let key = (filter.to_string(), page);
        if let Ok(cache) = CACHE.lock() {
            if let Some((at, d)) = cache.as_ref().and_then(|c| c.get(&key)) {
                if at.elapsed() < FRESH {
                    return Ok(d.clone());
                }
            }
        }
        let d = query(db, filter, page).await?;
        if let Ok(mut cache) = CACHE.lock() {
            let map = cache.get_or_insert_with(HashMap::new);
            // Bounded: filters typed by people are few; forget them all if they pile up.
            if map.len() > 256 {
                map.clear();
            }
            map.insert(key, (std::time::Instant::now(), d.clone()));
        }
        Ok(d)
    }

    async fn query(db: &Db, filter: &str, page: u32) -> Result<Dashboard, AppError> {
        let envs: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM environments ORDER BY position")
                .fetch_all(&db.pool)
                .await?;
        let like = format!("%{}%", filter.replace(['%', '_'], ""));
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM apps WHERE name LIKE $1")
            .bind(&like)
            .fetch_one(&db.pool)
            .await?
            .try_get("n")?;
        let apps: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM apps WHERE name LIKE $1 ORDER BY name LIMIT $2 OFFSET $3",
        )
        .bind(&like)
        .bind(PAGE)
        .bind(page as i64 * PAGE)
        .fetch_all(&db.pool)
        .await?;
        let waiting_rows = sqlx::query(
            "SELECT environment_id, COUNT(*) AS n FROM change_requests WHERE state IN ('open', 'approved') GROUP BY environment_id",
        )
        .fetch_all(&db.pool)
        .await?;
        let mut waiting_by_env = HashMap::new();
        for r in waiting_rows {
            waiting_by_env.insert(
                r.try_get::<String, _>("environment_id")?,
                r.try_get::<i64, _>("n")?,
            );
        }
        let mut latest: HashMap<(String, String), Cell> = HashMap::new();
        let mut pending: HashMap<(String, String), String> = HashMap::new();
        if !apps.is_empty() {
            let ids = placeholders(1, apps.len());
            // The newest deployment per app and environment (ids are time-ordered).
            let sql = format!(
                "SELECT d.app_id, d.environment_id, d.app_commit, d.images, d.merged_at, d.applied_at, d.verified_at,
                        d.state, d.failed_at, COALESCE(c.apply_timeout_secs, 600) AS apply_timeout,
                        r.branch AS cd_branch
                 FROM deployments d JOIN (
                     SELECT MAX(id) AS id FROM deployments WHERE app_id IN ({ids}) GROUP BY app_id, environment_id
                 ) newest ON newest.id = d.id
                 JOIN environments e ON e.id = d.environment_id
                 LEFT JOIN clusters c ON c.name = e.cluster
                 LEFT JOIN change_requests dc ON dc.id = d.change_id
                 LEFT JOIN runs r ON r.id = dc.cd_run_id"
            );
            let mut q = sqlx::query(&sql);
            for (id, _) in &apps {
                q = q.bind(id);
            }
            for r in q.fetch_all(&db.pool).await? {
                let images: Vec<String> = fluxgate_core::db::decode_json(
                    "images of a deployment",
                    &r.try_get::<String, _>("images")?,
                )?;
                let commit: String = r.try_get("app_commit")?;
                let tag = images
                    .first()
                    .and_then(|i| i.rsplit_once([':', '@']).map(|(_, t)| t.to_string()));
                let (applied, verified): (Option<String>, Option<String>) =
                    (r.try_get("applied_at")?, r.try_get("verified_at")?);
                let merged_at: String = r.try_get("merged_at")?;
                let failed_at: Option<String> = r.try_get("failed_at")?;
                let timeout: i64 = r.try_get("apply_timeout")?;
                let (state, since) =
                    match (r.try_get::<String, _>("state")?.as_str(), verified, applied) {
                        ("failed", _, _) => ("failed", failed_at.unwrap_or(merged_at)),
                        (_, Some(v), _) => ("verified", v),
                        (_, None, Some(a)) => ("applied", a),
                        // Merged but not applied within the cluster's apply timeout.
                        (_, _, _) if older_than(&merged_at, timeout) => ("stuck", merged_at),
                        ("reconciling", _, _) => ("reconciling", merged_at),
                        _ => ("merged", merged_at),
                    };
                latest.insert(
                    (r.try_get("app_id")?, r.try_get("environment_id")?),
                    Cell {
                        version: Some(match tag {
                            Some(t) if t.len() < 40 => {
                                format!("{} ({t})", &commit[..7.min(commit.len())])
                            }
                            _ => commit[..7.min(commit.len())].to_string(),
                        }),
                        state: state.into(),
                        since: Some(since),
                        pending: None,
                        rolled_back: r
                            .try_get::<Option<String>, _>("cd_branch")?
                            .is_some_and(|b| b.starts_with("rollback/")),
                    },
                );
            }
            let sql = format!(
                "SELECT app_id, environment_id, MAX(id) AS id FROM change_requests
                 WHERE state IN ('open', 'approved') AND app_id IN ({ids}) GROUP BY app_id, environment_id"
            );
            let mut q = sqlx::query(&sql);
            for (id, _) in &apps {
                q = q.bind(id);
            }
            for r in q.fetch_all(&db.pool).await? {
                pending.insert(
                    (r.try_get("app_id")?, r.try_get("environment_id")?),
                    r.try_get("id")?,
                );
            }
        }
        let rows = apps
            .into_iter()
            .map(|(app_id, name)| Row {
                app: name,
                cells: envs
                    .iter()
                    .map(|(env_id, _)| {
                        let key = (app_id.clone(), env_id.clone());
                        let mut cell = latest.remove(&key).unwrap_or(Cell {
                            version: None,
                            state: "not deployed".into(),
                            since: None,
                            pending: None,
                            rolled_back: false,
                        });
                        cell.pending = pending.remove(&key);
                        if cell.pending.is_some() && cell.version.is_none() {
                            cell.state = "awaiting approval".into();
                        }
                        cell
                    })
                    .collect(),
            })
            .collect();
        Ok(Dashboard {
            waiting: envs
                .iter()
                .map(|(id, _)| waiting_by_env.get(id).copied().unwrap_or(0))
                .collect(),
            envs: envs.into_iter().map(|(_, n)| n).collect(),
            rows,
            total_apps: total,
            page,
        })
    }
}
