//! Small pages with no domain of their own: not found, and the pages still to be built.

use leptos::prelude::*;

/// Shown for any path no route knows; answers HTTP 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <leptos_meta::Title text="Not found"/>
        <main class="not-found">
            <div class="card">
                <h1>"404: nothing here"</h1>
                <p class="muted">"The page you asked for does not exist."</p>
                <a href="/">"Go to the environments"</a>
            </div>
        </main>
    }
}

/// A change, run or other record that does not exist (or no longer does): HTTP 404 inside
/// the layout, with the way back to its list. Its route renders with `SsrMode::Async`, so
/// the status is set before the answer starts.
#[component]
pub fn Missing(what: String, back: &'static str, back_label: &'static str) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <leptos_meta::Title text="Not found"/>
        <div class="card not-found" role="alert" data-testid="missing">
            <h1>"Not found"</h1>
            <p class="muted">{format!("There is no such {what}.")}</p>
            <a href=back>{back_label}</a>
        </div>
    }
}

/// A page whose feature is not built yet. It says so plainly instead of pretending.
#[component]
pub fn NotBuiltYet(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <leptos_meta::Title text=title/>
        <div class="page-head">
            <h1>{title}</h1>
        </div>
        <div class="card not-built" role="status">
            <strong>"Not built yet."</strong>
            <p>{what}</p>
        </div>
    }
}
