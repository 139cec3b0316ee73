//! Environments: the promotion order, where each one runs, and its approval policy.
//!
//! An environment is a branch `env/<name>` of the GitOps repository that one cluster
//! (namespace) follows. Its policy says who must approve a state change before it merges.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Extra review demanded when a change carries certain risk flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraReview {
    /// The group whose member must approve, e.g. `security`.
    pub group: String,
    /// Risk flags that trigger it, e.g. `rbac`, `secret`, `privileged`.
    pub when: Vec<String>,
}

/// Who must approve a state change before it may merge into the environment's branch.
/// Stored as JSON; unknown fields are rejected rather than silently ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Approvals needed from `approvers` (the change's author never counts).
    pub required_approvals: u32,
    /// User names, or `group:<name>` for every member of a group.
    #[serde(default)]
    pub approvers: Vec<String>,
    #[serde(default)]
    pub extra_reviews: Vec<ExtraReview>,
    /// Merge without approval (for low environments).
    #[serde(default)]
    pub auto_promote: bool,
    /// Merge as soon as the approvals meet the policy, without a separate merge click.
    #[serde(default)]
    pub merge_when_approved: bool,
    /// Times when nothing merges into this environment.
    #[serde(default)]
    pub freeze_windows: Vec<crate::policy::FreezeWindow>,
    /// Merge only changes whose every commit is signed (git's SSH signatures) by its
    /// committer's registered key.
    #[serde(default)]
    pub require_signed_commits: bool,
}

impl Policy {
    /// One line for lists: "2 approvals from group cluster-admins · security review for rbac, secret".
    pub fn summary(&self) -> String {
        if self.auto_promote {
            return "auto-promote: merges without approval".to_string();
        }
        let who = if self.approvers.is_empty() {
            "nobody (no approvers named)".to_string()
        } else {
            self.approvers
                .iter()
                .map(|a| match a.strip_prefix("group:") {
                    Some(g) => format!("group {g}"),
                    None => a.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n = self.required_approvals;
        let mut s = format!("{n} approval{} from {who}", if n == 1 { "" } else { "s" });
        for extra in &self.extra_reviews {
            s.push_str(&format!(
                " · {} review for {}",
                extra.group,
                extra.when.join(", ")
            ));
        }
        if self.merge_when_approved {
            s.push_str(" · merges when approved");
        }
        if self.require_signed_commits {
            s.push_str(" · signed commits only");
        }
        s
    }
}

/// One environment as the pages show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub position: i64,
    pub cluster: String,
    pub namespace: String,
    pub branch: String,
    pub policy: Policy,
}

/// Every environment in promotion order. Any signed-in user may read them.
#[server(endpoint = "list_environments")]
pub async fn list_environments() -> Result<Vec<Environment>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::list(&crate::auth::ssr::db()?).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Environment queries.
    use super::{Environment, Policy};
    use crate::error::AppError;
    use fluxgate_core::db::{new_id, now_text, Db};

    pub async fn list(db: &Db) -> Result<Vec<Environment>, AppError> {
        let rows: Vec<(String, i64, String, String, String, String)> = sqlx::query_as(
            "SELECT name, position, cluster, namespace, branch, policy FROM environments ORDER BY position, name",
        )
        .fetch_all(&db.pool)
        .await?;
        rows.into_iter()
            .map(|(name, position, cluster, namespace, branch, policy)| {
                let policy: Policy = serde_json::from_str(&policy).map_err(|e| {
                    AppError::internal(format!(
                        "stored policy of environment {name} is invalid: {e}"
                    ))
                })?;
                Ok(Environment {
                    name,
                    position,
                    cluster,
                    namespace,
                    branch,
                    policy,
                })
            })
            .collect()
    }

    pub async fn insert(db: &Db, env: &Environment) -> Result<(), sqlx::Error> {
        let policy = serde_json::to_string(&env.policy).expect("a Policy always serializes");
        sqlx::query(
            "INSERT INTO environments (id, name, position, cluster, namespace, branch, policy, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(&env.name)
        .bind(env.position)
        .bind(&env.cluster)
        .bind(&env.namespace)
        .bind(&env.branch)
        .bind(policy)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
        Ok(())
    }
}

/// The Environments page: each environment in promotion order.
#[component]
pub fn EnvironmentsPage() -> impl IntoView {
    let heard = crate::live::version(|topic| !topic.starts_with("run:"));
    let envs = Resource::new(move || heard.get(), |_| list_environments());
    let statuses = Resource::new(
        move || heard.get(),
        |_| crate::flux_status::list_flux_status(),
    );
    view! {
        <leptos_meta::Title text="Environments"/>
        <div class="page-head">
            <h1>"Environments"</h1>
            <p class="muted">"What runs where, and what waits to go next. Promotion order is left to right; each environment follows its own GitOps branch."</p>
        </div>
        <crate::dashboard::DashboardMatrix/>
        <h2>"Environments"</h2>
        <Transition fallback=|| view! { <p class="muted">"Loading environments…"</p> }>
            {move || Suspend::new(async move {
                let statuses = statuses.await.unwrap_or_default();
                match envs.await {
                    Ok(list) if list.is_empty() => {
                        view! { <p class="empty">"No environments yet. Adding them in the browser is not built yet; `fluxgate demo` creates dev, staging and prod."</p> }
                            .into_any()
                    }
                    Ok(list) => {
                        let last = list.len() - 1;
                        view! {
                            <ol class="env-flow" aria-label="promotion order">
                                {list
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, env)| {
                                        let status = statuses.iter().find(|s| s.environment == env.name).cloned();
                                        view! { <EnvironmentCard env status is_last=i == last/> }
                                    })
                                    .collect_view()}
                            </ol>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn EnvironmentCard(
    env: Environment,
    status: Option<crate::flux_status::FluxStatus>,
    is_last: bool,
) -> impl IntoView {
    // Only works once hydrated: the details are toggled in the browser, not by the server.
    let (open, set_open) = signal(false);
    let summary = env.policy.summary();
    let policy = env.policy.clone();
    let name = env.name.clone();
    let details_env = env.name.clone();
    view! {
        <li class="env-card card" data-env=env.name.clone()>
            <header>
                <h2>{env.name.clone()}</h2>
                <span class="badge">{format!("#{}", env.position)}</span>
            </header>
            <dl>
                <dt>"Branch"</dt>
                <dd><code>{env.branch.clone()}</code></dd>
                <dt>"Cluster"</dt>
                <dd>{env.cluster.clone()}</dd>
                <dt>"Namespace"</dt>
                <dd><code>{env.namespace.clone()}</code></dd>
                <dt>"Policy"</dt>
                <dd class="policy-summary">{summary}</dd>
            </dl>
            {status.map(|status| view! { <crate::flux_status::FluxLine status/> })}
            <button
                class="link-button"
                aria-expanded=move || open.get().to_string()
                aria-controls=format!("policy-{name}")
                on:click=move |_| set_open.update(|o| *o = !*o)
            >
                {move || if open.get() { "Hide policy details" } else { "Show policy details" }}
            </button>
            <Show when=move || open.get()>
                <PolicyDetails policy=policy.clone() env=details_env.clone()/>
            </Show>
            {(!is_last).then(|| view! { <span class="flow-arrow" aria-hidden="true">"→"</span> })}
        </li>
    }
}

#[component]
fn PolicyDetails(policy: Policy, env: String) -> impl IntoView {
    let approvers = if policy.approvers.is_empty() {
        "nobody: this environment names no approvers".to_string()
    } else {
        policy.approvers.join(", ")
    };
    view! {
        <div class="policy-details" id=format!("policy-{env}")>
            <ul>
                {if policy.auto_promote {
                    view! { <li>"Auto-promote: a change merges as soon as it is rendered."</li> }.into_any()
                } else {
                    view! {
                        <li>{format!("Approvals required: {}", policy.required_approvals)}</li>
                        <li>{format!("Who may approve: {approvers}")}</li>
                        <li>"The author of a change can never approve it."</li>
                        <li>"A new head commit dismisses earlier approvals."</li>
                    }
                        .into_any()
                }}
                {policy
                    .extra_reviews
                    .into_iter()
                    .map(|x| {
                        view! {
                            <li>{format!("Extra review by group {} when the change touches: {}", x.group, x.when.join(", "))}</li>
                        }
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<Policy, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn summary_reads_like_a_sentence() {
        let p = policy(
            r#"{"required_approvals":2,"approvers":["group:cluster-admins","dana"],
                "extra_reviews":[{"group":"security","when":["rbac","secret"]}]}"#,
        )
        .unwrap();
        assert_eq!(
            p.summary(),
            "2 approvals from group cluster-admins, dana · security review for rbac, secret"
        );
        let one = policy(r#"{"required_approvals":1}"#).unwrap();
        assert_eq!(one.summary(), "1 approval from nobody (no approvers named)");
        let auto = policy(r#"{"required_approvals":0,"auto_promote":true}"#).unwrap();
        assert_eq!(auto.summary(), "auto-promote: merges without approval");
    }

    #[test]
    fn unknown_policy_fields_are_rejected() {
        let err = policy(r#"{"required_approvals":1,"aproovers":["bob"]}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `aproovers`"),
            "{err}"
        );
    }
}
