//! SSH signing keys: each user registers the public keys they sign their commits with
//! (git's `gpg.format ssh`), on their account page or with `fluxgate user add-key`. A
//! commit whose signature verifies with a registered key is known to be that key's owner's
//! work (see `server/src/cd/signatures.rs`); only public keys are ever stored.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One registered key as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key's algorithm, e.g. `ssh-ed25519`.
    pub algorithm: String,
    pub title: String,
    pub added: String,
}

#[server(endpoint = "my_signing_keys")]
pub async fn my_signing_keys() -> Result<Vec<KeyRow>, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    ssr::list(&crate::auth::ssr::db()?, &user.name)
        .await
        .map_err(AppError::with_status)
}

/// Registers `key` (one line of an OpenSSH `.pub` file) for the signed-in user.
#[server(endpoint = "add_my_signing_key")]
pub async fn add_my_signing_key(key: String, title: String) -> Result<String, AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    ssr::add(
        &crate::auth::ssr::db()?,
        &user.name,
        &user.name,
        &key,
        &title,
    )
    .await
    .map_err(AppError::with_status)
}

#[server(endpoint = "remove_my_signing_key")]
pub async fn remove_my_signing_key(fingerprint: String) -> Result<(), AppError> {
    use crate::auth::{ssr::require_role, Role};
    let user = require_role(Role::Viewer).await?;
    ssr::remove(
        &crate::auth::ssr::db()?,
        &user.name,
        &user.name,
        &fingerprint,
    )
    .await
    .map_err(AppError::with_status)
}

#[component]
pub fn SigningKeysCard() -> impl IntoView {
    let add = ServerAction::<AddMySigningKey>::new();
    let remove = ServerAction::<RemoveMySigningKey>::new();
    let keys = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| my_signing_keys(),
    );
    let (key, set_key) = signal(String::new());
    let (title, set_title) = signal(String::new());
    view! {
        <section class="card" data-testid="signing-keys">
            <h2>"Your SSH signing keys"</h2>
            <p class="muted">
                "Commits you sign with one of these keys (git config gpg.format ssh, user.signingkey, commit.gpgsign true) are known to be yours. "
                "Environments whose policy sets require_signed_commits merge only changes whose every commit is signed by its committer's registered key."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No keys registered."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="table">
                                <thead><tr><th>"Fingerprint"</th><th>"Type"</th><th>"Title"</th><th>"Added"</th><th></th></tr></thead>
                                <tbody>{list.into_iter().map(|k| {
                                    let fingerprint = k.fingerprint.clone();
                                    view! {
                                        <tr>
                                            <td><code>{k.fingerprint.clone()}</code></td>
                                            <td>{k.algorithm}</td>
                                            <td>{k.title}</td>
                                            <td>{k.added}</td>
                                            <td><button class="link-button" on:click=move |_| {
                                                remove.dispatch(RemoveMySigningKey { fingerprint: fingerprint.clone() });
                                            }>"Remove"</button></td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <div class="user-form">
                <input aria-label="public key" placeholder="ssh-ed25519 AAAA… (your .pub file)" size="60" prop:value=move || key.get() on:input=move |ev| set_key.set(event_target_value(&ev))/>
                <input aria-label="key title" placeholder="title" prop:value=move || title.get() on:input=move |ev| set_title.set(event_target_value(&ev))/>
                <button data-testid="add-key" on:click=move |_| {
                    add.dispatch(AddMySigningKey { key: key.get_untracked(), title: title.get_untracked() });
                    set_key.set(String::new());
                }>"Add key"</button>
            </div>
            {move || add.value().get().map(|r| match r {
                Ok(fp) => view! { <p class="ok" role="status">"Added " <code>{fp}</code></p> }.into_any(),
                Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
            })}
            {move || remove.value().get().and_then(|r| r.err()).map(|e| view! { <crate::error::ErrorNote e/> })}
        </section>
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::KeyRow;
    use crate::audit::ssr as audit;
    use crate::error::AppError;
    use fluxgate_core::db::{new_id, now_text, Db};
    use sqlx::Row;
    use ssh_key::PublicKey;
    /// For checking commit signatures (`server/src/cd/signatures.rs`) with the same crate.
    pub use ssh_key::{HashAlg, SshSig};

    /// A public key line longer than this is not one (an RSA 16384-bit key is ~2.8 KB).
    const MAX_KEY_TEXT: usize = 8 * 1024;

    /// A registered key with its owner, for checking signatures.
    pub struct KnownKey {
        pub user: String,
        pub fingerprint: String,
        pub key: PublicKey,
    }

    /// Parses one OpenSSH public key line; returns the key and its fingerprint.
    pub fn parse(text: &str) -> Result<(PublicKey, String), AppError> {
        let text = text.trim();
        if text.len() > MAX_KEY_TEXT {
            return Err(AppError::Invalid(
                "that is too long to be an SSH public key".into(),
            ));
        }
        if text.contains("PRIVATE KEY") {
            return Err(AppError::Invalid(
                "that is a private key: register the public key (the .pub file) and keep the private one to yourself".into(),
            ));
        }
        let key = PublicKey::from_openssh(text).map_err(|e| {
            AppError::Invalid(format!(
                "not an OpenSSH public key ({e}): paste one line of a .pub file, e.g. ssh-ed25519 AAAA…"
            ))
        })?;
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        Ok((key, fingerprint))
    }

    async fn user_id(db: &Db, user: &str) -> Result<String, AppError> {
        sqlx::query("SELECT id FROM users WHERE name = $1")
            .bind(user)
            .fetch_optional(&db.pool)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?
            .ok_or_else(|| AppError::NotFound(format!("user {user}")))
    }

    /// Registers `text` for `user`, as `actor`; returns the fingerprint.
    pub async fn add(
        db: &Db,
        actor: &str,
        user: &str,
        text: &str,
        title: &str,
    ) -> Result<String, AppError> {
        let (key, fingerprint) = parse(text)?;
        let user_id = user_id(db, user).await?;
        let taken = sqlx::query("SELECT 1 AS one FROM signing_keys WHERE fingerprint = $1")
            .bind(&fingerprint)
            .fetch_optional(&db.pool)
            .await?;
        if taken.is_some() {
            return Err(AppError::Invalid(format!(
                "the key {fingerprint} is already registered (a key belongs to one user)"
            )));
        }
        // Stored without its comment: the comment is whatever the key's maker typed.
        let stored = PublicKey::new(key.key_data().clone(), "")
            .to_openssh()
            .map_err(AppError::internal)?;
        let title: String = title.trim().chars().take(100).collect();
        sqlx::query(
            "INSERT INTO signing_keys (id, user_id, fingerprint, public_key, title, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(&user_id)
        .bind(&fingerprint)
        .bind(stored.trim())
        .bind(&title)
        .bind(now_text())
        .execute(&db.pool)
        .await?;
        audit::append(
            db,
            actor,
            "user.key.add",
            &format!("user:{user}"),
            serde_json::json!({ "fingerprint": fingerprint, "title": title }),
        )
        .await?;
        Ok(fingerprint)
    }

    pub async fn remove(
        db: &Db,
        actor: &str,
        user: &str,
        fingerprint: &str,
    ) -> Result<(), AppError> {
        let user_id = user_id(db, user).await?;
        let done = sqlx::query("DELETE FROM signing_keys WHERE user_id = $1 AND fingerprint = $2")
            .bind(&user_id)
            .bind(fingerprint.trim())
            .execute(&db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AppError::NotFound(format!("a key {fingerprint} of {user}")));
        }
        audit::append(
            db,
            actor,
            "user.key.remove",
            &format!("user:{user}"),
            serde_json::json!({ "fingerprint": fingerprint.trim() }),
        )
        .await?;
        Ok(())
    }

    pub async fn list(db: &Db, user: &str) -> Result<Vec<KeyRow>, AppError> {
        let rows = sqlx::query(
            "SELECT k.fingerprint, k.public_key, k.title, k.created_at FROM signing_keys k
             JOIN users u ON u.id = k.user_id WHERE u.name = $1 ORDER BY k.created_at, k.id",
        )
        .bind(user)
        .fetch_all(&db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("public_key")?;
                Ok(KeyRow {
                    fingerprint: r.try_get("fingerprint")?,
                    algorithm: text.split(' ').next().unwrap_or("").to_string(),
                    title: r.try_get("title")?,
                    added: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Every key of a user who may still act (disabled users' keys vouch for nobody).
    pub async fn known(db: &Db) -> Result<Vec<KnownKey>, AppError> {
        let rows = sqlx::query(
            "SELECT u.name, k.fingerprint, k.public_key FROM signing_keys k
             JOIN users u ON u.id = k.user_id WHERE u.disabled = 0",
        )
        .fetch_all(&db.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let text: String = r.try_get("public_key")?;
            // Stored only after parsing; one that no longer parses vouches for nothing.
            if let Ok((key, fingerprint)) = parse(&text) {
                out.push(KnownKey {
                    user: r.try_get("name")?,
                    fingerprint,
                    key,
                });
            }
        }
        Ok(out)
    }
}
