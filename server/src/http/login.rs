//! Sign-in and sign-out as plain form posts: they work before (or without) hydration, and
//! they write the session outside any streamed page.

use super::throttle::{Refusal, SignInGuard};
use super::AppState;
use app::auth::safe_next;
use app::auth::ssr::{
    now_millis, password_is, session_user_of, set_password, verify_login, SIGNED_IN_AT_KEY,
    USER_ID_KEY,
};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use fluxgate_core::db::Db;
use serde::Deserialize;
use std::net::SocketAddr;
use tower_sessions::Session;

#[derive(Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    extensions: Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    if !state.local_login {
        // The typed name is not logged: it is sometimes a pasted password.
        tracing::warn!("password sign-in refused: --local-login off");
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in</title></head>\
             <body><main><h1>Password sign-in is off</h1><p>This server signs people in through \
             its identity provider only.</p><p><a href=\"/login\">Back to sign-in</a></p></main></body></html>",
        )
            .into_response();
    }
    let next = same_origin(safe_next(form.next.as_deref()));
    let address = client_address(&extensions);
    let guard = &state.sign_in;
    let ticket = match guard.admit(&form.username, address).await {
        Ok(t) => t,
        Err(refusal) => return refused(refusal, address),
    };
    match verify_login(&state.db, &form.username, &form.password).await {
        Ok(Some(user)) => {
            ticket.succeeded();
            // A new session id at login: a session id planted before login is worthless.
            if let Err(e) = session.cycle_id().await {
                return internal(e);
            }
            if let Err(e) = session.insert(USER_ID_KEY, &user.id).await {
                return internal(e);
            }
            if let Err(e) = session.insert(SIGNED_IN_AT_KEY, now_millis()).await {
                return internal(e);
            }
            tracing::info!(user = %user.name, "signed in");
            let logged = app::audit::ssr::append(
                &state.db,
                &user.name,
                "login",
                &format!("user:{}", user.name),
                serde_json::json!({}),
            )
            .await;
            if let Err(e) = logged {
                return internal(e);
            }
            Redirect::to(&next).into_response()
        }
        Ok(None) => {
            drop(ticket);
            // The typed name is written only when it names a user: an unknown "name" is
            // sometimes a password typed into the wrong box.
            let is_user = match user_exists(&state.db, &form.username).await {
                Ok(b) => b,
                Err(e) => return internal(e),
            };
            let label = guard.label(&form.username, is_user);
            tracing::warn!(user = %label, "sign-in refused: wrong user name or password");
            if guard.failed(&label, address) {
                // The first failure of a name is written at once; repeats are counted and
                // written as one entry by `audit_failed_sign_ins`.
                let _ = app::audit::ssr::append(
                    &state.db,
                    "anonymous",
                    "login.refused",
                    &format!("user:{label}"),
                    serde_json::json!({ "count": 1, "addresses": address.map(|a| vec![a.to_string()]).unwrap_or_default() }),
                )
                .await;
            }
            let query =
                serde_urlencoded::to_string([("error", "invalid"), ("next", next.as_str())])
                    .expect("two string pairs always encode");
            Redirect::to(&format!("/login?{query}")).into_response()
        }
        Err(e) => internal(e),
    }
}

/// 429 (with `Retry-After`) or 503, as a small page that leads back to the form.
fn refused(refusal: Refusal, address: Option<std::net::IpAddr>) -> Response {
    let (status, wait, text) = match refusal {
        Refusal::TooMany(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "Too many failed sign-ins for this user name or from this address.",
        ),
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(1),
            "The server is busy checking other sign-ins.",
        ),
    };
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    tracing::warn!(address = ?address, retry_after = seconds, "sign-in throttled");
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign in later</title></head>\
         <body><main><h1>Sign in later</h1><p>{text} Try again in {seconds} s.</p>\
         <p><a href=\"/login\">Back to sign-in</a></p></main></body></html>"
    );
    (
        status,
        [
            (header::RETRY_AFTER, seconds.to_string()),
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
        ],
        body,
    )
        .into_response()
}

/// Writes the counts of failed sign-ins gathered since the last call, one audit entry per
/// name; run every half minute by the server.
pub async fn audit_failed_sign_ins(db: &Db, guard: &SignInGuard) {
    for (label, counts) in guard.drain() {
        let addresses: Vec<String> = counts.addresses.iter().map(|a| a.to_string()).collect();
        let written = app::audit::ssr::append(
            db,
            "anonymous",
            "login.refused",
            &format!("user:{label}"),
            serde_json::json!({ "count": counts.count, "addresses": addresses }),
        )
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "auditing failed sign-ins");
        }
    }
}

/// The peer's address, which throttling counts by (absent when served without connect
/// info, e.g. a router driven in-process).
fn client_address(extensions: &Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn user_exists(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE name = $1")
        .bind(name)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    repeat: String,
}

/// The signed-in user changes their own password. The current one is checked through the
/// same throttle as sign-in (a stolen session must not become a password oracle); the
/// change ends every other session of the user and renews this one.
pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    extensions: Extensions,
    Form(form): Form<PasswordForm>,
) -> Response {
    let answer =
        |outcome: &str| Redirect::to(&format!("/account?password={outcome}")).into_response();
    let user = match session_user_of(&state.db, &session, state.session_lifetime).await {
        Ok(Some(user)) => user,
        Ok(None) => return Redirect::to("/login?next=%2Faccount").into_response(),
        Err(e) => return internal(e),
    };
    if form.new.is_empty() {
        return answer("empty");
    }
    if form.new != form.repeat {
        return answer("mismatch");
    }
    let address = client_address(&extensions);
    let ticket = match state.sign_in.admit(&user.name, address).await {
        Ok(t) => t,
        Err(refusal) => return refused(refusal, address),
    };
    match password_is(&state.db, &user.name, &form.current).await {
        Ok(true) => ticket.succeeded(),
        Ok(false) => {
            drop(ticket);
            tracing::warn!(user = %user.name, "password change refused: wrong current password");
            if state.sign_in.failed(&user.name, address) {
                let _ = app::audit::ssr::append(
                    &state.db,
                    &user.name,
                    "password.refused",
                    &format!("user:{}", user.name),
                    serde_json::json!({ "count": 1 }),
                )
                .await;
            }
            return answer("wrong");
        }
        Err(e) => return internal(e),
    }
    let since = match set_password(&state.db, &user.name, &form.new).await {
        Ok(Some(t)) => t,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return internal(e),
    };
    // This session goes on under a new id; all others signed in before `since`.
    if let Err(e) = session.cycle_id().await {
        return internal(e);
    }
    if let Err(e) = session.insert(SIGNED_IN_AT_KEY, since).await {
        return internal(e);
    }
    if let Err(e) = app::audit::ssr::append(
        &state.db,
        &user.name,
        "user.password",
        &format!("user:{}", user.name),
        serde_json::json!({ "by": "self" }),
    )
    .await
    {
        return internal(e);
    }
    tracing::info!(user = %user.name, "password changed");
    answer("changed")
}

/// Ends the session; a provider session goes on to the provider's own sign-out when it
/// offers one (RP-initiated logout), which comes back to the login page.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
) -> Response {
    let tokens = session
        .get(app::auth::ssr::PROVIDER_SESSION_KEY)
        .await
        .ok()
        .flatten();
    if let Err(e) = session.flush().await {
        return internal(e);
    }
    Redirect::to(&super::oidc::after_sign_out(&state, &headers, tokens).await).into_response()
}

/// The second gate for `next` (the first is `safe_next`'s text rules): resolved with a
/// WHATWG URL parser against this site's origin, the target must keep that origin.
/// The placeholder host never leaves this function; only the path, query and fragment
/// of the parsed result are used, so what the browser gets is what was checked.
pub(super) fn same_origin(next: String) -> String {
    let base = url::Url::parse("http://fluxgate.invalid/").expect("a constant URL");
    match base.join(&next) {
        Ok(u) if u.origin() == base.origin() => {
            let mut local = u.path().to_string();
            if let Some(q) = u.query() {
                local.push('?');
                local.push_str(q);
            }
            if let Some(f) = u.fragment() {
                local.push('#');
                local.push_str(f);
            }
            local
        }
        _ => "/".to_string(),
    }
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "sign-in machinery failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "sign-in failed on the server; see its log\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_keeps_local_paths_and_drops_everything_else() {
        assert_eq!(
            same_origin(safe_next(Some("/changes/7?tab=diff#o3"))),
            "/changes/7?tab=diff#o3"
        );
        for bad in [
            "/\t/evil.example",
            "/%09/evil.example",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\n/evil.example",
        ] {
            assert_eq!(same_origin(safe_next(Some(bad))), "/", "{bad:?}");
        }
        // Even text that slipped past the first gate cannot leave the origin.
        assert_eq!(same_origin("//evil.example/x".into()), "/");
        assert_eq!(same_origin("/\t/evil.example".into()), "/");
    }
}
