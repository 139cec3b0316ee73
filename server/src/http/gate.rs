//! Three request checks in front of the routes.
//!
//! * With `--public-url`, browser requests must name its host (421 otherwise).
//! * Pages other than the public ones need a signed-in user: without one, a redirect to
//!   the login page that comes back afterwards. Unknown paths pass through to the 404 page.
//! * Requests that change state (anything but GET/HEAD/OPTIONS) must come from this site:
//!   a browser's `Origin` (or `Sec-Fetch-Site`) naming another site is refused. With a
//!   public URL the origin must be exactly its origin.

use app::auth::ssr::{session_user_of, SessionLifetime};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use fluxgate_core::db::Db;
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

/// What the sign-in gate needs.
pub struct SignInGate {
    pub protected: Arc<ProtectedPaths>,
    pub db: Db,
    pub lifetime: SessionLifetime,
    pub oidc: Option<Arc<crate::oidc::Provider>>,
}

pub async fn require_sign_in(
    State(gate): State<Arc<SignInGate>>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_page = matches!(*request.method(), Method::GET | Method::HEAD);
    let page_needs_user = is_page && gate.protected.matches(path);
    // Server functions (the REST API under /api/v1/ signs in with tokens, not sessions).
    let server_fn = path.starts_with("/api/") && !path.starts_with("/api/v1/");
    if let Some(provider) = &gate.oidc {
        if page_needs_user || server_fn {
            super::oidc::keep_fresh(provider, &session).await;
        }
    }
    if !page_needs_user {
        return next.run(request).await;
    }
    let user = match session_user_of(&gate.db, &session, gate.lifetime).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "checking the session failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "session store or database unavailable\n",
            )
                .into_response();
        }
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

/// The public address from `--public-url`, as the checks compare it.
pub struct Public {
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    origin: String,
    /// `host[:port]`, as browsers send it in `Host`.
    host: String,
}

impl Public {
    pub fn new(url: &url::Url) -> Public {
        let origin = url.origin().ascii_serialization();
        let host = origin
            .split_once("://")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        Public { origin, host }
    }
}

/// Paths that machines call by whatever name reaches the server (kubelet probes, Flux's
/// webhooks and fetches, API clients with tokens): no Host check for them.
fn machine_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
        || ["/hooks/", "/git/", "/api/v1/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// With a public URL, a browser request must name its host: a page served under any other
/// name (DNS rebinding, a stray virtual host) is refused with 421.
pub async fn known_host(
    State(public): State<Option<Arc<Public>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(public) = public else {
        return next.run(request).await;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if machine_path(request.uri().path()) || host == Some(public.host.as_str()) {
        return next.run(request).await;
    }
    tracing::warn!(host = ?host, "refused a request for another host name");
    (
        StatusCode::MISDIRECTED_REQUEST,
        format!("this server answers as {}\n", public.origin),
    )
        .into_response()
}

pub async fn same_origin_mutations(
    State(public): State<Option<Arc<Public>>>,
    request: Request,
    next: Next,
) -> Response {
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
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign_origin = match (origin, &public) {
        // With a public URL, the whole origin (scheme too) must be it.
        (Some(origin), Some(public)) => origin != public.origin,
        // Otherwise the origin's host must be the Host the request was sent to.
        // "null" origins (sandboxed frames, some redirects) are refused too.
        (Some(origin), None) => match host {
            Some(host) => origin.split_once("://").map(|(_, h)| h) != Some(host),
            None => true,
        },
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
