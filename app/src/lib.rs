//! fluxgate's user interface: every page, the types they share with the server, and the
//! server functions they call.
//!
//! Built twice: with `ssr` into the server binary (pages rendered on the server, server
//! functions run there), and with `hydrate` into the WASM that makes those pages live in
//! the browser. Server-only code sits in `#[cfg(feature = "ssr")] mod ssr` blocks.

pub mod account;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod dashboard;
pub mod drafts;
pub mod environments;
pub mod error;
pub mod flux_status;
#[cfg(feature = "ssr")]
pub mod git;
#[cfg(feature = "ssr")]
pub mod identity;
pub mod keys;
pub mod layout;
pub mod linked;
pub mod live;
pub mod pages;
pub mod policy;
pub mod runs;
pub mod settings;
#[cfg(feature = "ssr")]
pub mod tokens;
pub mod users;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Paths anyone may open without signing in. Every other route of [`App`] needs a session;
/// the server checks this before rendering (see `server/src/http/gate.rs`).
pub const PUBLIC_PATHS: &[&str] = &["/login"];

const ASYNC: SsrMode = SsrMode::Async;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page once the WASM has taken over, so tests (and people) can tell.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="fluxgate" href="/pkg/fluxgate.css"/>
        <Link rel="icon" href="/favicon.ico"/>
        <Meta name="color-scheme" content="light dark"/>
        <Title formatter=|text: String| format!("{text} · fluxgate")/>
        // Every page renders whole before its answer starts (`SsrMode::Async`): a missing
        // change or run answers 404, known only once loaded, and a render that stalls (a
        // Leptos fault, see server/src/http/render_deadline.rs) can be run again.
        <Router>
            <Routes fallback=pages::NotFound>
                <Route path=path!("/login") view=auth::LoginPage ssr=ASYNC/>
                <ParentRoute path=path!("") view=layout::Shell>
                    <Route path=path!("") view=environments::EnvironmentsPage ssr=ASYNC/>
                    <Route path=path!("changes") view=changes::page::ChangesPage ssr=ASYNC/>
                    <Route path=path!("changes/:id") view=changes::detail_page::ChangePage ssr=ASYNC/>
                    <Route path=path!("runs") view=runs::RunsPage ssr=ASYNC/>
                    <Route path=path!("runs/:id") view=runs::RunPage ssr=ASYNC/>
                    <Route path=path!("apps") view=apps::AppsPage ssr=ASYNC/>
                    <Route path=path!("apps/:name") view=apps::AppPage ssr=ASYNC/>
                    <Route path=path!("apps/:name/commits/:sha") view=apps::CommitPage ssr=ASYNC/>
                    <Route path=path!("audit") view=audit::AuditPage ssr=ASYNC/>
                    <Route path=path!("settings") view=settings::SettingsPage ssr=ASYNC/>
                    <Route path=path!("account") view=account::AccountPage ssr=ASYNC/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Entry point of the WASM build: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
