//! `POST /hooks/flux/<cluster>`: Flux notification-controller events from a `generic`
//! (Bearer token in the Provider secret's headers) or `generic-hmac` (X-Signature) Provider.
//! A missing or wrong credential answers 401 before the body is even parsed, so it changes
//! nothing; a body that is not a Flux event answers 400.

use super::AppState;
use crate::flux::{clusters, ingest, signature};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use fluxgate_core::db::Db;
use serde_json::json;

/// Flux events are small (a message and a few metadata keys).
const MAX_EVENT: usize = 256 << 10;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hooks/flux/{cluster}", post(flux_hook))
        .layer(DefaultBodyLimit::max(MAX_EVENT))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn flux_hook(
    State(db): State<Db>,
    Path(cluster): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cluster = match clusters::get(&db, &cluster).await {
        Ok(Some(c)) => c,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no cluster named {cluster}")),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "reading cluster settings");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = match cluster.provider.as_str() {
        "generic-hmac" => {
            signature::check_hmac(&cluster.webhook_secret, header_text("x-signature"), &body)
        }
        _ => signature::check_bearer(
            &cluster.webhook_secret,
            header_text(header::AUTHORIZATION.as_str()),
        ),
    };
    if let Err(refused) = checked {
        tracing::warn!(cluster = %cluster.name, reason = %refused, "Flux event refused");
        return error(StatusCode::UNAUTHORIZED, refused.to_string());
    }
    let gitops = match app::changes::merge::gitops_path(&db).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "GitOps repository path");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    match ingest::ingest(&db, &gitops, &cluster, &body).await {
        Ok(done) => {
            tracing::debug!(cluster = %cluster.name, outcome = %done.outcome, "Flux event");
            (StatusCode::OK, Json(done)).into_response()
        }
        Err(ingest::IngestError::Parse(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(ingest::IngestError::Other(e)) => {
            tracing::error!(error = %format!("{e:#}"), "ingesting a Flux event");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
