//! The signed-in user's own settings, for every role: their password, the SSH keys they
//! sign commits with, and their API tokens (made, listed and revoked here; a token's value is shown once).
//! Admins' settings for everyone are on the Settings page.

use crate::error::AppError;
use crate::keys::SigningKeysCard;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One of the user's tokens as listed (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyToken {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// "live", "expired" or "revoked".
    pub state: String,
}

#[server(endpoint = "my_tokens")]
pub async fn my_tokens() -> Result<Vec<MyToken>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    let now = fluxgate_core::db::now_text();
    let list = crate::tokens::list(&crate::auth::ssr::db()?, Some(&user.name))
        .await
        .map_err(|e| AppError::internal(e).with_status())?;
    Ok(list
        .into_iter()
        .map(|t| MyToken {
            state: match (&t.revoked_at, &t.expires_at) {
                (Some(_), _) => "revoked".into(),
                (None, Some(exp)) if *exp <= now => "expired".into(),
                _ => "live".into(),
            },
            id: t.id,
            name: t.name,
            scopes: t.scopes,
            created_at: t.created_at,
            expires_at: t.expires_at,
        })
        .collect())
}

/// Makes a token for the signed-in user; returns its value (shown once). `scopes` is a
/// comma-separated list; `expires` a lifetime like 90d (tokens made here always expire).
#[server(endpoint = "create_my_token")]
pub async fn create_my_token(
    name: String,
    scopes: String,
    expires: String,
) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    use crate::tokens::{self, Scope};
    let user = require_role(Role::Viewer).await?;
    let invalid = |e: anyhow::Error| AppError::Invalid(e.to_string()).with_status();
    let scopes = scopes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Scope::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let expires_at = tokens::expiry_from_now(expires.trim()).map_err(invalid)?;
    let name = name.trim();
    let name = if name.is_empty() { "browser" } else { name };
    let db = crate::auth::ssr::db()?;
    let token = tokens::create_with(&db, &user.name, name, &scopes, Some(&expires_at))
        .await
        .map_err(invalid)?;
    let scopes: Vec<String> = scopes.iter().map(Scope::to_string).collect();
    crate::audit::ssr::append(
        &db,
        &user.name,
        "token.create",
        &format!("user:{}", user.name),
        serde_json::json!({ "name": name, "scopes": scopes, "expires": expires_at }),
    )
    .await
    .map_err(AppError::with_status)?;
    Ok(token)
}

#[server(endpoint = "revoke_my_token")]
pub async fn revoke_my_token(id: String) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    let db = crate::auth::ssr::db()?;
    let revoked = crate::tokens::revoke_own(&db, &user.name, &id)
        .await
        .map_err(|e| AppError::internal(e).with_status())?;
    if !revoked {
        return Err(AppError::NotFound("a live token of yours with that id".into()).with_status());
    }
    crate::audit::ssr::append(
        &db,
        &user.name,
        "token.revoke",
        &format!("user:{}", user.name),
        serde_json::json!({ "id": id }),
    )
    .await
    .map_err(AppError::with_status)?;
    Ok(())
}

#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <leptos_meta::Title text="Account"/>
        <h1>"Account"</h1>
        <WhoCard/>
        <SigningKeysCard/>
        <TokensCard/>
    }
}

/// Who the user is to fluxgate: name, role, groups, and where they come from. A provider
/// user has no fluxgate password, so the password card is left out for them.
#[component]
fn WhoCard() -> impl IntoView {
    let me = Resource::new(|| (), |_| crate::auth::current_user());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                me.map(|me| {
                    let provider = me.from_provider;
                    let groups = if me.groups.is_empty() { "none".to_string() } else { me.groups.join(", ") };
                    view! {
                        <section class="card" data-testid="who">
                            <h2>"You"</h2>
                            <p>{me.name} " · role " <span class="badge">{me.role.as_str()}</span></p>
                            <p>"Groups: " {groups}</p>
                            {provider.then(|| view! {
                                <p class="muted">"You sign in through the organisation's identity provider: your role and groups come from it at each sign-in, and your password is kept there."</p>
                            })}
                        </section>
                        {(!provider).then(|| view! { <PasswordCard/> })}
                    }
                })
            })}
        </Suspense>
    }
}

/// A plain form post (to `/account/password`, handled beside sign-in so that it shares its
/// throttling): it works before hydration, and the answer comes back as `?password=…`.
#[component]
fn PasswordCard() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let outcome = move || {
        query.with(|q| match q.get("password").as_deref() {
            Some("changed") => Some(("ok", "Password changed. Your other sessions have ended.")),
            Some("wrong") => Some(("error", "The current password is wrong.")),
            Some("mismatch") => Some(("error", "The two new passwords differ.")),
            Some("empty") => Some(("error", "The new password must not be empty.")),
            _ => None,
        })
    };
    view! {
        <section class="card" data-testid="password">
            <h2>"Your password"</h2>
            {move || outcome().map(|(class, text)| view! { <p class=class role="status">{text}</p> })}
            <form method="post" action="/account/password">
                <label>"Current password"
                    <input name="current" type="password" autocomplete="current-password" required/>
                </label>
                <label>"New password"
                    <input name="new" type="password" autocomplete="new-password" required/>
                </label>
                <label>"New password again"
                    <input name="repeat" type="password" autocomplete="new-password" required/>
                </label>
                <button type="submit">"Change password"</button>
            </form>
            <p class="muted">"Changing it signs you out everywhere else."</p>
        </section>
    }
}

#[component]
fn TokensCard() -> impl IntoView {
    let create = ServerAction::<CreateMyToken>::new();
    let revoke = ServerAction::<RevokeMyToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| my_tokens(),
    );
    let (name, set_name) = signal(String::new());
    let (scopes, set_scopes) = signal("read".to_string());
    let (expires, set_expires) = signal("90d".to_string());
    view! {
        <section class="card" data-testid="tokens">
            <h2>"Your API tokens"</h2>
            <p class="muted">
                "A token acts as you, narrowed to its scopes: read (the API), review (approve, reject), merge, git-read:ENV (that environment's branch over /git/gitops.git, e.g. for Flux). "
                "Its value is shown once; only a hash is kept."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table">
                                <thead><tr><th>"Name"</th><th>"Scopes"</th><th>"Made"</th><th>"Expires"</th><th>"State"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|t| {
                                    let id = t.id.clone();
                                    let live = t.state == "live";
                                    view! {
                                        <tr>
                                            <td>{t.name}</td>
                                            <td>{t.scopes}</td>
                                            <td>{t.created_at}</td>
                                            <td>{t.expires_at.unwrap_or_else(|| "never".into())}</td>
                                            <td>{t.state}</td>
                                            <td>{live.then(|| view! {
                                                <button class="link-button" on:click=move |_| {
                                                    revoke.dispatch(RevokeMyToken { id: id.clone() });
                                                }>"Revoke"</button>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <div class="user-form">
                <input aria-label="token name" placeholder="name" prop:value=move || name.get() on:input=move |ev| set_name.set(event_target_value(&ev))/>
                <input aria-label="token scopes" placeholder="read,review" prop:value=move || scopes.get() on:input=move |ev| set_scopes.set(event_target_value(&ev))/>
                <input aria-label="token lifetime" placeholder="90d" size="6" prop:value=move || expires.get() on:input=move |ev| set_expires.set(event_target_value(&ev))/>
                <button data-testid="create-token" on:click=move |_| {
                    create.dispatch(CreateMyToken {
                        name: name.get_untracked(),
                        scopes: scopes.get_untracked(),
                        expires: expires.get_untracked(),
                    });
                }>"Make token"</button>
            </div>
            {move || create.value().get().map(|r| match r {
                Ok(token) => view! {
                    <p class="ok" role="status">"Copy it now, it is not shown again: " <code data-testid="new-token">{token}</code></p>
                }.into_any(),
                Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
            })}
            {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <crate::error::ErrorNote e/> })}
        </section>
    }
}
