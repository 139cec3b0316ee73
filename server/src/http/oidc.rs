//! The provider sign-in routes: `/auth/oidc/start` sends the browser to the provider,
//! `/auth/oidc/callback` takes it back and signs the user in. Also the token refresh the
//! sign-in gate runs, and where sign-out sends a provider user.
//!
//! Every refusal is a small page that says why (never a stack trace) and a log line; a
//! refusal after the provider was asked is also an audit entry.

use super::AppState;
use crate::oidc::{accounts, Pending, Provider, ProviderSession, SignInError};
use app::auth::safe_next;
use app::auth::ssr::{now_millis, PROVIDER_SESSION_KEY, SIGNED_IN_AT_KEY, USER_ID_KEY};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

const PENDING_KEY: &str = "oidc_pending";
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(provider) = state.oidc.clone() else {
        return not_configured();
    };
    let Some(origin) = origin(&state, &headers) else {
        return page(StatusCode::BAD_REQUEST, "The request names no usable host.");
    };
    let next = super::login::same_origin(safe_next(query.next.as_deref()));
    match provider
        .start(&format!("{origin}{CALLBACK_PATH}"), next)
        .await
    {
        Ok((url, pending)) => {
            if let Err(e) = session.insert(PENDING_KEY, &pending).await {
                return super::login::internal(e);
            }
            Redirect::to(url.as_str()).into_response()
        }
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: the issuer that sent the browser back (against mix-ups between providers).
    iss: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(provider) = state.oidc.clone() else {
        return not_configured();
    };
    // Taken out at once: a callback is good for one try, whatever its outcome.
    let pending: Option<Pending> = match session.remove(PENDING_KEY).await {
        Ok(p) => p,
        Err(e) => return super::login::internal(e),
    };
    let outcome = finish(&state, &provider, pending, &query).await;
    match outcome {
        Ok((user, tokens, changes, next)) => {
            if let Err(e) = signed_in(&session, &user.id, &tokens).await {
                return super::login::internal(e);
            }
            tracing::info!(user = %user.name, via = "oidc", groups = ?user.groups, role = %user.role, "signed in");
            let logged = app::audit::ssr::append(
                &state.db,
                &user.name,
                "login",
                &format!("user:{}", user.name),
                serde_json::json!({ "via": "oidc", "role": user.role, "groups": user.groups, "changes": changes }),
            )
            .await;
            if let Err(e) = logged {
                return super::login::internal(e);
            }
            Redirect::to(&next).into_response()
        }
        Err((e, asked_provider)) => {
            if asked_provider {
                let _ = app::audit::ssr::append(
                    &state.db,
                    "anonymous",
                    "login.refused",
                    &format!("oidc:{}", provider.settings.issuer),
                    serde_json::json!({ "via": "oidc", "reason": e.kind() }),
                )
                .await;
            }
            refused(&e)
        }
    }
}

type SignedIn = (
    app::auth::SignedInUser,
    ProviderSession,
    accounts::Changes,
    String,
);

/// The callback's work; the flag says whether the provider was asked (worth an audit entry).
async fn finish(
    state: &AppState,
    provider: &Provider,
    pending: Option<Pending>,
    query: &CallbackQuery,
) -> Result<SignedIn, (SignInError, bool)> {
    let pending = pending.ok_or((SignInError::NotInProgress, false))?;
    if let Some(error) = &query.error {
        let mut text = error.clone();
        if let Some(d) = &query.error_description {
            text.push_str(": ");
            text.push_str(d);
        }
        return Err((SignInError::ProviderSaid(text), false));
    }
    if query
        .iss
        .as_ref()
        .is_some_and(|iss| *iss != provider.settings.issuer)
    {
        return Err((
            SignInError::ProviderSaid("the callback names another issuer".into()),
            false,
        ));
    }
    let (Some(code), Some(callback_state)) = (&query.code, &query.state) else {
        return Err((
            SignInError::ProviderSaid("the callback carries no code".into()),
            false,
        ));
    };
    let next = pending.next.clone();
    let (identity, tokens) = provider
        .finish(pending, code, callback_state)
        .await
        .map_err(|e| {
            let asked = !matches!(e, SignInError::StateMismatch | SignInError::TooSlow);
            (e, asked)
        })?;
    let (user, changes) = accounts::sign_in(&state.db, &provider.settings, &identity)
        .await
        .map_err(|e| (e, true))?;
    Ok((user, tokens, changes, next))
}

async fn signed_in(
    session: &Session,
    user_id: &str,
    tokens: &ProviderSession,
) -> Result<(), tower_sessions::session::Error> {
    // A new session id at sign-in: an id planted before is worthless.
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, user_id).await?;
    session.insert(SIGNED_IN_AT_KEY, now_millis()).await?;
    session.insert(PROVIDER_SESSION_KEY, tokens).await
}

/// Before a request that needs the user: a provider session whose tokens ran out is
/// refreshed, or ended when it cannot be (the user signs in again).
pub async fn keep_fresh(provider: &Provider, session: &Session) {
    let tokens: Option<ProviderSession> = session.get(PROVIDER_SESSION_KEY).await.ok().flatten();
    let Some(tokens) = tokens else { return };
    if tokens.expires_ms > now_millis() {
        return;
    }
    match provider.refresh(&tokens).await {
        Ok(renewed) => {
            if session.insert(PROVIDER_SESSION_KEY, renewed).await.is_err() {
                let _ = session.flush().await;
            }
        }
        Err(e) => {
            tracing::info!(reason = %e, "the provider's tokens ran out and could not be refreshed: session ended");
            let _ = session.flush().await;
        }
    }
}

/// Where sign-out sends the browser: the provider's end-session endpoint for a provider
/// session when it offers one, else the login page.
pub async fn after_sign_out(
    state: &AppState,
    headers: &HeaderMap,
    tokens: Option<ProviderSession>,
) -> String {
    if let (Some(provider), Some(tokens), Some(origin)) =
        (state.oidc.as_ref(), tokens, origin(state, headers))
    {
        if let Some(url) = provider
            .end_session_url(&tokens, &format!("{origin}/login"))
            .await
        {
            return url.to_string();
        }
    }
    "/login".to_string()
}

/// What these routes answer on a server without a provider.
fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no identity provider is configured\n",
    )
        .into_response()
}

/// This site's origin as the browser reached it: `--public-url` when set (the host gate
/// then holds every request to it), else the request's `Host` over http.
fn origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &state.public_url {
        return Some(url.origin().ascii_serialization());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let fine = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    fine.then(|| format!("http://{host}"))
}

fn refused(e: &SignInError) -> Response {
    let status = match e {
        SignInError::Unreachable(..) => StatusCode::BAD_GATEWAY,
        SignInError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        SignInError::NotInProgress | SignInError::TooSlow | SignInError::StateMismatch => {
            StatusCode::BAD_REQUEST
        }
        SignInError::ProviderSaid(_) | SignInError::Account(_) => StatusCode::FORBIDDEN,
        SignInError::TokenRefused(_) | SignInError::BadIdToken(_) => StatusCode::UNAUTHORIZED,
    };
    tracing::warn!(reason = e.kind(), detail = %e, "provider sign-in refused");
    page(status, &format!("Sign-in failed: {e}."))
}

fn page(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign-in failed</title>\
         <link rel=\"stylesheet\" href=\"/pkg/fluxgate.css\"></head>\
         <body><main class=\"login\"><div class=\"card login-card\"><h1>Sign-in failed</h1>\
         <p class=\"error\" role=\"alert\" data-testid=\"sign-in-error\">{}</p>\
         <p><a href=\"/login\">Back to sign-in</a></p></div></main></body></html>",
        escape(text)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Provider answers and callback parameters end up in the text: never as markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
