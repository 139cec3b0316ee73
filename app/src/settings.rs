//! Settings for admins: the global stop-the-line switch, each environment's approval policy
//! (edited as JSON, checked strictly), and the users with their roles and groups.
//! Every change is written to the audit log.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub groups: Vec<String>,
    pub email: Option<String>,
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsData {
    pub stop_the_line: Option<String>,
    pub policies: Vec<(String, String)>,
    pub users: Vec<UserRow>,
    /// Where changes go: the hosted repository, or the remote it is pushed to (never a
    /// secret: the URL holds none, and only the kind of credentials is named).
    pub gitops: String,
    /// How the last runner started isolates steps: "bubblewrap", "none"
    /// (`--unsandboxed-steps`), "refused: <why>", or "" when no runner has started.
    pub step_isolation: String,
}

#[server(endpoint = "load_settings")]
pub async fn load_settings() -> Result<SettingsData, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Admin).await?;
    ssr::load(&crate::auth::ssr::db()?)
        .await
        .map_err(AppError::with_status)
}

/// Turns stop-the-line on (with a reason) or off.
#[server(endpoint = "set_stop_the_line")]
pub async fn set_stop_the_line(on: bool, reason: String) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Admin).await?;
    let reason = reason.trim();
    if on && reason.is_empty() {
        return Err(AppError::Invalid("say why the line stops".into()).with_status());
    }
    ssr::set_stop_the_line(&crate::auth::ssr::db()?, &user.name, on.then_some(reason))
        .await
        .map_err(AppError::with_status)
}

/// Replaces an environment's policy with `json` (unknown fields and bad freeze windows are
/// refused, and nothing changes).
#[server(endpoint = "save_policy")]
pub async fn save_policy(env: String, json: String) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Admin).await?;
    ssr::save_policy(&crate::auth::ssr::db()?, &user.name, &env, &json)
        .await
        .map_err(AppError::with_status)
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let stop = ServerAction::<SetStopTheLine>::new();
    // A policy save does not reload the page: each editor keeps its own text and answer.
    let data = Resource::new(move || stop.version().get(), |_| load_settings());
    let (reason, set_reason) = signal(String::new());
    view! {
        <leptos_meta::Title text="Settings"/>
        <h1>"Settings"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(d) => view! {
                        <section class="card" data-testid="step-sandbox">
                            <h2>"Pipeline steps"</h2>
                            {match d.step_isolation.as_str() {
                                "bubblewrap" => view! { <p class="muted">"Every run: step runs in a bubblewrap sandbox: no access to fluxgate's data, other runs, or this host's network (see README, \"Security model\")."</p> }.into_any(),
                                "none" => view! { <p class="error" role="alert">"Warning: steps run WITHOUT a sandbox (--unsandboxed-steps). Anyone who can push a branch of an application repository can read fluxgate's database and secrets and move environment branches."</p> }.into_any(),
                                "" => view! { <p class="muted">"No runner has started yet."</p> }.into_any(),
                                refused => view! { <p class="error" role="alert">{format!("Steps are refused: no sandbox can be started on the runner ({}).", refused.trim_start_matches("refused: "))}</p> }.into_any(),
                            }}
                        </section>
                        <section class="card" data-testid="stop-the-line">
                            <h2>"Stop the line"</h2>
                            {match d.stop_the_line.clone() {
                                Some(why) => view! {
                                    <p class="error">{format!("On: nothing merges anywhere. Reason: {why}")}</p>
                                    <button on:click=move |_| { stop.dispatch(SetStopTheLine { on: false, reason: String::new() }); }>"Allow merges again"</button>
                                }.into_any(),
                                None => view! {
                                    <p class="muted">"Off: merges follow each environment's policy."</p>
                                    <input placeholder="Reason" prop:value=move || reason.get() on:input=move |ev| set_reason.set(event_target_value(&ev))/>
                                    <button on:click=move |_| { stop.dispatch(SetStopTheLine { on: true, reason: reason.get_untracked() }); }>"Stop all merges"</button>
                                }.into_any(),
                            }}
                        </section>
                        <section class="card">
                            <h2>"Environment policies"</h2>
                            <p class="muted">"JSON: required_approvals, approvers (user names or group:NAME), extra_reviews [{group, when: [risk kinds]}], auto_promote, freeze_windows [{from, to, reason}] with RFC 3339 times or weekly \"Fri 16:00\" (UTC)."</p>
                            {d.policies.into_iter().map(|(env, stored)| view! { <PolicyEditor env stored/> }).collect_view()}
                        </section>
                        <section class="card" data-testid="gitops-repository">
                            <h2>"GitOps repository"</h2>
                            <p>{d.gitops.clone()}</p>
                            <p class="muted">"Changed on the server's command line: fluxgate gitops set-remote URL / clear-remote."</p>
                        </section>
                        <crate::users::UsersCard/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One environment's policy: its text stays as typed when a save is refused (the error is
/// beside its button), and an unsaved text is kept in the browser until saved or discarded.
#[component]
fn PolicyEditor(env: String, stored: String) -> impl IntoView {
    let save = ServerAction::<SavePolicy>::new();
    let key = format!("policy:{env}");
    let text = RwSignal::new(stored.clone());
    let restored = RwSignal::new(false);
    {
        let (key, stored) = (key.clone(), stored.clone());
        // In the browser only (effects do not run on the server): the page the server sent
        // shows the stored policy, and a kept draft replaces it once hydrated.
        Effect::new(move |_| {
            if let Some(draft) = crate::drafts::load(&key).filter(|d| *d != stored) {
                text.set(draft);
                restored.set(true);
            }
        });
    }
    let key2 = key.clone();
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(()))) {
            crate::drafts::save(&key2, "");
            restored.set(false);
        }
    });
    let discard = {
        let (key, stored) = (key.clone(), stored.clone());
        move |_| {
            crate::drafts::save(&key, "");
            text.set(stored.clone());
            restored.set(false);
        }
    };
    let env2 = env.clone();
    view! {
        <div class="policy-editor" data-env=env.clone()>
            <h3><label for=format!("policy-{env}")>{env.clone()}</label></h3>
            <textarea id=format!("policy-{env}") class="policy-json" rows="8"
                prop:value=move || text.get()
                on:input=move |ev| {
                    let t = event_target_value(&ev);
                    crate::drafts::save(&key, &t);
                    text.set(t);
                }></textarea>
            <Show when=move || restored.get()>
                <p class="muted" role="status">"Your unsaved text of this policy was kept from before. "
                    <button class="link-button" on:click=discard.clone()>"Discard it"</button>
                </p>
            </Show>
            <button data-testid="save-policy" disabled=move || save.pending().get()
                on:click=move |_| { save.dispatch(SavePolicy { env: env2.clone(), json: text.get_untracked() }); }>"Save policy"</button>
            {move || save.value().get().map(|r| match r {
                Ok(()) => view! { <p class="ok" role="status">"Saved."</p> }.into_any(),
                Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
            })}
        </div>
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{SettingsData, UserRow};
    use crate::audit::ssr as audit;
    use crate::environments::Policy;
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row;

    pub async fn load(db: &Db) -> Result<SettingsData, AppError> {
        let stop = crate::changes::review::stop_the_line(db).await?;
        let rows = sqlx::query("SELECT name, policy FROM environments ORDER BY position")
            .fetch_all(&db.pool)
            .await?;
        let mut policies = Vec::new();
        for r in rows {
            let text: String = r.try_get("policy")?;
            let pretty = serde_json::from_str::<serde_json::Value>(&text)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(text);
            policies.push((r.try_get("name")?, pretty));
        }
        let rows = sqlx::query("SELECT id, name, role, email, disabled FROM users ORDER BY name")
            .fetch_all(&db.pool)
            .await?;
        let mut users = Vec::new();
        for r in rows {
            let id: String = r.try_get("id")?;
            let groups: Vec<(String,)> = sqlx::query_as(
                "SELECT group_name FROM group_members WHERE user_id = $1 ORDER BY group_name",
            )
            .bind(&id)
            .fetch_all(&db.pool)
            .await?;
            users.push(UserRow {
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                groups: groups.into_iter().map(|(g,)| g).collect(),
                email: r.try_get("email")?,
                disabled: r.try_get::<i64, _>("disabled")? != 0,
            });
        }
        let gitops = match crate::git::remote::load(db)
            .await
            .map_err(AppError::internal)?
        {
            None => "Hosted by fluxgate, served to Flux at /git/gitops.git.".to_string(),
            Some(r) => {
                let creds = match &r.creds {
                    None => "no credentials".to_string(),
                    Some(c) if !c.ssh_key.is_empty() => "an ssh key".to_string(),
                    Some(c) => format!("a password or token for {}", c.username),
                };
                format!(
                    "Pushed to {} ({creds}); each branch is fetched before use and pushed with a lease.",
                    r.url
                )
            }
        };
        let step_isolation: Option<(String,)> =
            sqlx::query_as("SELECT value FROM settings WHERE key = 'step_isolation'")
                .fetch_optional(&db.pool)
                .await?;
        Ok(SettingsData {
            stop_the_line: stop,
            policies,
            users,
            gitops,
            step_isolation: step_isolation.map(|(v,)| v).unwrap_or_default(),
        })
    }

    pub async fn set_stop_the_line(
        db: &Db,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<(), AppError> {
        match reason {
            Some(reason) => {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ('stop_the_line', $1)
                     ON CONFLICT (key) DO UPDATE SET value = $1",
                )
                .bind(serde_json::json!({ "reason": reason, "by": actor }).to_string())
                .execute(&db.pool)
                .await?;
                audit::append(
                    db,
                    actor,
                    "stop-the-line.on",
                    "settings",
                    serde_json::json!({ "reason": reason }),
                )
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = 'stop_the_line'")
                    .execute(&db.pool)
                    .await?;
                audit::append(
                    db,
                    actor,
                    "stop-the-line.off",
                    "settings",
                    serde_json::json!({}),
                )
                .await?;
            }
        }
        Ok(())
    }

    pub async fn save_policy(db: &Db, actor: &str, env: &str, json: &str) -> Result<(), AppError> {
        if json.len() > 64 * 1024 {
            return Err(AppError::Invalid("the policy is larger than 64 KiB".into()));
        }
        let refused =
            |e: &dyn std::fmt::Display| AppError::Invalid(format!("policy of {env}: {e}"));
        let mut de = serde_json::Deserializer::from_str(json);
        let policy: Policy = serde_path_to_error::deserialize(&mut de).map_err(|e| refused(&e))?;
        de.end().map_err(|e| refused(&e))?;
        for w in &policy.freeze_windows {
            w.validate()
                .map_err(|e| AppError::Invalid(format!("policy of {env}: {e}")))?;
        }
        let text = serde_json::to_string(&policy).map_err(AppError::internal)?;
        let done = sqlx::query("UPDATE environments SET policy = $1 WHERE name = $2")
            .bind(&text)
            .bind(env)
            .execute(&db.pool)
            .await?;
        if done.rows_affected() != 1 {
            return Err(AppError::NotFound(format!("environment {env}")));
        }
        audit::append(
            db,
            actor,
            "policy.update",
            &format!("environment:{env}"),
            serde_json::from_str(&text).unwrap_or_default(),
        )
        .await?;
        Ok(())
    }
}
