//! Pipeline runs: the Runs list and the run page (steps, and logs that stream live while
//! the run goes), the server functions they call, and (server only) their storage.

#[cfg(feature = "ssr")]
pub mod store;

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: String,
    pub app: String,
    pub kind: String,
    pub commit: String,
    pub branch: String,
    pub author: String,
    pub message: String,
    pub image_tag: String,
    pub state: String,
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// How the steps were isolated: "bubblewrap", "none" (`--unsandboxed-steps`),
    /// "refused", or "" before any step ran.
    pub sandbox: String,
    /// Names (never values) of the secrets the run's steps received.
    pub secrets_given: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRow {
    pub position: i64,
    pub name: String,
    pub action: String,
    pub state: String,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub lines_dropped: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    pub seq: i64,
    pub step: i64,
    pub stream: String,
    pub line: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    pub run: RunRow,
    pub steps: Vec<StepRow>,
    /// The first lines of the log; the rest (and new ones) arrive over the event stream.
    pub logs: Vec<LogRow>,
    /// The runs and changes this one is part of, for links.
    pub related: Related,
}

/// What a run leads to and comes from: a CD run's CI run, a CI run's CD run, and the change
/// requests a CD run opened (one per environment it reached), in environment order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    /// (kind, id)
    pub parent: Option<(String, String)>,
    /// (kind, id)
    pub children: Vec<(String, String)>,
    /// (change id, environment, state)
    pub changes: Vec<(String, String, String)>,
}

#[server(endpoint = "list_runs")]
pub async fn list_runs(app: String, kind: String) -> Result<Vec<RunRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::list(&crate::auth::ssr::db()?, &app, &kind)
        .await
        .map_err(AppError::with_status)
}

#[server(endpoint = "load_run")]
pub async fn load_run(id: String) -> Result<RunView, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::view(&crate::auth::ssr::db()?, &id)
        .await
        .map_err(AppError::with_status)
}

fn finished(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}

#[component]
pub fn RunsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let heard = crate::live::kind("run");
    let runs = Resource::new(
        move || (param("app"), param("kind"), heard.get()),
        |(a, k, _)| list_runs(a, k),
    );
    view! {
        <leptos_meta::Title text="Runs"/>
        <div class="page-head"><h1>"Runs"</h1><p class="muted">"PR, CI and CD pipeline runs, newest first."</p></div>
        <form method="get" action="/runs" class="filters">
            <label>"App " <input name="app" value=move || param("app") placeholder="any"/></label>
            <label>"Kind " <select name="kind">
                {["", "pr", "ci", "cd"].into_iter().map(|k| view! { <option value=k selected=move || param("kind") == k>{if k.is_empty() { "any" } else { k }}</option> }).collect_view()}
            </select></label>
            <button type="submit">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match runs.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No runs yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="table" data-testid="runs">
                            <thead><tr><th>"Run"</th><th>"App"</th><th>"Branch"</th><th>"Commit"</th><th>"State"</th><th>"Started"</th></tr></thead>
                            <tbody>{list.into_iter().map(|r| view! {
                                <tr data-run=r.id.clone()>
                                    <td><A href=format!("/runs/{}", r.id)>{r.kind.to_uppercase()}" · "{r.image_tag.clone()}</A></td>
                                    <td>{r.app.clone()}</td>
                                    <td><code>{r.branch.clone()}</code></td>
                                    <td title=r.message.clone()><code>{r.commit[..7.min(r.commit.len())].to_string()}</code>{format!(" {}", r.message.lines().next().unwrap_or(""))}</td>
                                    <td><span class=format!("badge state-{}", r.state)>{r.state.clone()}</span></td>
                                    <td>{r.created_at.clone()}</td>
                                </tr>
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let (tick, set_tick) = signal(0u32);
    let heard = crate::live::version(move |topic| {
        topic
            .strip_prefix("run:")
            .is_some_and(|r| params.with_untracked(|p| p.get("id").is_some_and(|id| id == r)))
    });
    let data = Resource::new(
        move || (id(), tick.get(), heard.get()),
        |(id, ..)| load_run(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(AppError::NotFound(what)) => view! {
                        <crate::pages::Missing what back="/runs" back_label="All runs"/>
                    }.into_any(),
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(v) => view! { <RunDetail v set_tick/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn RunDetail(v: RunView, set_tick: WriteSignal<u32>) -> impl IntoView {
    let r = v.run.clone();
    let (lines, set_lines) = signal(v.logs.clone());
    let live = !finished(&r.state);
    #[cfg(feature = "hydrate")]
    if live {
        // Server-sent events carry new lines as they are stored; the run's end ends them.
        let after = v.logs.last().map(|l| l.seq).unwrap_or(0);
        if let Ok(source) =
            web_sys::EventSource::new(&format!("/api/v1/runs/{}/events?after={after}", r.id))
        {
            use wasm_bindgen::{closure::Closure, JsCast};
            let on_line = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |ev: web_sys::MessageEvent| {
                    if let Some(text) = ev.data().as_string() {
                        if let Ok(line) = serde_json::from_str::<LogRow>(&text) {
                            set_lines.update(|l| l.push(line));
                        }
                    }
                },
            );
            let _ =
                source.add_event_listener_with_callback("line", on_line.as_ref().unchecked_ref());
            on_line.forget();
            let closer = source.clone();
            let on_end = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                closer.close();
                set_tick.update(|t| *t += 1);
            });
            let _ = source.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
            on_end.forget();
            on_cleanup(move || source.close());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_tick, set_lines);
    view! {
        <leptos_meta::Title text=format!("{} run · {}", r.kind.to_uppercase(), r.app)/>
        <div class="page-head">
            <h1>{format!("{} run of {}", r.kind.to_uppercase(), r.app)}" "<span class=format!("badge state-{}", r.state) data-testid="run-state">{r.state.clone()}</span></h1>
            <p class="muted">
                {format!("{} at ", r.branch)}
                <A href=format!("/apps/{}/commits/{}", r.app, r.commit) attr:title="The commit's way through every environment">
                    {r.commit[..7.min(r.commit.len())].to_string()}
                </A>
                {format!(" · {} · image tag {}", r.author, r.image_tag)}
            </p>
            <RelatedLinks related=v.related.clone()/>
            <p>{Some(r.message.clone()).filter(|m| !m.is_empty())}</p>
            {r.error.clone().map(|e| view! { <p class="error" role="alert">{crate::linked::linked_text(e)}</p> })}
            {(r.sandbox == "none").then(|| view! {
                <p class="error" role="alert" data-testid="unsandboxed">"Warning: this run's steps ran without a sandbox (fluxgate was started with --unsandboxed-steps): they could read fluxgate's data and reach this host's network."</p>
            })}
            <p class="muted" data-testid="secrets-given">{
                if r.secrets_given.is_empty() {
                    "Secrets given to its steps: none".to_string()
                } else {
                    format!("Secrets given to its steps: {}", r.secrets_given.join(", "))
                }
            }</p>
            {live.then(|| view! { <p class="muted">"Live: new output appears as it is produced."</p> })}
        </div>
        <ol class="steps" data-testid="steps">
            {v.steps.iter().map(|s| view! {
                <li class=format!("step state-{}", s.state)>
                    <span class=format!("badge state-{}", s.state)>{s.state.clone()}</span>" "
                    <strong>{s.name.clone()}</strong>" "<code class="muted">{s.action.clone()}</code>
                    {s.duration_ms.map(|d| format!(" · {:.1} s", d as f64 / 1000.0))}
                    {s.exit_code.map(|c| format!(" · exit {c}"))}
                    {(s.lines_dropped > 0).then(|| format!(" · {} lines not kept", s.lines_dropped))}
                </li>
            }).collect_view()}
        </ol>
        <pre class="log" data-testid="log">
            // fluxgate's own lines name changes and runs by id: those become links. What a
            // step printed stays text, whatever it looks like.
            {move || lines.get().into_iter().map(|l| {
                let text = format!("{}\n", l.line);
                let text = if l.stream == "system" {
                    crate::linked::linked_text(text).into_any()
                } else {
                    text.into_any()
                };
                view! { <span class=format!("log-line {}", l.stream) data-step=l.step>{text}</span> }
            }).collect_view()}
        </pre>
    }
}

/// Links to the runs and changes around a run.
#[component]
fn RelatedLinks(related: Related) -> impl IntoView {
    let Related {
        parent,
        children,
        changes,
    } = related;
    let empty = parent.is_none() && children.is_empty() && changes.is_empty();
    (!empty).then(|| {
        view! {
            <p class="muted related" data-testid="related">
                {parent.into_iter().chain(children).map(|(kind, id)| view! {
                    <A href=format!("/runs/{id}")>{format!("{} run", kind.to_uppercase())}</A>" "
                }).collect_view()}
                {changes.into_iter().map(|(id, env, state)| view! {
                    <A href=format!("/changes/{id}")>{format!("{env} change ({state})")}</A>" "
                }).collect_view()}
            </p>
        }
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{LogRow, RunRow, RunView, StepRow};
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row;

    /// Lines sent with the page; more come over the event stream or on reload.
    const FIRST_LINES: i64 = 5_000;

    fn run_row(r: &sqlx::any::AnyRow) -> Result<RunRow, AppError> {
        Ok(RunRow {
            id: r.try_get("id")?,
            app: r.try_get("app")?,
            kind: r.try_get("kind")?,
            commit: r.try_get("commit_sha")?,
            branch: r.try_get("branch")?,
            author: r.try_get("author")?,
            message: r.try_get("message")?,
            image_tag: r.try_get("image_tag")?,
            state: r.try_get("state")?,
            error: r.try_get("error")?,
            created_at: r.try_get("created_at")?,
            finished_at: r.try_get("finished_at")?,
            sandbox: r.try_get("sandbox")?,
            secrets_given: super::store::names(&r.try_get::<String, _>("secrets_given")?),
        })
    }

    const COLUMNS: &str =
        "r.id, a.name AS app, r.kind, r.commit_sha, r.branch, r.author, r.message, \
        r.image_tag, r.state, r.error, r.created_at, r.finished_at, r.sandbox, r.secrets_given";

    pub async fn list(db: &Db, app: &str, kind: &str) -> Result<Vec<RunRow>, AppError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs r JOIN apps a ON a.id = r.app_id
             WHERE ($1 = '' OR a.name = $1) AND ($2 = '' OR r.kind = $2) ORDER BY r.id DESC LIMIT 100"
        ))
        .bind(app)
        .bind(kind)
        .fetch_all(&db.pool)
        .await?;
        rows.iter().map(run_row).collect()
    }

    pub async fn view(db: &Db, id: &str) -> Result<RunView, AppError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM runs r JOIN apps a ON a.id = r.app_id WHERE r.id = $1"
        ))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::NotFound("run".into()))?;
        let run = run_row(&row)?;
        let steps = super::store::steps(db, id)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|s| StepRow {
                position: s.position,
                name: s.name,
                action: s.action,
                state: s.state,
                exit_code: s.exit_code,
                duration_ms: s.duration_ms,
                lines_dropped: s.lines_dropped,
            })
            .collect();
        let logs = super::store::logs(db, id, 0, FIRST_LINES)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|l| LogRow {
                seq: l.seq,
                step: l.step,
                stream: l.stream,
                line: l.line,
            })
            .collect();
        let related = related(db, id).await?;
        Ok(RunView {
            run,
            steps,
            logs,
            related,
        })
    }

    async fn related(db: &Db, id: &str) -> Result<super::Related, AppError> {
        let parent = sqlx::query(
            "SELECT p.kind, p.id FROM runs r JOIN runs p ON p.id = r.parent_run_id WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("kind")?, r.try_get("id")?)))
        .transpose()?;
        let children =
            sqlx::query("SELECT kind, id FROM runs WHERE parent_run_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&db.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("kind")?, r.try_get("id")?)))
                .collect::<Result<_, sqlx::Error>>()?;
        let changes = sqlx::query(
            "SELECT c.id, e.name, c.state FROM change_requests c
             JOIN environments e ON e.id = c.environment_id
             WHERE c.cd_run_id = $1 ORDER BY e.position, c.id",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("state")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(super::Related {
            parent,
            children,
            changes,
        })
    }
}
