//! Credentials for network remotes of application repositories, stored per app in the
//! database (`fluxgate app set-credentials`). Fetch errors name the repository without them.

use anyhow::{Context, Result};
use fluxgate_core::db::{now_text, Db};
use sqlx::Row;

pub use app::git::credentials::{callbacks, Credentials};

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
    c.check().map_err(anyhow::Error::msg)?;
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
