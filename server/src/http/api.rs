//! The JSON API for tools (`/api/v1/…`) and the git webhook (`/hooks/git/<app>`).
//!
//! Callers authenticate with `Authorization: Bearer <token>` (see `fluxgate token
//! create`); a browser session works too, so the UI can use the same routes. Every route
//! checks the caller's role on the server. Errors are JSON: `{"error": "…"}`.

use super::AppState;
use crate::tokens::{self, Scope};
use crate::{apps, runner, runs};
use app::auth::{Role, SignedInUser};
use app::changes::store as changes;
use app::error::AppError;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fluxgate_core::db::Db;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/apps", get(list_apps))
        .route("/api/v1/runs", get(list_runs))
        .route("/api/v1/runs/{id}", get(get_run))
        .route("/api/v1/runs/{id}/logs", get(super::run_logs::page))
        .route("/api/v1/runs/{id}/events", get(super::run_logs::live))
        .route("/api/v1/live", get(super::live::stream))
        .route("/api/v1/changes", get(list_changes))
        .route("/api/v1/changes/{id}", get(get_change))
        .route("/api/v1/changes/{id}/diff", get(get_change_diff))
        .route("/api/v1/changes/{id}/approve", post(approve))
        .route("/api/v1/changes/{id}/reject", post(reject))
        .route("/api/v1/changes/{id}/merge", post(merge))
        .route("/hooks/git/{app}", post(git_hook))
}

/// An API error: status and a message fit for the caller.
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let status = match &e {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid(_) => StatusCode::CONFLICT,
            AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        // The detail goes to the log; the caller learns only that it was on our side.
        tracing::error!(error = %format!("{e:#}"), "API request failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    }
}

/// The caller, from a bearer token or the browser session.
/// Who calls: a browser session (every scope its role allows) or an API token (only
/// its scopes).
pub struct Caller {
    user: SignedInUser,
    scopes: Option<Vec<Scope>>,
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Db: FromRef<S>,
    app::auth::ssr::SessionLifetime: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let db = Db::from_ref(state);
        let unauthorized = || {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "a valid API token is required".into(),
            )
        };
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(unauthorized)?;
            return match tokens::authenticate(&db, token.trim()).await? {
                Some(t) => Ok(Caller {
                    user: t.user,
                    scopes: Some(t.scopes),
                }),
                None => Err(unauthorized()),
            };
        }
        let session = tower_sessions::Session::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthorized())?;
        let lifetime = app::auth::ssr::SessionLifetime::from_ref(state);
        match app::auth::ssr::session_user_of(&db, &session, lifetime)
            .await
            .map_err(|e| anyhow::anyhow!("checking the session: {e}"))?
        {
            Some(user) => Ok(Caller { user, scopes: None }),
            None => Err(unauthorized()),
        }
    }
}

impl Caller {
    /// The caller, when their role allows `role` and (for a token) its scopes include `scope`.
    pub(super) fn require(&self, role: Role, scope: Scope) -> Result<&SignedInUser, ApiError> {
        if let Some(scopes) = &self.scopes {
            if !scopes.contains(&scope) {
                return Err(ApiError(
                    StatusCode::FORBIDDEN,
                    format!("this token lacks the {scope} scope"),
                ));
            }
        }
        if self.user.role.allows(role) {
            Ok(&self.user)
        } else {
            Err(ApiError(
                StatusCode::FORBIDDEN,
                format!("this needs the {} role", role.as_str()),
            ))
        }
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

async fn list_apps(caller: Caller, State(db): State<Db>) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let mut out = Vec::new();
    for app in apps::list(&db).await? {
        let state = apps::repo_state(&db, &app.id).await?;
        out.push(json!({
            "name": app.name,
            "repository": app.repo_url,
            "default_branch": app.default_branch,
            "templates": { "path": app.template_path, "kind": app.template_kind },
            "last_polled_at": state.last_polled_at,
            "repository_error": state.last_error,
        }));
    }
    Ok(Json(json!({ "apps": out })))
}

#[derive(Deserialize)]
struct RunsQuery {
    app: Option<String>,
    limit: Option<i64>,
}

async fn list_runs(caller: Caller, State(db): State<Db>, Query(q): Query<RunsQuery>) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let app_id = match &q.app {
        Some(name) => Some(
            apps::by_name(&db, name)
                .await?
                .ok_or_else(|| ApiError::not_found("app"))?
                .id,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let list = runs::list(&db, app_id.as_deref(), limit).await?;
    Ok(Json(json!({ "runs": list })))
}

async fn get_run(caller: Caller, State(db): State<Db>, Path(id): Path<String>) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let run = runs::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("run"))?;
    let steps = runs::steps(&db, &id).await?;
    let artifacts: Vec<String> = runs::artifacts(&db, &id)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    Ok(Json(
        json!({ "run": run, "steps": steps, "artifacts": artifacts }),
    ))
}

#[derive(Deserialize)]
struct ChangesQuery {
    env: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
}

async fn list_changes(
    caller: Caller,
    State(db): State<Db>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let list = changes::list(&db, q.env.as_deref(), q.state.as_deref(), limit).await?;
    Ok(Json(json!({ "changes": list })))
}

async fn get_change(caller: Caller, State(db): State<Db>, Path(id): Path<String>) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let change = changes::get(&db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("change request"))?;
    // Per-object summary from the stored diff: what changed where, without the text.
    let diff = changes::diff_json(&db, &id).await?.unwrap_or(Value::Null);
    let objects: Vec<Value> = diff["objects"]
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter(|o| o["status"] != "unchanged")
                .map(|o| json!({ "object": o["display"], "status": o["status"], "fields": o["fields"], "risks": o["risks"] }))
                .collect()
        })
        .unwrap_or_default();
    // What happened to it, as on its page (reviews, merge, Flux, verification).
    let timeline: Vec<Value> = app::audit::ssr::for_target(&db, &format!("change:{id}"))
        .await?
        .into_iter()
        .map(|e| json!({ "at": e.at, "actor": e.actor, "action": e.action }))
        .collect();
    Ok(Json(
        json!({ "change": change, "objects": objects, "timeline": timeline }),
    ))
}

async fn get_change_diff(
    caller: Caller,
    State(db): State<Db>,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Role::Viewer, Scope::Read)?;
    let diff = changes::diff_json(&db, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("change request"))?;
    Ok(Json(diff))
}

/// A push happened: poll the app's repository now.
async fn git_hook(
    caller: Caller,
    State(db): State<Db>,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let user = caller.require(Role::Developer, Scope::Read)?;
    let app = apps::by_name(&db, &app)
        .await?
        .ok_or_else(|| ApiError::not_found("app"))?;
    // Enqueueing wakes this process's runner, if it has one.
    let queued = runner::poll::request(&db, &app.id).await?;
    tracing::info!(app = %app.name, user = %user.name, "git hook: poll requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "app": app.name, "poll": if queued { "queued" } else { "already queued" } })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct ReviewBody {
    #[serde(default)]
    comment: String,
}

async fn review(
    caller: Caller,
    db: Db,
    id: String,
    decision: &str,
    body: Option<Json<ReviewBody>>,
) -> ApiResult {
    let user = caller.require(Role::Developer, Scope::Review)?;
    let comment = body.map(|b| b.0.comment).unwrap_or_default();
    let summary = app::changes::review::record(&db, &id, user, decision, &comment).await?;
    Ok(Json(json!({ "policy": summary })))
}

/// `POST /api/v1/changes/<id>/approve` with an optional `{"comment": "…"}`.
async fn approve(
    caller: Caller,
    State(db): State<Db>,
    Path(id): Path<String>,
    body: Option<Json<ReviewBody>>,
) -> ApiResult {
    review(caller, db, id, "approve", body).await
}

async fn reject(
    caller: Caller,
    State(db): State<Db>,
    Path(id): Path<String>,
    body: Option<Json<ReviewBody>>,
) -> ApiResult {
    review(caller, db, id, "reject", body).await
}

async fn merge(caller: Caller, State(db): State<Db>, Path(id): Path<String>) -> ApiResult {
    let user = caller.require(Role::Developer, Scope::Merge)?;
    let message = app::changes::merge::merge(&db, &id, user).await?;
    Ok(Json(json!({ "merged": true, "message": message })))
}
