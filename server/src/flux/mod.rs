//! Flux in the loop: after a merge, Flux in the cluster pulls the environment branch (from
//! fluxgate's smart HTTP endpoint, `crate::http::git`) and applies it; its
//! notification-controller posts events to `/hooks/flux/<cluster>`, which mark deployments
//! reconciling, applied or failed; applied deployments are verified with HTTP probes and
//! then promoted to the next environment.
//!
//! There is no Kubernetes cluster where fluxgate is developed and tested: `crate::reconciler`
//! stands in for Flux in the demo and the tests, speaking the same protocols.

pub mod clusters;
pub mod event;
pub mod ingest;
pub mod probe_http;
pub mod signature;
pub mod verify;

use crate::runner::{JobError, Runner};
use std::time::Duration;

/// The `poke` job, queued by every merge: POST to the cluster's Flux Receiver so that
/// reconciliation starts now rather than at Flux's next poll. Without a Receiver it does
/// nothing; a Receiver that does not answer is retried twice, then given up (Flux still
/// finds the merge at its next interval).
pub async fn poke(r: &Runner, payload: &serde_json::Value) -> Result<(), JobError> {
    let change_id = payload["change_id"]
        .as_str()
        .ok_or_else(|| JobError::fatal("poke job without change_id"))?;
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT e.cluster, e.name FROM environments e JOIN change_requests c ON c.environment_id = e.id WHERE c.id = $1",
    )
    .bind(change_id)
    .fetch_optional(&r.db.pool)
    .await
    .map_err(anyhow::Error::from)?;
    let Some((cluster_name, env)) = row else {
        return Ok(());
    };
    let Some(cluster) = clusters::get(&r.db, &cluster_name).await? else {
        return Ok(());
    };
    if cluster.receiver_url.is_empty() {
        return Ok(());
    }
    let body = serde_json::json!({ "source": "fluxgate", "environment": env, "change": change_id })
        .to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(JobError::fatal)?;
    let mut request = client
        .post(&cluster.receiver_url)
        .header("content-type", "application/json");
    if !cluster.receiver_token.is_empty() {
        request = request.header(
            "X-Signature",
            signature::sign(&cluster.receiver_token, body.as_bytes()),
        );
    }
    // The URL of a generic Receiver is itself a secret: errors name the cluster, not the URL.
    let response = request.body(body).send().await.map_err(|e| {
        JobError::retry(format!(
            "poking the Receiver of {cluster_name}: {}",
            e.without_url()
        ))
    })?;
    if !response.status().is_success() {
        return Err(JobError::retry(format!(
            "the Receiver of {cluster_name} answered {}",
            response.status()
        )));
    }
    tracing::info!(cluster = %cluster_name, %env, "Flux Receiver poked");
    Ok(())
}
