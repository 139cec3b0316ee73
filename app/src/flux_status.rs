//! What Flux says about each environment: the desired revision (the branch head), the
//! last applied revision, Flux's last word, and whether the environment is in sync,
//! behind (desired and applied differ longer than the Flux interval) or failed.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FluxStatus {
    pub environment: String,
    pub cluster: String,
    /// "Flux", "demo reconciler (stands in for Flux)", or that none is connected.
    pub reporter: String,
    pub desired: Option<String>,
    pub applied: Option<String>,
    /// in sync | catching up | behind | failed | unknown
    pub drift: String,
    pub last_reason: Option<String>,
    pub last_message: Option<String>,
    pub last_event_at: Option<String>,
}

#[server(endpoint = "list_flux_status")]
pub async fn list_flux_status() -> Result<Vec<FluxStatus>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Viewer).await?;
    ssr::all(&crate::auth::ssr::db()?).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::FluxStatus;
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row;

    pub async fn all(db: &Db) -> Result<Vec<FluxStatus>, AppError> {
        let rows = sqlx::query(
            "SELECT e.name, e.cluster, e.branch, c.name AS known, c.demo, c.interval_secs,
                    s.applied_revision, s.last_reason, s.last_message, s.last_event_at,
                    (SELECT MAX(merged_at) FROM deployments d WHERE d.environment_id = e.id) AS last_merge
             FROM environments e
             LEFT JOIN clusters c ON c.name = e.cluster
             LEFT JOIN environment_status s ON s.environment_id = e.id
             ORDER BY e.position, e.name",
        )
        .fetch_all(&db.pool)
        .await?;
        let branches: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("branch"))
            .collect::<Result<_, _>>()?;
        let heads = match crate::changes::merge::gitops_path(db).await {
            Ok(path) => tokio::task::spawn_blocking(move || heads(&path, &branches))
                .await
                .map_err(AppError::internal)?,
            Err(_) => vec![None; rows.len()],
        };
        rows.iter()
            .zip(heads)
            .map(|(r, desired)| {
                let known: Option<String> = r.try_get("known")?;
                let reporter = match (known, r.try_get::<Option<i64>, _>("demo")?) {
                    (None, _) => "no Flux connected to this cluster".to_string(),
                    (Some(_), Some(1)) => "demo reconciler (stands in for Flux)".to_string(),
                    (Some(_), _) => "Flux".to_string(),
                };
                let applied: Option<String> = r.try_get("applied_revision")?;
                let last_reason: Option<String> = r.try_get("last_reason")?;
                let interval: i64 = r.try_get::<Option<i64>, _>("interval_secs")?.unwrap_or(300);
                let last_merge: Option<String> = r.try_get("last_merge")?;
                let drift = drift(
                    desired.as_deref(),
                    applied.as_deref(),
                    last_reason.as_deref(),
                    last_merge.as_deref(),
                    interval,
                );
                Ok(FluxStatus {
                    environment: r.try_get("name")?,
                    cluster: r.try_get("cluster")?,
                    reporter,
                    desired,
                    applied,
                    drift,
                    last_reason,
                    last_message: r.try_get("last_message")?,
                    last_event_at: r.try_get("last_event_at")?,
                })
            })
            .collect()
    }

    fn heads(path: &std::path::Path, branches: &[String]) -> Vec<Option<String>> {
        let Ok(repo) = git2::Repository::open_bare(path) else {
            return vec![None; branches.len()];
        };
        branches
            .iter()
            .map(|b| {
                repo.refname_to_id(&format!("refs/heads/{b}"))
                    .ok()
                    .map(|o| o.to_string())
            })
            .collect()
    }

    /// In sync when applied is desired; failed when Flux's last word was a failure; behind
    /// when they have differed for longer than Flux's interval since the last merge.
    pub fn drift(
        desired: Option<&str>,
        applied: Option<&str>,
        last_reason: Option<&str>,
        last_merge: Option<&str>,
        interval_secs: i64,
    ) -> String {
        let failed = matches!(
            last_reason,
            Some(
                "HealthCheckFailed"
                    | "BuildFailed"
                    | "ReconciliationFailed"
                    | "ValidationFailed"
                    | "ArtifactFailed"
            )
        );
        match (desired, applied) {
            (_, None) => "unknown".into(),
            (Some(d), Some(a)) if d == a => "in sync".into(),
            _ if failed => "failed".into(),
            _ => match last_merge {
                Some(m) if !crate::dashboard::ssr::older_than(m, interval_secs) => {
                    "catching up".into()
                }
                _ => "behind".into(),
            },
        }
    }
}

fn short(sha: &Option<String>) -> String {
    sha.as_deref()
        .map(|s| s[..s.len().min(7)].to_string())
        .unwrap_or_else(|| "—".into())
}

/// Flux's view of one environment, for its card on the Environments page.
#[component]
pub fn FluxLine(status: FluxStatus) -> impl IntoView {
    let drift_class = format!("badge drift-{}", status.drift.replace(' ', "-"));
    let last = status
        .last_reason
        .clone()
        .map(|r| format!("{r}: {}", status.last_message.clone().unwrap_or_default()))
        .unwrap_or_else(|| "no events received yet".into());
    view! {
        <dl class="flux-status" data-testid=format!("flux-{}", status.environment)>
            <dt>"Reconciled by"</dt>
            <dd>{status.reporter.clone()}</dd>
            <dt>"Desired"</dt>
            <dd><code>{short(&status.desired)}</code></dd>
            <dt>"Applied"</dt>
            <dd><code>{short(&status.applied)}</code>" "<span class=drift_class>{status.drift.clone()}</span></dd>
            <dt>"Last event"</dt>
            <dd class="muted">{last}</dd>
        </dl>
    }
}
