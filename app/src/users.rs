//! Users and groups, edited by admins in the browser: add a user (with an initial
//! password), change a user's role, groups and e-mail, disable or enable them. Every change
//! is audited (never with the password). An admin cannot disable themselves or take away
//! their own admin role, so a lone admin cannot lock everyone out.

use crate::error::AppError;
use crate::settings::UserRow;
use leptos::prelude::*;

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    require_role(Role::Admin).await?;
    Ok(crate::settings::ssr::load(&crate::auth::ssr::db()?)
        .await
        .map_err(AppError::with_status)?
        .users)
}

/// Adds a user. `groups` is a comma-separated list.
#[server(endpoint = "add_user")]
pub async fn add_user(
    name: String,
    role: String,
    groups: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let admin = require_role(Role::Admin).await?;
    ssr::add(
        &crate::auth::ssr::db()?,
        &admin.name,
        &name,
        &role,
        &groups,
        &email,
        &password,
    )
    .await
    .map_err(AppError::with_status)
}

/// Changes a user's role, groups, e-mail and whether they may sign in.
#[server(endpoint = "update_user")]
pub async fn update_user(
    name: String,
    role: String,
    groups: String,
    email: String,
    disabled: bool,
) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let admin = require_role(Role::Admin).await?;
    ssr::update(
        &crate::auth::ssr::db()?,
        &admin.name,
        &name,
        &role,
        &groups,
        &email,
        disabled,
    )
    .await
    .map_err(AppError::with_status)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::audit::ssr as audit;
    use crate::auth::ssr::{create_user, valid_user_name, CreateUserError};
    use crate::auth::Role;
    use crate::error::AppError;
    use fluxgate_core::db::Db;

    fn parse(
        role: &str,
        groups: &str,
        email: &str,
    ) -> Result<(Role, Vec<String>, String), AppError> {
        let role: Role = role.parse().map_err(|_| {
            AppError::Invalid(format!(
                "unknown role {role:?}: viewer, developer, approver or admin"
            ))
        })?;
        let mut list = Vec::new();
        for g in groups.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if !valid_user_name(g) {
                return Err(AppError::Invalid(format!(
                    "group {g:?}: use letters, digits, '.', '_' or '-'"
                )));
            }
            if !list.iter().any(|x| x == g) {
                list.push(g.to_string());
            }
        }
        let email = email.trim().to_string();
        if !email.is_empty()
            && (!email.contains('@') || email.len() > 254 || email.contains(char::is_whitespace))
        {
            return Err(AppError::Invalid(format!(
                "{email:?} is not an e-mail address"
            )));
        }
        Ok((role, list, email))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn add(
        db: &Db,
        admin: &str,
        name: &str,
        role: &str,
        groups: &str,
        email: &str,
        password: &str,
    ) -> Result<(), AppError> {
        let (role, groups, email) = parse(role, groups, email)?;
        if password.chars().count() < 8 {
            return Err(AppError::Invalid(
                "the password needs at least 8 characters".into(),
            ));
        }
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        create_user(db, name, password, role, &refs)
            .await
            .map_err(|e| match e {
                CreateUserError::Database(e) => AppError::from(e),
                other => AppError::Invalid(other.to_string()),
            })?;
        if !email.is_empty() {
            crate::auth::ssr::set_email(db, name, &email).await?;
        }
        audit::append(
            db,
            admin,
            "user.add",
            &format!("user:{name}"),
            serde_json::json!({ "role": role.as_str(), "groups": groups, "email": email }),
        )
        .await?;
        Ok(())
    }

    pub async fn update(
        db: &Db,
        admin: &str,
        name: &str,
        role: &str,
        groups: &str,
        email: &str,
        disabled: bool,
    ) -> Result<(), AppError> {
        let (role, groups, email) = parse(role, groups, email)?;
        if name == admin && (disabled || role != Role::Admin) {
            return Err(AppError::Invalid(
                "you cannot disable yourself or take away your own admin role".into(),
            ));
        }
        let mut tx = db.pool.begin().await?;
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((id,)) = row else {
            return Err(AppError::NotFound(format!("user {name}")));
        };
        sqlx::query("UPDATE users SET role = $1, email = $2, disabled = $3 WHERE id = $4")
            .bind(role.as_str())
            .bind(Some(email.clone()).filter(|e| !e.is_empty()))
            .bind(disabled as i64)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        // Memberships the identity provider gave stay the provider's: saved here they
        // would turn local and outlive the person's removal from the group there.
        sqlx::query("DELETE FROM group_members WHERE user_id = $1 AND source = 'local'")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        for g in &groups {
            sqlx::query(
                "INSERT INTO group_members (group_name, user_id) VALUES ($1, $2)
                 ON CONFLICT (group_name, user_id) DO NOTHING",
            )
            .bind(g)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        audit::append(
            db,
            admin,
            "user.update",
            &format!("user:{name}"),
            serde_json::json!({ "role": role.as_str(), "groups": groups, "email": email, "disabled": disabled }),
        )
        .await?;
        Ok(())
    }
}

/// The Users card of the Settings page.
#[component]
pub fn UsersCard() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let users = Resource::new(move || add.version().get(), |_| list_users());
    let field = || RwSignal::new(String::new());
    let (name, groups, email, password) = (field(), field(), field(), field());
    let role = RwSignal::new("viewer".to_string());
    // The form empties only when the user was added; a refusal keeps every field but the
    // password, for the admin to correct.
    Effect::new(move |_| {
        if matches!(add.value().get(), Some(Ok(()))) {
            for f in [name, groups, email] {
                f.set(String::new());
            }
            role.set("viewer".into());
        }
    });
    let input = |label: &'static str, kind: &'static str, value: RwSignal<String>| {
        view! {
            <label>{label}
                <input type=kind prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <section class="card" data-testid="users">
            <h2>"Users"</h2>
            <p class="muted">"Roles: viewer < developer < approver < admin. Groups (comma-separated) are what policies name as group:NAME. A disabled user loses access at their next request."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                        Ok(list) => view! {
                            <table class="table users">
                                <thead><tr><th>"Name"</th><th>"Role"</th><th>"Groups"</th><th>"E-mail"</th><th>"Disabled"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|u| view! { <UserRowEdit u/> }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <h3>"Add a user"</h3>
            <div class="user-form">
                {input("Name", "text", name)}
                <label>"Role"
                    <select on:change=move |ev| role.set(event_target_value(&ev))>
                        {["viewer", "developer", "approver", "admin"].map(|r| view! { <option value=r selected=move || role.get() == r>{r}</option> })}
                    </select>
                </label>
                {input("Groups", "text", groups)}
                {input("E-mail", "email", email)}
                {input("Initial password", "password", password)}
                <button data-testid="add-user" disabled=move || add.pending().get() on:click=move |_| {
                    add.dispatch(AddUser {
                        name: name.get_untracked(),
                        role: role.get_untracked(),
                        groups: groups.get_untracked(),
                        email: email.get_untracked(),
                        password: password.get_untracked(),
                    });
                    password.set(String::new());
                }>"Add user"</button>
            </div>
            // One answer, the latest: added, or why not.
            {move || add.value().get().map(|r| match r {
                Ok(()) => view! { <p class="ok" role="status">"User added."</p> }.into_any(),
                Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
            })}
        </section>
    }
}

/// One user's row: its own request and answer, so that saving one row says so on that row.
#[component]
fn UserRowEdit(u: UserRow) -> impl IntoView {
    let update = ServerAction::<UpdateUser>::new();
    let (role, set_role) = signal(u.role.clone());
    let (groups, set_groups) = signal(u.groups.join(", "));
    let (email, set_email) = signal(u.email.clone().unwrap_or_default());
    let (disabled, set_disabled) = signal(u.disabled);
    // What the row shows as saved: the server's answer moves it, not the checkbox.
    let saved_disabled = RwSignal::new(u.disabled);
    Effect::new(move |_| {
        if matches!(update.value().get(), Some(Ok(()))) {
            saved_disabled.set(disabled.get_untracked());
        }
    });
    let name = u.name.clone();
    view! {
        <tr data-user=u.name.clone() class:disabled=move || saved_disabled.get()>
            <td>{u.name.clone()}
                <Show when=move || saved_disabled.get()>" "<span class="badge state-failed">"disabled"</span></Show>
            </td>
            <td>
                <select aria-label=format!("role of {}", u.name) on:change=move |ev| set_role.set(event_target_value(&ev))>
                    {["viewer", "developer", "approver", "admin"].map(|r| view! { <option value=r selected=move || role.get() == r>{r}</option> })}
                </select>
            </td>
            <td><input aria-label=format!("groups of {}", u.name) prop:value=move || groups.get() on:input=move |ev| set_groups.set(event_target_value(&ev))/></td>
            <td><input aria-label=format!("e-mail of {}", u.name) prop:value=move || email.get() on:input=move |ev| set_email.set(event_target_value(&ev))/></td>
            <td><input type="checkbox" aria-label=format!("{} disabled", u.name) prop:checked=move || disabled.get() on:change=move |ev| set_disabled.set(event_target_checked(&ev))/></td>
            <td>
                <button disabled=move || update.pending().get() on:click=move |_| {
                    update.dispatch(UpdateUser {
                        name: name.clone(),
                        role: role.get_untracked(),
                        groups: groups.get_untracked(),
                        email: email.get_untracked(),
                        disabled: disabled.get_untracked(),
                    });
                }>"Save"</button>
                {move || update.value().get().map(|r| match r {
                    Ok(()) => view! { <span class="ok" role="status">"Saved."</span> }.into_any(),
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                })}
            </td>
        </tr>
    }
}
