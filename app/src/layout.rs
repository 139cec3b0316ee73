//! The frame around every signed-in page: brand, navigation, the user menu.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::auth::{current_user, Role};

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
            <main class="content">
                <Outlet/>
            </main>
        </div>
    }
}
