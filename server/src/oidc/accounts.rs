//! A provider identity becomes a fluxgate user: created at the first sign-in, brought up to
//! date at each one after.
//!
//! The provider's groups replace the groups it gave last time (memberships given in
//! fluxgate stay), and the role follows the role mapping, viewer when no group maps: a
//! person removed from `security` at the provider is out of `security` here from their
//! next sign-in, and since reviews are judged by the reviewer's groups now, an approval
//! they gave as a member stops counting at merge time.

use super::{Identity, OidcSettings, SignInError};
use app::auth::ssr::load_user;
use app::auth::SignedInUser;
use fluxgate_core::db::{new_id, now_text, Db};
use sqlx::Row;

/// What changed for the user at this sign-in (for the audit entry).
#[derive(Debug, Default, serde::Serialize)]
pub struct Changes {
    pub created: bool,
    pub groups_added: Vec<String>,
    pub groups_removed: Vec<String>,
    pub role_before: Option<String>,
}

/// Creates or updates the user of `identity`; refuses a name that a local account or
/// another provider subject already holds, and a user disabled in fluxgate.
pub async fn sign_in(
    db: &Db,
    settings: &OidcSettings,
    identity: &Identity,
) -> Result<(SignedInUser, Changes), SignInError> {
    let database = |e: sqlx::Error| SignInError::Database(e.to_string());
    let role = settings.role_for(&identity.groups);
    let mut changes = Changes::default();
    let mut tx = db.pool.begin().await.map_err(database)?;
    // A write first: SQLite then takes its write lock now (waiting out other writers),
    // where a read first would fail to upgrade if the runner wrote in between.
    sqlx::query("UPDATE users SET role = role WHERE external_id = $1")
        .bind(identity.external_id())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    let known = sqlx::query("SELECT id, name, role, disabled FROM users WHERE external_id = $1")
        .bind(identity.external_id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(database)?;
    let id = match known {
        Some(row) => {
            let id: String = row.try_get("id").map_err(database)?;
            if row.try_get::<i64, _>("disabled").map_err(database)? != 0 {
                return Err(SignInError::Account(format!(
                    "the fluxgate account of {} is disabled; an administrator can enable it",
                    identity.name
                )));
            }
            let old_role: String = row.try_get("role").map_err(database)?;
            if old_role != role.as_str() {
                changes.role_before = Some(old_role);
            }
            let name: String = row.try_get("name").map_err(database)?;
            if name != identity.name {
                // Renamed at the provider: follow, unless the new name is taken.
                name_free(&mut tx, &identity.name).await?;
            }
            sqlx::query(
                "UPDATE users SET name = $1, role = $2, email = COALESCE($3, email) WHERE id = $4",
            )
            .bind(&identity.name)
            .bind(role.as_str())
            .bind(&identity.email)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
            id
        }
        None => {
            name_free(&mut tx, &identity.name).await?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO users (id, name, password_hash, role, created_at, email, external_id)
                 VALUES ($1, $2, '!', $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(&identity.name)
            .bind(role.as_str())
            .bind(now_text())
            .bind(&identity.email)
            .bind(identity.external_id())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                match e.as_database_error().map(|d| d.is_unique_violation()) {
                    // Two first sign-ins of one name at once: the other won.
                    Some(true) => taken(&identity.name),
                    _ => database(e),
                }
            })?;
            changes.created = true;
            id
        }
    };
    let before: Vec<(String,)> = sqlx::query_as(
        "SELECT group_name FROM group_members WHERE user_id = $1 AND source = 'provider' ORDER BY group_name",
    )
    .bind(&id)
    .fetch_all(&mut *tx)
    .await
    .map_err(database)?;
    let before: Vec<String> = before.into_iter().map(|(g,)| g).collect();
    sqlx::query("DELETE FROM group_members WHERE user_id = $1 AND source = 'provider'")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    for group in &identity.groups {
        // A membership given in fluxgate for the same group stays as it is.
        sqlx::query(
            "INSERT INTO group_members (group_name, user_id, source) VALUES ($1, $2, 'provider')
             ON CONFLICT (group_name, user_id) DO NOTHING",
        )
        .bind(group)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    }
    changes.groups_added = identity
        .groups
        .iter()
        .filter(|g| !before.contains(g))
        .cloned()
        .collect();
    changes.groups_removed = before
        .into_iter()
        .filter(|g| !identity.groups.contains(g))
        .collect();
    tx.commit().await.map_err(database)?;
    let user = load_user(db, &id)
        .await
        .map_err(database)?
        .ok_or_else(|| SignInError::Database("the user just written is gone".into()))?;
    Ok((user, changes))
}

async fn name_free(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
) -> Result<(), SignInError> {
    let holder: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| SignInError::Database(e.to_string()))?;
    match holder {
        Some(_) => Err(taken(name)),
        None => Ok(()),
    }
}

fn taken(name: &str) -> SignInError {
    SignInError::Account(format!(
        "the user name {name:?} belongs to another fluxgate account (a local one, or another person at the provider); an administrator must rename one of them"
    ))
}
