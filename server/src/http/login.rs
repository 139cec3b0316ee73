//! Sign-in and sign-out as plain form posts: they work before (or without) hydration, and
//! they write the session outside any streamed page.

use super::AppState;
use app::auth::{safe_next, ssr::verify_login, ssr::USER_ID_KEY};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
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
    Form(form): Form<SignInForm>,
) -> Response {
    let next = same_origin(safe_next(form.next.as_deref()));
    match verify_login(&state.db, &form.username, &form.password).await {
        Ok(Some(user)) => {
            // A new session id at login: a session id planted before login is worthless.
            if let Err(e) = session.cycle_id().await {
                return internal(e);
            }
            if let Err(e) = session.insert(USER_ID_KEY, &user.id).await {
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
            tracing::warn!(user = %form.username, "sign-in refused: wrong user name or password");
            // Recorded too (the name as typed, never the password): guessing shows up.
            let _ = app::audit::ssr::append(
                &state.db,
                "anonymous",
                "login.refused",
                &format!(
                    "user:{}",
                    form.username.chars().take(64).collect::<String>()
                ),
                serde_json::json!({}),
            )
            .await;
            let query =
                serde_urlencoded::to_string([("error", "invalid"), ("next", next.as_str())])
                    .expect("two string pairs always encode");
            Redirect::to(&format!("/login?{query}")).into_response()
        }
        Err(e) => internal(e),
    }
}

pub async fn sign_out(session: Session) -> Response {
    if let Err(e) = session.flush().await {
        return internal(e);
    }
    Redirect::to("/login").into_response()
}

/// The second gate for `next` (the first is `safe_next`'s text rules): resolved with a
/// WHATWG URL parser against this site's origin, the target must keep that origin.
/// The placeholder host never leaves this function; only the path, query and fragment
/// of the parsed result are used, so what the browser gets is what was checked.
fn same_origin(next: String) -> String {
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

fn internal(e: impl std::fmt::Display) -> Response {
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
