//! The web server: pages (Leptos SSR + hydration), server functions, login, health checks.
//!
//! Layers, outermost first: request tracing → sessions → host check (with a public URL) →
//! same-origin check for mutations → sign-in gate for pages → routes.

mod api;
mod flux;
mod gate;
mod git;
mod health;
mod live;
mod login;
mod oidc;
mod render_deadline;
mod run_logs;
mod site;
mod throttle;

pub use site::leptos_options;

use crate::database::{Database, SessionPool};
use app::auth::ssr::SessionLifetime;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::Router;
use fluxgate_core::db::Db;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// What every handler can reach.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    /// Sign-in throttling and the bound on password hashing.
    pub sign_in: Arc<throttle::SignInGuard>,
    pub session_lifetime: SessionLifetime,
    /// The organisation's identity provider, when one is configured.
    pub oidc: Option<Arc<crate::oidc::Provider>>,
    /// Whether the password form signs anyone in (`--local-login`).
    pub local_login: bool,
    pub public_url: Option<url::Url>,
}

/// Web-server settings that are not about the database.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (serve behind HTTPS).
    pub secure_cookies: bool,
    /// A session ends this long after sign-in, however active.
    pub session_lifetime: SessionLifetime,
    /// The address people reach fluxgate at (`--public-url`): browser requests must name
    /// its host, cross-site checks compare against its origin, and https makes the
    /// session cookie `Secure`.
    pub public_url: Option<url::Url>,
    /// Sign-in through an OpenID Connect provider (`--oidc-issuer` and friends).
    pub oidc: Option<Arc<crate::oidc::Provider>>,
    /// The password form; off leaves sign-in to the provider.
    pub local_login: bool,
}

impl WebConfig {
    /// Settings for a server on this machine: no provider, local sign-in on.
    pub fn local() -> WebConfig {
        WebConfig {
            secure_cookies: false,
            session_lifetime: SessionLifetime::default(),
            public_url: None,
            oidc: None,
            local_login: true,
        }
    }
}

const FORM_LIMIT: usize = 16 * 1024;

/// Builds the whole application router.
pub fn router(database: &Database, options: LeptosOptions, config: &WebConfig) -> Router {
    let state = AppState {
        leptos_options: options,
        db: database.db.clone(),
        sign_in: Arc::new(throttle::SignInGuard::default()),
        session_lifetime: config.session_lifetime,
        oidc: config.oidc.clone(),
        local_login: config.local_login,
        public_url: config.public_url.clone(),
    };
    spawn_sign_in_auditor(&state);
    let routes = generate_route_list(App);
    let protected = Arc::new(gate::ProtectedPaths::new(
        routes.iter().map(|r| r.path().to_string()),
        app::PUBLIC_PATHS,
    ));

    let public = config
        .public_url
        .as_ref()
        .map(gate::Public::new)
        .map(Arc::new);
    let db = state.db.clone();
    let lifetime = config.session_lifetime;
    let options = app::auth::SignInOptions {
        provider: config
            .oidc
            .as_ref()
            .map(|p| p.settings.display_name.clone()),
        local: config.local_login,
    };
    let context = move || {
        provide_context(db.clone());
        provide_context(lifetime);
        provide_context(options.clone());
    };

    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Forms of a few fields: 16 KiB is plenty (axum's default would be 2 MiB).
        .route(
            "/login",
            post(login::sign_in).layer(DefaultBodyLimit::max(FORM_LIMIT)),
        )
        .route("/logout", post(login::sign_out))
        .route("/auth/oidc/start", get(oidc::start))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route(
            "/account/password",
            post(login::change_password).layer(DefaultBodyLimit::max(FORM_LIMIT)),
        )
        .merge(api::routes())
        .merge(git::routes())
        .merge(flux::routes())
        .merge(
            Router::new()
                .leptos_routes_with_context(&state, routes, context.clone(), {
                    let options = state.leptos_options.clone();
                    move || shell(options.clone())
                })
                .layer(axum::middleware::from_fn(render_deadline::retry_stalled)),
        )
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            context, shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(gate::SignInGate {
                protected,
                db: state.db.clone(),
                lifetime: config.session_lifetime,
                oidc: config.oidc.clone(),
            }),
            gate::require_sign_in,
        ))
        .layer(axum::middleware::from_fn_with_state(
            public.clone(),
            gate::same_origin_mutations,
        ))
        .layer(axum::middleware::from_fn_with_state(
            public,
            gate::known_host,
        ))
        .with_state(state);

    let router = match &database.sessions {
        SessionPool::Sqlite(pool) => with_sessions(router, SqliteStore::new(pool.clone()), config),
        SessionPool::Postgres(pool) => {
            with_sessions(router, PostgresStore::new(pool.clone()), config)
        }
    };
    router.layer(TraceLayer::new_for_http())
}

/// Failed sign-ins are audited as counts: this writes them every half minute.
fn spawn_sign_in_auditor(state: &AppState) {
    let (db, guard) = (state.db.clone(), state.sign_in.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            every.tick().await;
            login::audit_failed_sign_ins(&db, &guard).await;
        }
    });
}

fn with_sessions<S>(router: Router, store: S, config: &WebConfig) -> Router
where
    S: SessionStore + ExpiredDeletion + Clone,
{
    // Expired sessions are only skipped on load; this removes their rows.
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(e) = sweeper.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed; will retry");
            }
        }
    });
    let layer = SessionManagerLayer::new(store)
        .with_name("fluxgate_session")
        .with_http_only(true)
        // Lax, not Strict: a link to a change request from chat must open signed in.
        // Cross-site mutations are refused by the same-origin check instead.
        .with_same_site(SameSite::Lax)
        .with_secure(
            config.secure_cookies
                || config
                    .public_url
                    .as_ref()
                    .is_some_and(|u| u.scheme() == "https"),
        )
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
    router.layer(layer)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The client's address is what sign-in throttling counts by.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
