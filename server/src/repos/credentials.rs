//! Credentials for network remotes of application repositories: a user name with a
//! password or token (https), or a private key (ssh). Stored per app in the database
//! (`fluxgate app set-credentials`), handed to libgit2 only when the server asks for them,
//! and never printed: [`Credentials`]' Debug hides the secrets, and fetch errors name the
//! repository without them.

use anyhow::{bail, Context, Result};
use app::db::{now_text, Db};
use git2::{Cred, CredentialType, RemoteCallbacks};
use sqlx::Row;

#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub ssh_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "(hidden)"
                },
            )
            .field(
                "ssh_key",
                &if self.ssh_key.is_empty() {
                    ""
                } else {
                    "(hidden)"
                },
            )
            .finish()
    }
}

pub async fn get(db: &Db, app_id: &str) -> Result<Option<Credentials>> {
    let row =
        sqlx::query("SELECT username, password, ssh_key FROM app_credentials WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| {
        Ok(Credentials {
            username: r.try_get("username")?,
            password: r.try_get("password")?,
            ssh_key: r.try_get("ssh_key")?,
        })
    })
    .transpose()
}

pub async fn put(db: &Db, app_id: &str, c: &Credentials) -> Result<()> {
    if c.password.is_empty() == c.ssh_key.is_empty() {
        bail!("give either a password (or token) or an ssh key");
    }
    if !c.ssh_key.is_empty() && !c.ssh_key.contains("PRIVATE KEY") {
        bail!("the ssh key file does not hold a PEM or OpenSSH private key");
    }
    sqlx::query(
        "INSERT INTO app_credentials (app_id, username, password, ssh_key, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (app_id) DO UPDATE SET username = $2, password = $3, ssh_key = $4, updated_at = $5",
    )
    .bind(app_id)
    .bind(&c.username)
    .bind(&c.password)
    .bind(&c.ssh_key)
    .bind(now_text())
    .execute(&db.pool)
    .await
    .context("storing the credentials")?;
    Ok(())
}

/// Callbacks that answer libgit2's credential requests once each (a second request for
/// the same kind means the server refused them: failing beats looping).
pub fn callbacks(creds: Option<&Credentials>) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let mut asked = 0;
    callbacks.credentials(move |_url, url_user, allowed| {
        asked += 1;
        let Some(c) = creds else {
            return Err(git2::Error::from_str(
                "the repository asks for credentials: set them with `fluxgate app set-credentials`",
            ));
        };
        if asked > 2 {
            return Err(git2::Error::from_str(
                "the repository refused the stored credentials",
            ));
        }
        let user = if c.username.is_empty() {
            url_user.unwrap_or("git")
        } else {
            c.username.as_str()
        };
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) && !c.ssh_key.is_empty() {
            return Cred::ssh_key_from_memory(user, None, &c.ssh_key, None);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) && !c.password.is_empty() {
            return Cred::userpass_plaintext(user, &c.password);
        }
        Err(git2::Error::from_str(
            "the stored credentials do not fit what the repository asks for (https needs a password or token, ssh a key)",
        ))
    });
    callbacks
}
