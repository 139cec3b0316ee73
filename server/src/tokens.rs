//! `fluxgate token create | list | revoke`; the tokens themselves are `app::tokens` (the
//! Account page makes and revokes them too).

pub use app::tokens::*;

use anyhow::{bail, Result};
use fluxgate_core::db::{now_text, Db};

/// `fluxgate token create | list | revoke`.
pub async fn cli(db: &Db, command: &crate::cli::TokenCommand) -> Result<()> {
    use crate::cli::TokenCommand;
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires,
        } => {
            let scopes = if scopes.is_empty() {
                default_scopes()
            } else {
                scopes
                    .iter()
                    .map(|s| Scope::parse(s))
                    .collect::<Result<_>>()?
            };
            let expires_at = expires.as_deref().map(expiry_from_now).transpose()?;
            let token = create_with(db, user, name, &scopes, expires_at.as_deref()).await?;
            println!("{token}");
        }
        TokenCommand::List { user } => {
            println!(
                "{:<38} {:<14} {:<20} {:<28} {:<22} STATE",
                "ID", "USER", "NAME", "SCOPES", "EXPIRES"
            );
            for t in list(db, user.as_deref()).await? {
                let state = match (&t.revoked_at, &t.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(exp)) if *exp <= now_text() => "expired".to_string(),
                    _ => t
                        .last_used_at
                        .as_ref()
                        .map_or("never used".to_string(), |at| format!("last used {at}")),
                };
                println!(
                    "{:<38} {:<14} {:<20} {:<28} {:<22} {state}",
                    t.id,
                    t.user,
                    t.name,
                    t.scopes,
                    t.expires_at.as_deref().unwrap_or("never")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !revoke(db, id).await? {
                bail!("no live token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}
