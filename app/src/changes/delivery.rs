//! A merged change on its way into the cluster: Flux's progress and the probes' evidence,
//! as the change page shows them.

use super::Delivery;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod ssr {
    use super::Delivery;
    use crate::error::AppError;
    use fluxgate_core::db::Db;
    use sqlx::Row;

    /// `with_evidence`: whether the reader may see what probes read (developers and up:
    /// a probe's answer can carry internal details a viewer has no need for).
    pub async fn load(
        db: &Db,
        change_id: &str,
        with_evidence: bool,
    ) -> Result<Option<Delivery>, AppError> {
        let row = sqlx::query(
            "SELECT id, state, message, merged_at, applied_at, verified_at FROM deployments WHERE change_id = $1",
        )
        .bind(change_id)
        .fetch_optional(&db.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let id: String = r.try_get("id")?;
        let evidence = sqlx::query(
            "SELECT probe_url, attempt, ok, evidence, at FROM verifications WHERE deployment_id = $1 ORDER BY at, attempt LIMIT 50",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|v| {
            let text: String = if with_evidence {
                v.try_get("evidence")?
            } else {
                "(what the probe read is shown to developers and above)".into()
            };
            Ok((
                v.try_get("probe_url")?,
                v.try_get("attempt")?,
                v.try_get::<i64, _>("ok")? != 0,
                text,
                v.try_get("at")?,
            ))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(Delivery {
            state: r.try_get("state")?,
            message: r.try_get("message")?,
            merged_at: r.try_get("merged_at")?,
            applied_at: r.try_get("applied_at")?,
            verified_at: r.try_get("verified_at")?,
            evidence,
        }))
    }
}

#[cfg(feature = "ssr")]
pub use ssr::load;

/// After the merge: Flux's progress and the probes' evidence.
#[component]
pub fn DeliveryCard(dl: Delivery) -> impl IntoView {
    let times = format!(
        "merged {} · applied {} · verified {}",
        dl.merged_at,
        dl.applied_at.clone().unwrap_or_else(|| "—".into()),
        dl.verified_at.clone().unwrap_or_else(|| "—".into())
    );
    view! {
        <section class="card delivery" data-testid="delivery">
            <h2>"Delivery "{super::page::state_badge(&dl.state)}</h2>
            <p class="muted">{times}</p>
            {dl.message.clone().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            {(!dl.evidence.is_empty()).then(|| view! {
                <h3>"Probe evidence"</h3>
                <ul class="evidence" data-testid="evidence">
                    {dl.evidence.iter().map(|(url, attempt, ok, text, at)| view! {
                        <li>{format!("{at} {} {url} (attempt {attempt}): {text}", if *ok { "PASS" } else { "FAIL" })}</li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}
