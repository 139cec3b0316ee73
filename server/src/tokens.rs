//! API tokens for tools (the CLI, webhooks, scripts): `Authorization: Bearer <token>`.
//!
//! A token is 32 random bytes shown once at creation; only its SHA-256 is stored, so the
//! database never holds a usable token. A token acts as its user, with the user's role
//! and groups, and stops working when the user is disabled.

use anyhow::{bail, Context, Result};
use app::auth::SignedInUser;
use app::db::{new_id, now_text, Db};
use sha2::{Digest, Sha256};
use sqlx::Row;

const PREFIX: &str = "fgt_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token for the user `user_name`; returns the token text (shown once).
pub async fn create(db: &Db, user_name: &str, label: &str) -> Result<String> {
    let row = sqlx::query("SELECT id FROM users WHERE name = $1 AND disabled = 0")
        .bind(user_name)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        bail!("no active user named {user_name}");
    };
    let user_id: String = row.try_get("id")?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("the OS random source failed")?;
    let token = format!("{PREFIX}{}", hex::encode(bytes));
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(&user_id)
    .bind(label)
    .bind(hash(&token))
    .bind(now_text())
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The user a token belongs to, or None for an unknown token or a disabled user.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<SignedInUser>> {
    if !token.starts_with(PREFIX) || token.len() != PREFIX.len() + 64 {
        return Ok(None);
    }
    // Looked up by hash: equal hashes mean equal tokens, and the lookup time says nothing
    // about how much of a guess was right.
    let row = sqlx::query("SELECT id, user_id FROM api_tokens WHERE token_hash = $1")
        .bind(hash(token))
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (id, user_id): (String, String) = (row.try_get("id")?, row.try_get("user_id")?);
    let user = app::auth::ssr::load_user(db, &user_id).await?;
    if user.is_some() {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_text())
            .bind(&id)
            .execute(&db.pool)
            .await?;
    }
    Ok(user)
}
