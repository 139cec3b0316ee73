//! The one error type of the server-function boundary.
//!
//! Each variant carries a status code and a message meant for the person in front of the
//! page. Internal detail (SQL errors, I/O errors) is logged on the server and never sent.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    Unauthenticated,
    #[error("Not allowed: {0}")]
    Forbidden(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Something went wrong on the server; the details are in its log.")]
    Internal,
    /// Transport problems of the server-function machinery itself (network, decoding).
    #[error("Request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

/// An error where it happened, beside the control or part it belongs to. A session that has
/// ended leads to the sign-in page, which brings the reader back to this page; what they
/// were writing is kept in the browser (`crate::drafts`), so nothing typed is lost.
#[component]
pub fn ErrorNote(e: AppError) -> impl IntoView {
    if e != AppError::Unauthenticated {
        return view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any();
    }
    let location = leptos_router::hooks::use_location();
    let search = location.search.get_untracked();
    let search = search.trim_start_matches('?');
    let here = if search.is_empty() {
        location.pathname.get_untracked()
    } else {
        format!("{}?{search}", location.pathname.get_untracked())
    };
    let href = sign_in_link(&here);
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(&href);
    }
    view! {
        <p class="error" role="alert" data-testid="signed-out">
            "Your session has ended. "<a href=href>"Sign in again"</a>
            " to go on; what you typed is kept."
        </p>
    }
    .into_any()
}

/// The sign-in page's address that leads back to `here` (a local path).
pub fn sign_in_link(here: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    format!(
        "/login?next={}",
        utf8_percent_encode(here, NON_ALPHANUMERIC)
    )
}

#[cfg(feature = "ssr")]
impl AppError {
    pub fn status_code(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Sets this error's status on the HTTP response of the current server function
    /// (the server-function machinery would otherwise answer 500 for every error).
    pub fn with_status(self) -> Self {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status_code());
        }
        self
    }

    /// Logs the real cause and returns the opaque [`AppError::Internal`].
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error in a server function");
        AppError::Internal
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::internal(e)
    }
}

#[cfg(feature = "ssr")]
impl From<fluxgate_core::db::BadJson> for AppError {
    fn from(e: fluxgate_core::db::BadJson) -> Self {
        AppError::internal(e)
    }
}
