//! The frame around every signed-in page: brand, navigation, the user menu, a banner while
//! the line is stopped, and the tab's live stream (`crate::live`) the pages below follow.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::auth::{current_user, Role};
use crate::error::AppError;

/// Why the line is stopped (merges are off everywhere), or nothing; every signed-in page
/// shows it in its frame.
#[server(endpoint = "line_stopped")]
pub async fn line_stopped() -> Result<Option<String>, AppError> {
    use crate::auth::ssr::{db, require_role};
    require_role(Role::Viewer).await?;
    crate::changes::review::stop_the_line(&db()?).await
}

/// Navigation entries: (path, label, minimum role).
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Environments", Role::Viewer),
    ("/changes", "Changes", Role::Viewer),
    ("/runs", "Runs", Role::Viewer),
    ("/apps", "Apps", Role::Viewer),
    ("/audit", "Audit", Role::Viewer),
    ("/settings", "Settings", Role::Admin),
    ("/account", "Account", Role::Viewer),
];

#[component]
pub fn Shell() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    crate::live::provide();
    let settings = crate::live::version(|topic| topic == "settings");
    let stopped = Resource::new(move || settings.get(), |_| line_stopped());
    view! {
        <div class="shell">
            <header class="topbar">
                <A href="/" attr:class="brand">"fluxgate"</A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        let user = user.await.ok().flatten();
                        let role = user.as_ref().map(|u| u.role).unwrap_or(Role::Viewer);
                        view! {
                            <nav aria-label="main">
                                {NAV
                                    .iter()
                                    .filter(|(_, _, needed)| role.allows(*needed))
                                    .map(|(href, label, _)| view! { <A href=*href exact=true>{*label}</A> })
                                    .collect_view()}
                            </nav>
                            <div class="user-menu">
                                {user
                                    .map(|u| {
                                        view! {
                                            <span class="user" title=u.groups.join(", ")>
                                                {u.name} <span class="badge">{u.role.as_str()}</span>
                                            </span>
                                            <form method="post" action="/logout">
                                                <button type="submit" class="link-button">"Sign out"</button>
                                            </form>
                                        }
                                    })}
                            </div>
                        }
                    })}
                </Transition>
            </header>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    stopped.await.ok().flatten().map(|why| view! {
                        <div class="line-stopped" role="alert" data-testid="line-stopped">
                            <strong>"The line is stopped: no change can be merged. "</strong>{why}
                        </div>
                    })
                })}
            </Transition>
            <main class="content">
                <Outlet/>
            </main>
        </div>
    }
}
