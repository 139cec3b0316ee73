//! The web server: pages (Leptos SSR + hydration), server functions, login, health checks.
//!
//! Layers, outermost first: request tracing → sessions → same-origin check for mutations →
//! sign-in gate for pages → routes.

mod api;
mod flux;
mod gate;
mod git;
mod health;
mod login;
mod run_logs;
mod site;

pub use site::leptos_options;

use crate::database::{Database, SessionPool};
use app::db::Db;
use app::{shell, App};
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum::Router;
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
    /// Wakes this process's runner when a hook queues work.
    pub wake: crate::runner::Wake,
}

/// Web-server settings that are not about the database.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Mark the session cookie `Secure` (serve behind HTTPS).
    pub secure_cookies: bool,
    /// Shared with the in-process runner, if any.
    pub wake: crate::runner::Wake,
}

/// Builds the whole application router.
pub fn router(database: &Database, options: LeptosOptions, config: &WebConfig) -> Router {
    let state = AppState {
        leptos_options: options,
        db: database.db.clone(),
        wake: config.wake.clone(),
    };
    let routes = generate_route_list(App);
    let protected = Arc::new(gate::ProtectedPaths::new(
        routes.iter().map(|r| r.path().to_string()),
        app::PUBLIC_PATHS,
    ));

    let db = state.db.clone();
    let context = move || provide_context(db.clone());

    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/login", post(login::sign_in))
        .route("/logout", post(login::sign_out))
        .merge(api::routes())
        .merge(git::routes())
        .merge(flux::routes())
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            context, shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (protected, state.db.clone()),
            gate::require_sign_in,
        ))
        .layer(axum::middleware::from_fn(gate::same_origin_mutations))
        .with_state(state);

    let router = match &database.sessions {
        SessionPool::Sqlite(pool) => with_sessions(router, SqliteStore::new(pool.clone()), config),
        SessionPool::Postgres(pool) => {
            with_sessions(router, PostgresStore::new(pool.clone()), config)
        }
    };
    router.layer(TraceLayer::new_for_http())
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
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12)));
    router.layer(layer)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
