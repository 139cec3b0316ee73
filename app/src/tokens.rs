//! API tokens for tools (the CLI, webhooks, scripts, Flux): `Authorization: Bearer <token>`
//! (server only: made with `fluxgate token`, or by users for themselves on their Account page).
//!
//! A token is 32 random bytes shown once at creation; only its SHA-256 is stored, so the
//! database never holds a usable token. A token acts as its user, with the user's role
//! and groups, narrowed by its scopes, and stops working when the user is disabled, when
//! it expires, or when it is revoked.
//!
//! Scopes: `read` (the API's GET routes), `review` (approve, reject), `merge`, and
//! `git-read:<environment>` (that environment's branch over `/git/gitops.git`, and no
//! other ref). The token Flux keeps in a cluster needs only `git-read:<env>`: it can then
//! neither approve nor merge, nor see other environments or proposals.

use crate::auth::SignedInUser;
use anyhow::{bail, Context, Result};
use fluxgate_core::db::{new_id, now_text, Db};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

const PREFIX: &str = "fgt_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Scope {
    Read,
    Review,
    Merge,
    /// Reading one environment's branch over git.
    GitRead(String),
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope> {
        Ok(match text {
            "read" => Scope::Read,
            "review" => Scope::Review,
            "merge" => Scope::Merge,
            _ => match text.strip_prefix("git-read:") {
                Some(env)
                    if !env.is_empty()
                        && env
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Scope::GitRead(env.to_string())
                }
                _ => bail!(
                    "unknown scope {text:?}: use read, review, merge or git-read:<environment>"
                ),
            },
        })
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Read => f.write_str("read"),
            Scope::Review => f.write_str("review"),
            Scope::Merge => f.write_str("merge"),
            Scope::GitRead(env) => write!(f, "git-read:{env}"),
        }
    }
}

/// What tokens made without `--scope` get (and what tokens older than scopes have).
pub fn default_scopes() -> Vec<Scope> {
    vec![Scope::Read, Scope::Review, Scope::Merge]
}

fn parse_list(text: &str) -> Vec<Scope> {
    // Unparseable entries grant nothing: stored scopes fail closed.
    text.split(',')
        .filter_map(|s| Scope::parse(s.trim()).ok())
        .collect()
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A token's user and what the token may do.
#[derive(Clone, Debug)]
pub struct TokenUser {
    pub user: SignedInUser,
    pub scopes: Vec<Scope>,
}

impl TokenUser {
    pub fn allows(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// Environments whose branches the token may read over git.
    pub fn git_environments(&self) -> Vec<&str> {
        self.scopes
            .iter()
            .filter_map(|s| match s {
                Scope::GitRead(env) => Some(env.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Creates a token for the user `user_name` with the default scopes and no expiry.
pub async fn create(db: &Db, user_name: &str, label: &str) -> Result<String> {
    create_with(db, user_name, label, &default_scopes(), None).await
}

/// Creates a token; `expires_at` is an RFC 3339 time. Returns the token text (shown once).
pub async fn create_with(
    db: &Db,
    user_name: &str,
    label: &str,
    scopes: &[Scope],
    expires_at: Option<&str>,
) -> Result<String> {
    let row = sqlx::query("SELECT id FROM users WHERE name = $1 AND disabled = 0")
        .bind(user_name)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else {
        bail!("no active user named {user_name}");
    };
    if scopes.is_empty() {
        bail!("a token needs at least one scope");
    }
    for scope in scopes {
        if let Scope::GitRead(env) = scope {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT id FROM environments WHERE name = $1")
                    .bind(env)
                    .fetch_optional(&db.pool)
                    .await?;
            if found.is_none() {
                bail!("scope {scope}: there is no environment named {env}");
            }
        }
    }
    let user_id: String = row.try_get("id")?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("the OS random source failed")?;
    let token = format!("{PREFIX}{}", hex::encode(bytes));
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(&user_id)
    .bind(label)
    .bind(hash(&token))
    .bind(now_text())
    .bind(join(scopes))
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The user a token belongs to and its scopes, or None for an unknown, expired or revoked
/// token or a disabled user.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<TokenUser>> {
    if !token.starts_with(PREFIX) || token.len() != PREFIX.len() + 64 {
        return Ok(None);
    }
    let now = now_text();
    // Looked up by hash: equal hashes mean equal tokens, and the lookup time says nothing
    // about how much of a guess was right. RFC 3339 UTC times of one format compare as text.
    let row = sqlx::query(
        "SELECT id, user_id, scopes FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(hash(token))
    .bind(&now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (id, user_id): (String, String) = (row.try_get("id")?, row.try_get("user_id")?);
    let scopes = parse_list(&row.try_get::<String, _>("scopes")?);
    let Some(user) = crate::auth::ssr::load_user(db, &user_id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(&id)
        .execute(&db.pool)
        .await?;
    Ok(Some(TokenUser { user, scopes }))
}

/// One token as listed (never its value).
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub name: String,
    pub scopes: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Tokens, newest first; of one user when `user` is given.
pub async fn list(db: &Db, user: Option<&str>) -> Result<Vec<TokenInfo>> {
    let rows = sqlx::query(
        "SELECT t.id, u.name AS user_name, t.name, t.scopes, t.created_at, t.expires_at,
                t.last_used_at, t.revoked_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE $1 = '' OR u.name = $1 ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(user.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.try_get("id")?,
                user: r.try_get("user_name")?,
                name: r.try_get("name")?,
                scopes: r.try_get("scopes")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Revokes a token of `user` by id (what a user may do to their own tokens); false when
/// that user has no such live token.
pub async fn revoke_own(db: &Db, user: &str, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1
         WHERE id = $2 AND revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE name = $3)",
    )
    .bind(now_text())
    .bind(id)
    .bind(user)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes a token by id; false when there is no such token that is still live.
pub async fn revoke(db: &Db, id: &str) -> Result<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_text())
            .bind(id)
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// `90d`, `12h`, `30m` from now, as an RFC 3339 time.
pub fn expiry_from_now(text: &str) -> Result<String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .with_context(|| format!("--expires {text:?}: write e.g. 90d, 12h or 30m"))?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        _ => None,
    }
    .filter(|&s| s <= 10 * 365 * 86_400)
    .with_context(|| {
        format!("--expires {text:?}: write e.g. 90d, 12h or 30m (at most 10 years)")
    })?;
    let at = time::OffsetDateTime::now_utc().replace_nanosecond(0)? + time::Duration::seconds(secs);
    Ok(at.format(&time::format_description::well_known::Rfc3339)?)
}
