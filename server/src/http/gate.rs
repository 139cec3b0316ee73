//! Two request checks in front of the routes.
//!
//! * Pages other than the public ones need a signed-in user: without one, a redirect to
//!   the login page that comes back afterwards. Unknown paths pass through to the 404 page.
//! * Requests that change state (anything but GET/HEAD/OPTIONS) must come from this site:
//!   a browser's `Origin` (or `Sec-Fetch-Site`) naming another site is refused.

use app::auth::ssr::{load_user, USER_ID_KEY};
use app::db::Db;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;
use tower_sessions::Session;

/// Route patterns that need a session (`/changes/{id}` as axum 0.8 writes them; `:id` too).
pub struct ProtectedPaths {
    patterns: Vec<Vec<String>>,
}

impl ProtectedPaths {
    pub fn new(routes: impl IntoIterator<Item = String>, public: &[&str]) -> Self {
        let patterns = routes
            .into_iter()
            .filter(|p| !public.contains(&p.as_str()))
            .map(|p| segments(&p).map(str::to_string).collect())
            .collect();
        ProtectedPaths { patterns }
    }

    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = segments(path).collect();
        self.patterns.iter().any(|pattern| {
            let wildcard = pattern
                .last()
                .is_some_and(|s| s.starts_with('*') || s.starts_with("{*"));
            let fixed = if wildcard {
                pattern.len() - 1
            } else {
                pattern.len()
            };
            (parts.len() == fixed || (wildcard && parts.len() >= fixed))
                && pattern
                    .iter()
                    .take(fixed)
                    .zip(&parts)
                    .all(|(p, s)| p.starts_with(':') || p.starts_with('{') || p == s)
        })
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

pub async fn require_sign_in(
    State((protected, db)): State<(Arc<ProtectedPaths>, Db)>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let is_page = matches!(*request.method(), Method::GET | Method::HEAD);
    if !is_page || !protected.matches(request.uri().path()) {
        return next.run(request).await;
    }
    let user_id: Option<String> = match session.get(USER_ID_KEY).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "session store failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "session store unavailable\n",
            )
                .into_response();
        }
    };
    let user = match user_id {
        None => None,
        Some(id) => match load_user(&db, &id).await {
            Ok(Some(user)) => Some(user),
            Ok(None) => {
                // The user was removed or disabled since signing in.
                let _ = session.flush().await;
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "loading the session's user failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
            }
        },
    };
    if let Some(user) = user {
        // The page's server functions read it from here instead of loading it again.
        request.extensions_mut().insert(user);
        return next.run(request).await;
    }
    let wanted = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let query =
        serde_urlencoded::to_string([("next", wanted)]).expect("one string pair always encodes");
    Redirect::to(&format!("/login?{query}")).into_response()
}

pub async fn same_origin_mutations(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        host,
    ) {
        // "null" origins (sandboxed frames, some redirects) are refused too.
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if cross_site || foreign_origin {
        tracing::warn!(path = %request.uri().path(), "refused a cross-origin request");
        return (StatusCode::FORBIDDEN, "cross-origin request refused\n").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::ProtectedPaths;

    #[test]
    fn matches_routes_not_unknown_paths() {
        let p = ProtectedPaths::new(
            [
                "/",
                "/changes",
                "/changes/{id}",
                "/runs/:id",
                "/files/{*rest}",
                "/login",
            ]
            .map(String::from),
            &["/login"],
        );
        assert!(p.matches("/"));
        assert!(p.matches("/changes"));
        assert!(p.matches("/changes/"));
        assert!(p.matches("/changes/42"));
        assert!(p.matches("/runs/7"));
        assert!(p.matches("/files/a/b"));
        assert!(!p.matches("/login"));
        assert!(!p.matches("/changes/42/extra"));
        assert!(!p.matches("/no-such-page"));
    }
}
